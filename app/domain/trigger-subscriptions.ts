// A pipeline file's triggers as subscriptions to the built-in extensions, and what those
// subscriptions need from the server to work.
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

/**
 * The secrets a subscription cannot work without (a webhook's signing secret), so a missing
 * one shows as the trigger's error instead of "ok". The secret may be created later: that
 * is no load error.
 */
export function requiredSecrets(subscription: { extension: string; params: unknown }): string[] {
  if (subscription.extension !== "webhook") return [];
  const secret = (subscription.params as { secret?: unknown } | null)?.secret;
  return typeof secret === "string" && secret.length > 0 ? [secret] : [];
}
