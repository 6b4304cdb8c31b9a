// The JSON shapes of the API, built from database rows.
import { commitWebUrl } from "../../domain/sources.ts";
import type { PipelineRow, VersionRow } from "../../db/repos/pipelines.ts";
import type { AttemptRow, ExecutionWithAttempts, RunWithTasks } from "../../db/repos/runs.ts";
import type { QueuePlace } from "../../domain/admission.ts";
import { groupName } from "../../domain/concurrency.ts";
import type { TokenRow } from "../../db/repos/tokens.ts";
import type { EventRow } from "../../db/repos/events.ts";
import type { UserRow } from "../../db/repos/users.ts";
import { effectiveRoles } from "../../domain/user-roles.ts";
import { inputsJsonSchema } from "../../domain/run-inputs.ts";
import type { WaitingGate } from "../../domain/approvals.ts";
import type { LevelCounts } from "../../domain/sarif.ts";

/** A time as the API gives it: ISO 8601, or null. */
export const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

export function pipelineJson(pipeline: PipelineRow, version: VersionRow | undefined) {
  const spec = version?.spec;
  return {
    namespace: pipeline.namespace,
    id: pipeline.id,
    name: spec?.name ?? pipeline.id,
    description: spec?.description ?? "",
    version: pipeline.currentVersion,
    parallelism: spec?.parallelism ?? null,
    // Its badge is shown to anyone (/badges/<ns>/<id>.svg).
    public: spec?.public === true,
    variables: spec?.variables ?? {},
    tasks: (spec?.tasks ?? []).map((task) => ({
      id: task.id,
      kind: task.kind,
      needs: task.needs,
      ...(task.timeoutMs !== undefined && { timeoutMs: task.timeoutMs }),
      retries: task.retries,
      ...(task.container && { image: task.container.image }),
    })),
    triggers: spec?.triggers ?? [],
    // What a run asks for, as one JSON Schema object (form builders, clients in any language).
    inputs: inputsJsonSchema(spec?.inputs ?? []),
    file: pipeline.file,
    // The git source it comes from; absent for the local pipelines folder.
    ...(pipeline.source !== null && { source: pipeline.source }),
    updatedAt: iso(pipeline.updatedAt),
    ...(pipeline.loadError && { error: pipeline.loadError }),
  };
}

/** `repo`: the URL of the version's source, which links its commit. */
export function versionJson(version: VersionRow, repo?: string) {
  const url = version.origin && repo ? commitWebUrl(repo, version.origin.sha) : undefined;
  return {
    version: version.version,
    hash: version.hash,
    createdAt: iso(version.createdAt),
    ...(version.origin && { commit: { ...version.origin, ...(url && { url }) } }),
    tasks: version.spec.tasks.map((task) => ({ id: task.id, kind: task.kind, needs: task.needs })),
  };
}

function attemptJson(attempt: AttemptRow) {
  return {
    attempt: attempt.attempt,
    state: attempt.state,
    exitCode: attempt.exitCode,
    ...(attempt.reason && { reason: attempt.reason }),
    startedAt: iso(attempt.startedAt),
    endedAt: iso(attempt.endedAt),
    ...(attempt.nodeId && { node: attempt.nodeId }),
  };
}

/** A waiting gate's message, rules and deadline (in a run's execution, and in GET /approvals). */
export function gateJson(gate: WaitingGate) {
  return {
    ...(gate.message !== undefined && { message: gate.message }),
    approvers: gate.approvers,
    allowSelfApproval: gate.allowSelfApproval,
    onTimeout: gate.onTimeout,
    waitingSince: gate.waitingSince,
    decideBy: gate.decideBy,
    ...(gate.autoApproveNote !== undefined && { autoApproveNote: gate.autoApproveNote }),
  };
}

