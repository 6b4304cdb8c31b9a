// Notifications a pipeline asks for: the events a notify() can be sent on, and the stored
// form that becomes a subscription of the built-in notify extension.

export const NOTIFY_EVENTS = [
  "run.started",
  "run.successful",
  "run.failed",
  "run.cancelled",
  "run.finished",
  "approval.waiting",
  "approval.approved",
  "approval.rejected",
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** One notify() as stored with a version: secret names, never values. */
export interface NotificationSpec {
  /** The secret holding the URL. */
  url: string;
  /** The secret holding the signing key; absent: the URL's value signs. */
  secret?: string;
  on: NotifyEvent[];
}

/** A notification as a subscription of the notify extension. */
export function notificationSubscription(notification: NotificationSpec): { extension: string; params: Record<string, unknown> } {
  return { extension: "notify", params: { ...notification } };
}
