// A pipeline's triggers (from its file) and its subscriptions to extensions, as people read them;
// a trigger whose subscription has an error (say, a webhook's secret is missing) shows it in place.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
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

export function Triggers({ spec, subscriptions }: { spec?: PipelineSpec; subscriptions: SubscriptionView[] }) {
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
              </li>
            );
          })}
        </ul>
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
