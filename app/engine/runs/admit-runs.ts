// Admission: reads the queues and their running runs, asks the pure rule which queued runs
// start, which are superseded and which running ones a newer run cancels, and applies it
// in one transaction; then this node drives what it admitted and acts on its cancels.
import type { DbOrTx } from "../../db/client.ts";
import { admitQueued, cancelQueued, listQueued, listRunningOfKeys } from "../../db/repos/run-queue.ts";
import { getRun, requestCancel } from "../../db/repos/runs.ts";
import { getSystemState } from "../../db/repos/system-state.ts";
import { decideAdmission, type AdmissionDecision } from "../../domain/admission.ts";
import type { RunKey } from "../../domain/run-key.ts";
import type { EngineContext } from "./engine-context.ts";

/** What an admission pass did, for the steps after its commit. */
export interface Admitted {
  started: RunKey[];
  superseded: RunKey[];
  /** Running runs asked to cancel, with the reason they end with. */
  cancelled: { run: RunKey; reason: string }[];
}

const NOTHING: Admitted = { started: [], superseded: [], cancelled: [] };

/** "run 12", or "run 12 of ns/id" when it is another pipeline's. */
const runName = (key: RunKey, of: RunKey) => (key.namespace === of.namespace && key.id === of.id ? `run ${key.run}` : `run ${key.run} of ${key.namespace}/${key.id}`);

async function decide(ctx: EngineContext, tx: DbOrTx, keys: readonly (string | null)[] | undefined, paused?: boolean): Promise<AdmissionDecision | undefined> {
  const queued = await listQueued(tx, keys);
  if (queued.length === 0) return undefined;
  const running = await listRunningOfKeys(tx, queued.map((run) => run.concurrencyKey));
  return decideAdmission({ paused: paused ?? (await getSystemState(tx)).paused, queued, running });
}

const isEmpty = (decision: AdmissionDecision | undefined) =>
  !decision || (decision.admit.length === 0 && decision.supersede.length === 0 && decision.cancel.length === 0);

/** One admission pass inside the caller's transaction (a new run's, so its admission is the same commit). */
export async function admitInTransaction(ctx: EngineContext, tx: DbOrTx, keys: readonly (string | null)[] | undefined, paused?: boolean): Promise<Admitted> {
  const decision = await decide(ctx, tx, keys, paused);
  if (isEmpty(decision)) return NOTHING;
  const now = ctx.now();
  const superseded: RunKey[] = [];
  for (const { run, by } of decision!.supersede) {
    if (await cancelQueued(tx, run, `superseded by ${runName(by, run)}`, now, ctx.node.id)) superseded.push(run);
  }
  const cancelled: Admitted["cancelled"] = [];
  for (const { run, by } of decision!.cancel) {
    const reason = `superseded by ${runName(by, run)}`;
    if (await requestCancel(tx, run, reason, now, ctx.node.id)) cancelled.push({ run, reason });
  }
  const started = await admitQueued(tx, decision!.admit, { nodeId: ctx.node.id, leaseExpiresAt: ctx.leaseUntil() }, now);
  return { started, superseded, cancelled };
}

/** After the commit: tell listeners, drive what this node admitted, act on the cancels it drives. */
export async function afterAdmission(ctx: EngineContext, admitted: Admitted, actOnCancel: (key: RunKey, reason: string) => void): Promise<void> {
  for (const key of admitted.superseded) ctx.publish("run.finished", key);
  for (const { run, reason } of admitted.cancelled) {
    ctx.publish("run.cancel_requested", run);
    actOnCancel(run, reason);
  }
  for (const key of admitted.started) {
    ctx.publish("run.started", key);
    const row = await getRun(ctx.db, key);
    if (row) await ctx.drive(row);
  }
}

/**
 * An admission pass of its own (a run ended, the queue was resumed, the periodic check):
 * decided on a read first, so a pass with nothing to do writes nothing.
 */
export async function admitRuns(ctx: EngineContext, keys: readonly (string | null)[] | undefined, actOnCancel: (key: RunKey, reason: string) => void): Promise<void> {
  if (ctx.stopped || ctx.draining) return;
  if (isEmpty(await decide(ctx, ctx.db, keys))) return;
  const admitted = await ctx.db.transaction((tx) => admitInTransaction(ctx, tx, keys));
  await afterAdmission(ctx, admitted, actOnCancel);
}