/** An approval gate: its message and rules while it waits, and its decision once made. */
function approvalJson(task: ExecutionWithAttempts) {
  const { gate, decision } = task;
  return {
    ...(gate && gateJson(gate)),
    ...(decision && {
      decision: {
        outcome: decision.outcome,
        by: decision.by,
        ...(decision.comment !== undefined && { comment: decision.comment }),
        at: decision.at,
        ...(decision.auto && { auto: decision.auto }),
      },
    }),
  };
}

function executionJson(task: ExecutionWithAttempts) {
  return {
    id: task.taskId,
    kind: task.kind,
    state: task.state,
    exitCode: task.exitCode,
    attempt: task.attempt,
    ...(task.reason && { reason: task.reason }),
    // When the next attempt starts while a failed one waits out its retry delay; null otherwise.
    retryAt: task.state === "running" ? iso(task.retryAt) : null,
    ...(task.reusedFrom !== null && { reusedFrom: task.reusedFrom }),
    ...(task.kind === "approval" && { approval: approvalJson(task) }),
    // What became of its cache: { key, hit: exact|prefix|miss, restoredKey?, saved?, error? }.
    ...(task.cacheResult && { cache: task.cacheResult }),
    startedAt: iso(task.startedAt),
    endedAt: iso(task.endedAt),
    attempts: task.attempts.map(attemptJson),
  };
}

/** A run as the API shows it; `place` is where a queued run stands in its queue, `findings` what its scans found. */
export function runJson(run: RunWithTasks, place?: QueuePlace, findings?: LevelCounts) {
  const group = groupName(run.concurrencyKey);
  return {
    namespace: run.namespace,
    pipeline: run.pipelineId,
    id: run.id,
    state: run.state,
    ...(run.reason && { reason: run.reason }),
    ...(run.state === "queued" && place && { position: place.position, waitingFor: place.waitingFor }),
    trigger: run.trigger,
    version: run.version,
    ...(run.commit && { commit: run.commit }),
    variables: run.variables,
    inputs: run.inputs,
    ...(run.actor && { startedBy: run.actor.name }),
    ...(group !== undefined && { group }),
    ...(run.rerunOf !== null && { rerunOf: run.rerunOf, rerunOnly: run.rerunOnly }),
    ...(run.cancelRequestedAt && run.state === "running" && { cancelRequestedAt: iso(run.cancelRequestedAt) }),
    ...(run.nodeId && { node: run.nodeId }),
    createdAt: iso(run.createdAt),
    queuedAt: iso(run.queuedAt ?? run.createdAt),
    startedAt: iso(run.startedAt),
    endedAt: iso(run.endedAt),
    // Finding counts by level ({ error, warning, note }) of a run whose scans found something.
    ...(findings && { findings }),
    tasks: run.tasks.map(executionJson),
  };
}

export function tokenJson(token: TokenRow) {
  return {
    id: token.id,
    name: token.name,
    roles: token.roles,
    ...(token.permissions && { permissions: token.permissions }),
    /** The person the token belongs to (a personal token), or null. */
    userId: token.userId,
    createdAt: iso(token.createdAt),
    expiresAt: iso(token.expiresAt),
    revokedAt: iso(token.revokedAt),
  };
}

/** A person as the API shows them: `roles` are those they hold now (mapped and granted). */
export function userJson(user: UserRow) {
  return {
    id: user.id,
    provider: user.provider,
    subject: user.subject,
    name: user.name,
    login: user.login,
    email: user.email,
    avatarUrl: user.avatarUrl,
    groups: user.groups,
    mappedRoles: user.mappedRoles,
    grantedRoles: user.grantedRoles,
    roles: effectiveRoles(user),
    createdAt: iso(user.createdAt),
    lastSignInAt: iso(user.lastSignInAt),
    disabledAt: iso(user.disabledAt),
    disabledBy: user.disabledBy,
  };
}

export function eventJson(event: EventRow) {
  return {
    id: event.id,
    kind: event.kind,
    namespace: event.namespace,
    pipeline: event.pipelineId,
    run: event.runId,
    task: event.taskId,
    data: event.data,
    at: iso(event.at),
  };
}
