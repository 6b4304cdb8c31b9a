// Cancel: a write any process may make. A queued run ends at once; a running one gets a
// cancel request that the node driving it acts on: running tasks are stopped (SIGTERM,
// then SIGKILL after the grace period), those waiting to retry and pending ones end cancelled.
import { cancelQueued } from "../../db/repos/run-queue.ts";
import { getRunRow, requestCancel } from "../../db/repos/runs.ts";
import { ConflictError, NotFoundError } from "../../domain/errors.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";
import { isFinalRunState } from "../../domain/states.ts";
import { schedule } from "./drive-run.ts";
import { stopTasks } from "./driven-run.ts";
import type { EngineContext } from "./engine-context.ts";

export async function cancelRun(ctx: EngineContext, key: RunKey, by?: string): Promise<void> {
  const reason = `cancelled${by ? ` by ${by}` : ""}`;
  const outcome = await ctx.db.transaction(async (tx) => {
    const row = await getRunRow(tx, key);
    if (!row) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
    if (isFinalRunState(row.state)) throw new ConflictError(`run ${key.run} of ${key.namespace}/${key.id} has already ended (${row.state})`);
    if (row.state === "queued" || row.state === "pending") {
      await cancelQueued(tx, key, reason, ctx.now(), ctx.node.id);
      return { ended: true, concurrencyKey: row.concurrencyKey };
    }
    await requestCancel(tx, key, reason, ctx.now(), ctx.node.id);
    return { ended: false, concurrencyKey: row.concurrencyKey };
  });
  if (outcome.ended) {
    ctx.publish("run.finished", key);
    // Runs behind it in its queue move up.
    await ctx.admit([outcome.concurrencyKey]);
    return;
  }
  ctx.publish("run.cancel_requested", key);
  // Driven here: act now. Driven by another node: it acts on its next look at the database.
  actOnCancel(ctx, key, reason);
}

/** Stops a run this process drives: once, whoever asked. */
export function actOnCancel(ctx: EngineContext, key: RunKey, reason: string): void {
  const run = ctx.active.get(runKeyString(key));
  if (!run || run.cancelled !== undefined) return;
  run.cancelled = reason;
  stopTasks(run, ctx.killGraceMs);
  void schedule(ctx, run);
}
