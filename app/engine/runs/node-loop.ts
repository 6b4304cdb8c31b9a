// The node's heartbeat and its look at the database for work others asked of it: renews
// its leases, acts on cancel requests for the runs it drives (made by any process), admits
// queued runs nobody admitted, and takes over runs whose node stopped renewing.
import { hasClaimableRuns, renewLeases } from "../../db/repos/nodes.ts";
import { hasQueuedRuns } from "../../db/repos/run-queue.ts";
import { listCancelRequests } from "../../db/repos/runs.ts";
import type { RunKey } from "../../domain/run-key.ts";
import type { EngineContext } from "./engine-context.ts";
import { recoverRuns } from "./recover-runs.ts";
import { listDecidedGates } from "../../db/repos/approvals.ts";
import { actOnDecision } from "./decide-approval.ts";

export const DEFAULT_POLL_MS = 1_000;
/** The queue and lapsed leases are looked at every this many polls (admission is also kicked directly). */
const SLOW_EVERY = 5;

export interface NodeLoop {
  stop(): void;
}

export function startNodeLoop(ctx: EngineContext, actOnCancel: (key: RunKey, reason: string) => void): NodeLoop {
  const pollMs = ctx.pollMs ?? DEFAULT_POLL_MS;
  const heartbeatEvery = Math.max(1, Math.floor(ctx.leaseMs / 3 / pollMs));
  let ticks = 0;
  let busy = false;
  const tick = async () => {
    if (busy || ctx.stopped) return;
    busy = true;
    try {
      ticks++;
      if (ticks % heartbeatEvery === 0) await renewLeases(ctx.db, ctx.node.id, ctx.now(), ctx.leaseUntil());
      for (const { key, reason } of await listCancelRequests(ctx.db, ctx.node.id)) actOnCancel(key, reason);
      // Decisions made through another node, only while a gate here waits for one.
      if ([...ctx.active.values()].some((run) => run.gateWaits.size > 0)) {
        for (const { key, taskId } of await listDecidedGates(ctx.db, ctx.node.id)) actOnDecision(ctx, key, taskId);
      }
      if (ticks % SLOW_EVERY === 0) {
        if (await hasQueuedRuns(ctx.db)) await ctx.admit();
        if (await hasClaimableRuns(ctx.db, ctx.node.id, ctx.now())) await recoverRuns(ctx, false);
      }
    } catch (error) {
      if (!ctx.stopped) console.error("engine: node loop:", error);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), pollMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
