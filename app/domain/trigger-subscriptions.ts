// A pipeline file's triggers as subscriptions to the built-in extensions.
import type { TriggerSpec } from "./pipeline-spec.ts";

export function triggerSubscription(trigger: TriggerSpec): { extension: string; params: Record<string, unknown> } {
  switch (trigger.kind) {
    case "cron":
      return { extension: "cron", params: { expression: trigger.expression, ...(trigger.timezone && { timezone: trigger.timezone }) } };
    case "interval":
      return { extension: "interval", params: { everyMs: trigger.every } };
    case "webhook":
      return { extension: "webhook", params: { secret: trigger.secret.name, ...(trigger.variables && { variables: trigger.variables }) } };
    case "github":
      return {
        extension: "github",
        params: { repo: trigger.repo, events: trigger.events, ...(trigger.branches && { branches: trigger.branches }) },
      };
  }
}
