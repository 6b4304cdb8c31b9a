// Built-in "webhook" extension: POST /hooks/webhook/<ns>/<id>, signed with the pipeline's
// secret (X-Gantry-Signature-256: sha256=<HMAC of the raw body>), starts a run whose
// variables come from dotted paths of the JSON body; X-Gantry-Delivery makes retries safe.
import * as v from "valibot";
import { defineExtension, verifySignature, webhookVariables, type ExtensionApi, type HookResponse, type Subscription } from "gantry";

/** A delivery id longer than this is refused: it is stored to tell retries apart. */
const MAX_DELIVERY_ID_LENGTH = 256;
const SIGNATURE_HEADER = "x-gantry-signature-256";
const DELIVERY_HEADER = "x-gantry-delivery";

const paramsSchema = v.object({
  secret: v.pipe(v.string(), v.minLength(1)),
  variables: v.optional(
    v.record(
      v.pipe(
        v.string(),
        v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"),
        v.check((name) => !name.toUpperCase().startsWith("GANTRY_"), "GANTRY_* names are reserved"),
      ),
      v.pipe(v.string(), v.minLength(1, "must be a dotted path like pusher.name")),
    ),
  ),
});

type Params = v.InferOutput<typeof paramsSchema>;
type Api = ExtensionApi<unknown, Params>;

const answer = (status: number, code: string, message: string): HookResponse => ({ status, body: { error: { code, message } } });


/** The first subscription whose secret signed these bytes, or why none did. */
async function signedBy(
  candidates: Subscription<Params>[],
  body: Uint8Array,
  signature: string | undefined,
  api: Api,
): Promise<{ subscription: Subscription<Params> } | { reason: string }> {
  let reason = signature === undefined ? "missing signature" : "bad signature";
  let anySecret = false;
  for (const subscription of candidates) {
    let secret: string | undefined;
    try {
      secret = await api.secret(subscription.id, subscription.params.secret);
    } catch (error) {
      // Unsubscribed a moment ago, the host refuses: that is no signer either, and never a 500.
      api.log(`${subscription.namespace}/${subscription.pipeline}: could not read secret "${subscription.params.secret}": ${(error as Error).message}`);
      continue;
    }
    if (secret === undefined) {
      api.log(`${subscription.namespace}/${subscription.pipeline}: secret "${subscription.params.secret}" is not set; deliveries are rejected until it is`);
      continue;
    }
    anySecret = true;
    if (verifySignature(secret, body, signature)) return { subscription };
  }
  if (!anySecret) reason = `secret ${candidates.map((subscription) => `"${subscription.params.secret}"`).join(", ")} not set`;
  return { reason };
}

export default defineExtension<unknown, Params>({
  id: "webhook",
  description: 'Starts runs from signed POSTs to /hooks/webhook/<ns>/<id>: webhook({ secret: secret("name") }).',
  params: paramsSchema,
  async onHook(request, api) {
    // Namespaces and pipeline ids are [a-z0-9-]: nothing to decode, so nothing to get wrong.
    const match = /^\/([^/]+)\/([^/]+)\/?$/.exec(request.path);
    const [namespace, pipeline] = match ? [match[1], match[2]] : [];
    const candidates = api.subscriptions().filter((subscription) => subscription.namespace === namespace && subscription.pipeline === pipeline);
    if (candidates.length === 0) {
      return answer(404, "not_found", match ? `no webhook trigger on pipeline ${namespace}/${pipeline}` : "hooks are POST /hooks/webhook/<namespace>/<pipeline>");
    }
    const delivery = request.headers[DELIVERY_HEADER] || undefined;
    /** Answers with an error, recorded first as a delivery.rejected event (best effort). */
    const reject = async (status: number, code: string, message: string, reason: string, subscription: Subscription<Params>) => {
      const data = { reason, status, ...(delivery !== undefined && { delivery: delivery.slice(0, MAX_DELIVERY_ID_LENGTH) }) };
      await api.event("delivery.rejected", data, subscription.id).catch((error: Error) => api.log(`could not record a rejected delivery: ${error.message}`));
      return answer(status, code, message);
    };

    // The signature is checked over the raw bytes before anything of the body is looked at.
    const signed = await signedBy(candidates, request.body, request.headers[SIGNATURE_HEADER], api);
    if (!("subscription" in signed)) {
      // The sender learns only that it was not accepted; the event and log say why.
      return reject(401, "unauthorized", `missing or invalid ${SIGNATURE_HEADER} (sha256=<hex HMAC-SHA256 of the body>)`, signed.reason, candidates[0]!);
    }
    const { subscription } = signed;
    if (delivery !== undefined && delivery.length > MAX_DELIVERY_ID_LENGTH) {
      return reject(400, "invalid", `${DELIVERY_HEADER} is longer than ${MAX_DELIVERY_ID_LENGTH} characters`, "delivery id too long", subscription);
    }

    let data: unknown = {};
    if (request.body.byteLength > 0) {
      try {
        data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(request.body));
      } catch (error) {
        return reject(400, "invalid", `the body is not valid JSON: ${(error as Error).message}`, "invalid JSON", subscription);
      }
    }
    const mapped = webhookVariables(data, subscription.params.variables ?? {});
    if (!mapped.ok) return reject(400, "invalid", mapped.problem, "a value it cannot map", subscription);
    const { variables } = mapped;

    try {
      const started = await api.startRun(subscription.id, { variables, by: "webhook", ...(delivery !== undefined && { deliveryId: delivery }) });
      return { status: 202, body: { run: { namespace: started.namespace, pipeline: started.pipeline, id: started.run, duplicate: started.duplicate } } };
    } catch (error) {
      const message = (error as Error).message;
      // The body's values do not fit the pipeline's inputs: the sender must change it, not retry it.
      const invalid = /^(?:startRun: )?(invalid inputs: .*)$/s.exec(message);
      if (invalid) return reject(400, "invalid", invalid[1]!, "invalid inputs", subscription);
      api.log(`${subscription.namespace}/${subscription.pipeline}: could not start a run: ${(error as Error).message}`);
      // Nothing was recorded for the delivery, so the sender may retry it.
      return answer(503, "unavailable", `could not start a run: ${(error as Error).message}`);
    }
  },
});
