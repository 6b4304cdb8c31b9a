// Recovery: a node takes over running runs that nobody drives any more — at start those its
// own previous process left (stopped cleanly or killed), later any whose lease lapsed — and
// drives them on: tasks in flight are found again by their stored references.
import { claimRuns } from "../../db/repos/nodes.ts";
import { getRun } from "../../db/repos/runs.ts";
import { runKeyString } from "../../domain/run-key.ts";
import type { EngineContext } from "./engine-context.ts";

/** Takes over and resumes runs; `own` includes those under this node's id (at start). Returns how many. */
export async function recoverRuns(ctx: EngineContext, own: boolean): Promise<number> {
  const keys = await claimRuns(ctx.db, ctx.node.id, ctx.now(), ctx.leaseUntil(), own);
  let resumed = 0;
  for (const key of keys) {
    if (ctx.active.has(runKeyString(key))) continue;
    const row = await getRun(ctx.db, key);
    if (!row) continue;
    ctx.publish("run.recovered", key);
    await ctx.drive(row, { recovered: true });
    resumed++;
  }
  return resumed;
}
