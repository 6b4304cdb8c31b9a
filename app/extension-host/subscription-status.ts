// What went wrong with a subscription, as the extension host knows it: read by the API and
// the web pages alike.
import type { SubscriptionRow } from "../db/repos/subscriptions.ts";
import type { ExtensionHost, ExtensionStatus } from "./host.ts";

/** The extensions' statuses by id, read once per answer. */
export const statusesOf = (host: ExtensionHost): ReadonlyMap<string, ExtensionStatus> => new Map(host.list().map((status) => [status.id, status]));

/** The subscription's error: its extension is missing, or the extension refused it. */
export function subscriptionError(row: SubscriptionRow, extensions: ReadonlyMap<string, ExtensionStatus>): string | undefined {
  const extension = extensions.get(row.extension);
  if (!extension) return `no extension "${row.extension}" is installed`;
  return extension.subscriptions.find((subscription) => subscription.id === row.id)?.error;
}
