// The node's heartbeat and its look at the database for work others asked of it: renews its
// leases (and lets go of runs another node took over), acts on cancel requests for the runs
// it drives (made by any process), admits queued runs nobody admitted, takes over lapsed ones.
import { hasClaimableRuns, renewLeases, runOwners } from "../../db/repos/nodes.ts";
import { hasQueuedRuns } from "../../db/repos/run-queue.ts";
import { listCancelRequests } from "../../db/repos/runs.ts";
import { attemptExecutors } from "../../db/repos/task-executions.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";
import { letGoOfRun } from "./driven-run.ts";
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

export interface Heartbeat {
  stop(): void;
}

/**
 * Beats every third of the lease, from the claim of the node id on (a server still starting
 * holds its id too). A beat renews the node's leases only while this process holds the id:
 * when another took it (this one stalled past the lease), `onLost` is told and beats end.
 * Runs this process drives that another node took over meanwhile are let go of.
 */
export function startHeartbeat(ctx: EngineContext, onLost: (reason: string) => void): Heartbeat {
  let busy = false;
  let stopped = false;
  const beat = async () => {
    if (busy || stopped || ctx.stopped) return;
    busy = true;
    try {
      if (!(await renewLeases(ctx.db, ctx.node, ctx.now(), ctx.leaseUntil()))) {
        stopped = true;
        clearInterval(timer);
        onLost(`node id ${ctx.node.id} was claimed by another server while this one went without a heartbeat for the lease (${ctx.leaseMs} ms)`);
        return;
      }
      await letGoOfTakenRuns(ctx);
    } catch (error) {
      if (!ctx.stopped) console.error("engine: heartbeat:", error);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void beat(), Math.max(1, Math.floor(ctx.leaseMs / 3)));
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** Lets go of the runs driven here whose stored node is another now: that node took them over. */
async function letGoOfTakenRuns(ctx: EngineContext): Promise<void> {
  const driven = [...ctx.active.values()];
  if (driven.length === 0) return;
  const owners = await runOwners(ctx.db, driven.map((run) => run.key));
  for (const run of driven) {
    const owner = owners.get(runKeyString(run.key));
    if (owner === undefined || owner === ctx.node.id || run.lost || ctx.stopped) continue;
    console.error(`engine: run ${runKeyString(run.key)} is driven by ${owner ?? "no node"} now (this node's lease on it lapsed): letting it go`);
    letGoOfRun(run, ctx.killGraceMs, await attemptExecutors(ctx.db, run.key));
  }
}

export function startNodeLoop(ctx: EngineContext, actOnCancel: (key: RunKey, reason: string) => void): NodeLoop {
  const pollMs = ctx.pollMs ?? DEFAULT_POLL_MS;
  let ticks = 0;
  let busy = false;
  const tick = async () => {
    if (busy || ctx.stopped) return;
    busy = true;
    try {
      ticks++;
      // Only runs driven here can be stopped here: an idle node leaves the runs table alone.
      if (ctx.active.size > 0) for (const { key, reason } of await listCancelRequests(ctx.db, ctx.node.id)) actOnCancel(key, reason);
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
