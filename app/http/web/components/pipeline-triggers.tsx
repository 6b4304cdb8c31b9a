// A pipeline's triggers (from its file) and its subscriptions to extensions, as people read them;
// a trigger whose subscription has an error (say, a webhook's secret is missing) shows it in place.
// Each trigger says how to use it: a webhook's URL and a signed curl command that starts a run,
// the GitHub App's URL with the events and branches, a schedule's next ticks in its time zone;
// and the CLI command that starts a run by hand.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Cron } from "croner";
import type { SubscriptionRow } from "../../../db/repos/subscriptions.ts";
import { formatDuration } from "../../../domain/duration.ts";
import type { PipelineSpec, TriggerSpec } from "../../../domain/pipeline-spec.ts";
import { triggerSubscription } from "../../../domain/trigger-subscriptions.ts";
import { extensionPath } from "../paths.ts";
import { TableHead } from "./table-head.tsx";

function triggerText(trigger: TriggerSpec): { kind: string; detail: string } {
  switch (trigger.kind) {
    case "cron":
      return { kind: "schedule", detail: `cron "${trigger.expression}"${trigger.timezone ? ` in ${trigger.timezone}` : ""}` };
    case "interval":
      return { kind: "interval", detail: `every ${formatDuration(trigger.every)}` };
    case "webhook": {
      const mapped = Object.entries(trigger.variables ?? {}).map(([name, path]) => `${name} ← ${path}`);
      return { kind: "webhook", detail: `signed with secret "${trigger.secret.name}"${mapped.length ? `; variables ${mapped.join(", ")}` : ""}` };
    }
    case "github":
      return {
        kind: "GitHub",
        detail: `${trigger.repo}: ${trigger.events.join(", ")}${trigger.branches?.length ? ` on ${trigger.branches.join(", ")}` : ""}`,
      };
  }
}

export interface SubscriptionView {
  row: SubscriptionRow;
  /** The extension's complaint about this subscription, if any. */
  error?: string;
}

/** The error of the subscription the file made for this trigger (same extension and params), if any. */
function triggerError(trigger: TriggerSpec, subscriptions: SubscriptionView[]): string | undefined {
  const made = triggerSubscription(trigger);
  const signature = JSON.stringify([made.extension, made.params]);
  return subscriptions.find(({ row }) => row.source === "file" && JSON.stringify([row.extension, row.params]) === signature)?.error;
}

/** What the panel needs to show how to trigger the pipeline. */
export interface TriggerContext {
  pipeline: { namespace: string; id: string };
  /** Where senders reach the webhook receiver (GANTRY_HOOKS_PUBLIC_URL, or where it listens). */
  hooksBase: string;
  now: Date;
  /** The session may start runs: the CLI command that does is shown. */
  mayStart: boolean;
}

/** Keys an example body never writes: they would reach an object's prototype. */
const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * The example body of a webhook: each mapped path filled in, so its run gets every variable.
 * The paths come from a pipeline file: the body is built of prototype-less objects, a path
 * through a key such as __proto__ is left out, and one that overlaps another (a and a.b)
 * keeps the first.
 */
export function exampleBody(variables: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = Object.create(null);
  for (const [name, path] of Object.entries(variables)) {
    const parts = path.split(".");
    if (parts.some((part) => UNSAFE_KEYS.has(part) || part === "")) continue;
    let at: Record<string, unknown> | undefined = body;
    for (const part of parts.slice(0, -1)) {
      const next: unknown = Object.hasOwn(at, part) ? at[part] : (at[part] = Object.create(null));
      at = typeof next === "object" && next !== null ? (next as Record<string, unknown>) : undefined;
      if (!at) break;
    }
    const last = parts[parts.length - 1]!;
    if (at && !Object.hasOwn(at, last)) at[last] = `example-${name.toLowerCase()}`;
  }
  return body;
}

/** A shell command that signs the body with the secret and posts it, as a sender must. */
export function signedCurl(url: string, secretName: string, body: Record<string, unknown>): string {
  const json = JSON.stringify(body).replaceAll("'", "'\\''");
  return [
    `SECRET='<the value of secret ${secretName}>'`,
    `BODY='${json}'`,
    `curl -fsS -X POST '${url.replaceAll("'", "'\\''")}' \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "x-gantry-delivery: $(date +%s%N)" \\`,
    `  -H "x-gantry-signature-256: sha256=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.* //')" \\`,
    `  --data "$BODY"`,
  ].join("\n");
}

