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
  "task.timing_out",
  "task.reattached",
  "task.finished",
  /** Someone opened a command or shell in a running container task (data: by, command, tty, attempt, container)... */
  "task.exec_started",
  /** ...and it ended (data: by, command, exitCode, durationMs; reason when the client went away first). */
  "task.exec_ended",
  /** An approval gate began waiting for a decision (data: message, approvers, decideBy). */
  "task.waiting",
  /** A gate's decision (data: by, comment, auto, reason); the gate's end follows as task.finished. */
  "approval.approved",
  "approval.rejected",
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
  /** A secret was set or deleted (data: scope, name, by, userId; never the value). */
  "secret.set",
  "secret.deleted",
  /** A secret was stored whose value masking may miss in part (data: scope, name, warning; never the value). */
  "secret.flagged",
  /** A person was disabled (their tokens revoked) or enabled again; data: user, name, by (who did it). */
  "user.disabled",
  "user.enabled",
  /** Roles were granted to or revoked from a person; data: user, name, granted or revoked, grantedRoles, by. */
  "user.roles_changed",
  /** A git source was added, changed or removed (data: source, by). */
  "source.added",
  "source.changed",
  "source.removed",
  /** A source's sync ended (data: source, head, commits, loaded, versions, failures, warnings) or failed (data: source, error). */
  "source.synced",
  "source.sync_failed",
  /** An environment was created, changed or removed (data: environment, by; its secrets by name only). */
  "environment.created",
  "environment.changed",
  "environment.removed",
] as const;

export type EventKind = (typeof EVENT_KINDS)[number];
