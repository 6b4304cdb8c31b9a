// Pause and resume: a switch in the database. While paused, new runs from any trigger are
// accepted and wait queued; running ones finish. Resume lets the queue start, in order.
import { listNodes, type NodeStatus } from "../../db/repos/nodes.ts";
import { getSystemState, setPaused } from "../../db/repos/system-state.ts";
import type { EngineContext } from "./engine-context.ts";

export interface SystemStatus {
  paused: boolean;
  pausedBy: string | null;
  pausedAt: Date | null;
  /** The nodes working on this database, with their heartbeats. */
  nodes: (NodeStatus & { alive: boolean; self: boolean })[];
}

export async function systemStatus(ctx: EngineContext): Promise<SystemStatus> {
  const state = await getSystemState(ctx.db);
  const now = ctx.now().getTime();
  const nodes = (await listNodes(ctx.db)).map((node) => ({
    ...node,
    // A node is alive while its heartbeat is younger than a lease.
    alive: node.stoppedAt === null && now - node.heartbeatAt.getTime() < ctx.leaseMs,
    self: node.id === ctx.node.id,
  }));
  return { paused: state.paused, pausedBy: state.pausedBy, pausedAt: state.pausedAt, nodes };
}

export async function pauseRuns(ctx: EngineContext, by: string | undefined): Promise<SystemStatus> {
  if (await ctx.db.transaction((tx) => setPaused(tx, true, by, ctx.now(), ctx.node.id))) ctx.bus.publish({ kind: "system.paused" });
  return systemStatus(ctx);
}

export async function resumeRuns(ctx: EngineContext, by: string | undefined): Promise<SystemStatus> {
  if (await ctx.db.transaction((tx) => setPaused(tx, false, by, ctx.now(), ctx.node.id))) {
    ctx.bus.publish({ kind: "system.resumed" });
    await ctx.admit();
  }
  return systemStatus(ctx);
}