/** A schedule's next ticks, as its time zone reads them (none when croner cannot parse it). */
function nextTicks(expression: string, timezone: string | undefined, now: Date): string[] {
  try {
    const cron = new Cron(expression, { paused: true, mode: "5-or-6-parts", ...(timezone && { timezone }) });
    const format = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "long", ...(timezone && { timeZone: timezone }) });
    return cron.nextRuns(3, now).map((tick) => format.format(tick));
  } catch {
    return [];
  }
}

function HowTo({ trigger, context }: { trigger: TriggerSpec; context: TriggerContext }) {
  const { namespace, id } = context.pipeline;
  switch (trigger.kind) {
    case "webhook": {
      const url = `${context.hooksBase}/hooks/webhook/${namespace}/${id}`;
      return (
        <div class="how-to">
          <p>
            POST a JSON body to <code class="trigger-url">{url}</code>, signed with the secret <code>{trigger.secret.name}</code> (header{" "}
            <code>X-Gantry-Signature-256: sha256=&lt;hex HMAC-SHA256 of the body&gt;</code>; <code>X-Gantry-Delivery</code> makes a retry start nothing twice):
          </p>
          <pre class="snippet">
            <code class="trigger-curl">{signedCurl(url, trigger.secret.name, exampleBody(trigger.variables ?? {}))}</code>
          </pre>
        </div>
      );
    }
    case "github":
      return (
        <div class="how-to">
          <p>
            Deliveries of the GitHub App go to <code class="trigger-url">{`${context.hooksBase}/hooks/github`}</code>: {trigger.events.join(", ")} of{" "}
            {trigger.repo}
            {trigger.branches?.length ? `, on ${trigger.branches.join(", ")}` : ", any branch"}.
          </p>
        </div>
      );
    case "cron": {
      const ticks = nextTicks(trigger.expression, trigger.timezone, context.now);
      return ticks.length > 0 ? (
        <div class="how-to">
          <p>{`Next, ${trigger.timezone ?? "in the server's time zone"}:`}</p>
          <ul class="ticks">
            {ticks.map((tick) => (
              <li>{tick}</li>
            ))}
          </ul>
        </div>
      ) : null;
    }
    case "interval":
      return null;
  }
}

export function Triggers({ spec, subscriptions, context }: { spec?: PipelineSpec; subscriptions: SubscriptionView[]; context?: TriggerContext }) {
  const triggers = spec?.triggers ?? [];
  return (
    <section class="card" aria-labelledby="triggers">
      <h2 id="triggers">Triggers</h2>
      {triggers.length === 0 ? (
        <p class="muted">None in the file: runs start from this page, the API or the CLI.</p>
      ) : (
        <ul class="triggers">
          {triggers.map((trigger) => {
            const { kind, detail } = triggerText(trigger);
            const error = triggerError(trigger, subscriptions);
            return (
              <li>
                <strong>{kind}</strong> <span class="mono">{detail}</span>
                {error && (
                  <>
                    {" "}
                    <span class="error trigger-error">
                      <span aria-hidden="true">✗ </span>
                      {error}
                    </span>
                  </>
                )}
                {context && <HowTo trigger={trigger} context={context} />}
              </li>
            );
          })}
        </ul>
      )}
      {context?.mayStart && (
        <p>
          By hand: <code class="trigger-cli">{`gantry run start ${context.pipeline.namespace}/${context.pipeline.id}`}</code> (add <code>--wait</code> to follow it), or the
          form above.
        </p>
      )}
      <h3>Subscriptions to extensions</h3>
      {subscriptions.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <table class="list">
          <TableHead columns={["Extension", "Parameters", "Made by", "Status"]} />
          <tbody>
            {subscriptions.map(({ row, error }) => (
              <tr>
                <th scope="row">
                  <a href={extensionPath(row.extension)}>{row.extension}</a>
                </th>
                <td>
                  <code class="params">{JSON.stringify(row.params)}</code>
                </td>
                <td>{row.source === "file" ? "the pipeline file" : "the API"}</td>
                <td>{error ? <span class="error">{error}</span> : <span class="muted">ok</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
