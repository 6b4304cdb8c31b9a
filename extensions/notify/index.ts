// Built-in "notify" extension: a pipeline's notify({ url: secret("hook_url"), on: [...] })
// becomes a subscription here; on each chosen event of its runs this POSTs the event as JSON
// to the URL, signed like Gantry's webhooks (X-Gantry-Signature-256), retrying a failed POST.
import * as v from "valibot";
import { defineExtension, PIPELINE_EVENT_KINDS, signBody, type ExtensionApi, type PipelineEvent, type Subscription } from "gantry";

const TIMEOUT_MS = 10_000;
/** Waits before each retry: a network error, 429 or 5xx is often gone a moment later. */
const RETRY_DELAYS_MS = [1_000, 4_000, 15_000];

const paramsSchema = v.object({
  /** The secret holding the URL (URLs of chat hooks are credentials). */
  url: v.pipe(v.string(), v.minLength(1)),
  /** The secret holding the signing key; absent: the URL's value signs. */
  secret: v.optional(v.pipe(v.string(), v.minLength(1))),
  on: v.pipe(v.array(v.picklist(PIPELINE_EVENT_KINDS, `must be one of ${PIPELINE_EVENT_KINDS.join(", ")}`)), v.minLength(1)),
});

type Params = v.InferOutput<typeof paramsSchema>;
type Api = ExtensionApi<unknown, Params>;

/** Why a POST failed, in words that never hold the URL (a fetch error's message may). */
function failureOf(error: unknown): string {
  const { name, code } = error as { name?: string; code?: string };
  if (name === "TimeoutError") return `no answer within ${TIMEOUT_MS / 1000}s`;
  return `network error (${code ?? name ?? "unknown"})`;
}

const retryable = (status: number) => status === 429 || status >= 500;

/** Reads a secret of the subscription; a missing one (or a refused read) is a log line, not a throw. */
async function readSecret(api: Api, subscription: Subscription<Params>, name: string, what: string, where: string): Promise<string | undefined> {
  try {
    const value = await api.secret(subscription.id, name);
    if (value === undefined || value === "") api.log(`${where}: secret "${name}" (${what}) is not set; nothing sent`);
    return value || undefined;
  } catch (error) {
    api.log(`${where}: could not read secret "${name}" (${what}): ${(error as Error).message}; nothing sent`);
    return undefined;
  }
}

/** One notification: the event POSTed to the subscription's URL, retried on failures worth retrying. */
async function deliver(api: Api, subscription: Subscription<Params>, event: PipelineEvent): Promise<void> {
  const where = `${event.namespace}/${event.pipeline}#${event.run} ${event.kind}`;
  const url = await readSecret(api, subscription, subscription.params.url, "the URL", where);
  if (url === undefined) return;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    target = new URL("invalid:");
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    return api.log(`${where}: secret "${subscription.params.url}" is not an http(s) URL; nothing sent`);
  }
  const key = subscription.params.secret === undefined ? url : await readSecret(api, subscription, subscription.params.secret, "the signing key", where);
  if (key === undefined) return;

  const { kind, ...payload } = event;
  const body = JSON.stringify({ event: kind, ...payload });
  // One id for every attempt of this delivery, so a receiver that got a retried one can tell.
  const headers = {
    "content-type": "application/json",
    "user-agent": "gantry-notify",
    "x-gantry-event": kind,
    "x-gantry-delivery": crypto.randomUUID(),
    "x-gantry-signature-256": signBody(key, body),
  };
  const attempts = RETRY_DELAYS_MS.length + 1;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let failure: string;
    let retry: boolean;
    try {
      // No redirects followed: the signed body goes to the URL the pipeline chose, nowhere else.
      const response = await fetch(target, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return;
      failure = `HTTP ${response.status}`;
      retry = retryable(response.status);
    } catch (error) {
      failure = failureOf(error);
      retry = true;
    }
    const last = !retry || attempt === attempts;
    api.log(`${where}: POST (attempt ${attempt} of ${attempts}) failed: ${failure}${last ? "; giving up" : `; retrying in ${RETRY_DELAYS_MS[attempt - 1]! / 1000}s`}`);
    if (last) return;
    await Bun.sleep(RETRY_DELAYS_MS[attempt - 1]!);
  }
}

export default defineExtension<unknown, Params>({
  id: "notify",
  description: 'Signed JSON POSTs on events of a pipeline\'s runs: notify({ url: secret("hook_url"), on: ["run.failed", "approval.waiting"] }).',
  params: paramsSchema,
  async onEvent(event, api) {
    const chosen = api
      .subscriptions()
      .filter((subscription) => subscription.namespace === event.namespace && subscription.pipeline === event.pipeline && subscription.params.on.includes(event.kind));
    // Each notify() on its own: one slow URL does not hold back another.
    await Promise.all(chosen.map((subscription) => deliver(api, subscription, event)));
  },
});
