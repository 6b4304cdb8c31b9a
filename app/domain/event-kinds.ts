// Every kind of event row Gantry writes, listed in one place. The events table's `kind`
// column is typed with it, so writing an unlisted kind anywhere is a type error.

export const EVENT_KINDS = [
  "run.created",
  "run.started",
  "run.cancel_requested",
  "run.recovered",
  "run.finished",
  "task.started",
  "task.retried",
  "task.attempt_failed",
  "task.reattached",
  "task.finished",
  "system.paused",
  "system.resumed",
  "node.started",
  "pipeline.loaded",
  "pipeline.version_added",
  "pipeline.load_failed",
  "pipeline.removed",
  "subscription.created",
  "subscription.deleted",
  "extension.started",
  "extension.crashed",
  "extension.failed",
  "delivery.accepted",
  "delivery.duplicate",
  "delivery.rejected",
  "auth.failed",
] as const;

export type EventKind = (typeof EVENT_KINDS)[number];
