// What went wrong with a subscription: its extension is missing or refused it, or a secret
// it needs (a webhook's signing secret) does not exist. Read by the API, the web pages and
// the dashboard alike, checked on every read so a secret created since clears the error.
import type { SubscriptionRow } from "../db/repos/subscriptions.ts";
import { requiredSecrets } from "../domain/trigger-subscriptions.ts";
import type { SecretStore } from "../stores/secrets.ts";
import type { ExtensionHost, ExtensionStatus } from "./host.ts";

/** The extensions' statuses by id, read once per answer. */
export const statusesOf = (host: ExtensionHost): ReadonlyMap<string, ExtensionStatus> => new Map(host.list().map((status) => [status.id, status]));

/** The subscription's error: its extension is missing, or the extension refused it. */
export function subscriptionError(row: SubscriptionRow, extensions: ReadonlyMap<string, ExtensionStatus>): string | undefined {
  const extension = extensions.get(row.extension);
  if (!extension) return `no extension "${row.extension}" is installed`;
  return extension.subscriptions.find((subscription) => subscription.id === row.id)?.error;
}

/** Why a secret the subscription needs is missing, or undefined when all exist. */
function missingSecret(row: SubscriptionRow, existing: ReadonlySet<string>): string | undefined {
  const pipelineScope = `${row.namespace}/${row.pipelineId}`;
  const missing = requiredSecrets(row).find((name) => !existing.has(`${pipelineScope}\n${name}`) && !existing.has(`global\n${name}`));
  if (missing === undefined) return undefined;
  return `secret "${missing}" does not exist (neither for ${pipelineScope} nor global): deliveries are refused until it is set (gantry secret set ${missing} --pipeline ${pipelineScope})`;
}

/**
 * The errors of these subscriptions, for one answer: the extensions' statuses are read once,
 * and the secret names once if any row needs a secret. The extension's own complaint comes
 * first; a missing secret is the error of a subscription the extension accepted.
 */
export async function subscriptionErrors(
  deps: { extensions: ExtensionHost; secrets: SecretStore },
  rows: readonly SubscriptionRow[],
): Promise<(row: SubscriptionRow) => string | undefined> {
  const statuses = statusesOf(deps.extensions);
  const needSecrets = rows.some((row) => requiredSecrets(row).length > 0);
  // Names and scopes only: nothing is decrypted to tell whether a secret exists.
  const existing = new Set(needSecrets ? (await deps.secrets.list()).map((secret) => `${secret.scope}\n${secret.name}`) : []);
  return (row) => subscriptionError(row, statuses) ?? missingSecret(row, existing);
}
