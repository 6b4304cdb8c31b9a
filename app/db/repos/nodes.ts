// Nodes and their leases: a node registers itself, renews the leases on the runs and
// tasks it drives with each heartbeat, claims runs whose lease lapsed (or that its own
// previous process left), and lets its leases go when it stops.
import { and, count, eq, inArray } from "drizzle-orm";
import type { Db } from "../client.ts";
import { events, nodes, runs, taskExecutions } from "../schema/index.ts";
import { runKeyOf, type RunKey } from "../../domain/run-key.ts";
import { runEvent } from "./events.ts";
import { claimableRuns, runWhere } from "./runs.ts";

export type NodeRow = typeof nodes.$inferSelect;

export interface NodeInfo {
  id: string;
  hostname: string;
  pid: number;
  version: string;
}

export async function getNode(db: Db, id: string): Promise<NodeRow | undefined> {
  const [row] = await db.select().from(nodes).where(eq(nodes.id, id)).limit(1);
  return row;
}

/** Records that a node (re)started, with its event. */
export async function registerNode(db: Db, node: NodeInfo, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .insert(nodes)
      .values({ ...node, startedAt: now, heartbeatAt: now })
      .onConflictDoUpdate({ target: nodes.id, set: { hostname: node.hostname, pid: node.pid, version: node.version, startedAt: now, heartbeatAt: now, stoppedAt: null } });
    await tx.insert(events).values({ kind: "node.started", data: { node: node.id, hostname: node.hostname, pid: node.pid, version: node.version }, at: now, nodeId: node.id });
  });
}

/** The node is alive: its heartbeat and every lease it holds move on to `until`. */
export async function renewLeases(db: Db, nodeId: string, now: Date, until: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(nodes).set({ heartbeatAt: now }).where(eq(nodes.id, nodeId));
    await tx.update(runs).set({ leaseExpiresAt: until }).where(and(eq(runs.nodeId, nodeId), eq(runs.state, "running")));
    await tx.update(taskExecutions).set({ leaseExpiresAt: until }).where(and(eq(taskExecutions.nodeId, nodeId), eq(taskExecutions.state, "running")));
  });
}

/** A node stopping cleanly: its leases lapse now, so another node may take its runs at once. */
export async function releaseNode(db: Db, nodeId: string, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(nodes).set({ heartbeatAt: now, stoppedAt: now }).where(eq(nodes.id, nodeId));
    await tx.update(runs).set({ leaseExpiresAt: now }).where(and(eq(runs.nodeId, nodeId), eq(runs.state, "running")));
    await tx.update(taskExecutions).set({ leaseExpiresAt: now }).where(and(eq(taskExecutions.nodeId, nodeId), eq(taskExecutions.state, "running")));
  });
}

/**
 * Takes over the running runs this node may drive (see claimableRuns), each with a
 * run.recovered event.
 */
export async function claimRuns(db: Db, nodeId: string, now: Date, until: Date, own: boolean): Promise<RunKey[]> {
  return db.transaction(async (tx) => {
    const rows = await tx
      .select({ namespace: runs.namespace, pipelineId: runs.pipelineId, id: runs.id, nodeId: runs.nodeId })
      .from(runs)
      .where(claimableRuns(nodeId, now, own));
    const claimed: RunKey[] = [];
    for (const row of rows) {
      const key = runKeyOf(row);
      await tx.update(runs).set({ nodeId, leaseExpiresAt: until }).where(runWhere(key));
      await tx.insert(events).values({ ...runEvent("run.recovered", key, { node: nodeId, ...(row.nodeId && row.nodeId !== nodeId && { from: row.nodeId }) }, now), nodeId });
      claimed.push(key);
    }
    return claimed;
  });
}

/** Whether some running run could be taken over (a cheap check before claimRuns). */
export async function hasClaimableRuns(db: Db, nodeId: string, now: Date): Promise<boolean> {
  const rows = await db.select({ id: runs.id }).from(runs).where(claimableRuns(nodeId, now, false)).limit(1);
  return rows.length > 0;
}

export interface NodeStatus extends NodeRow {
  /** Running runs it drives. */
  runs: number;
}

export async function listNodes(db: Db): Promise<NodeStatus[]> {
  const rows = await db.select().from(nodes).orderBy(nodes.startedAt);
  if (rows.length === 0) return [];
  const counts = await db
    .select({ nodeId: runs.nodeId, n: count() })
    .from(runs)
    .where(and(eq(runs.state, "running"), inArray(runs.nodeId, rows.map((row) => row.id))))
    .groupBy(runs.nodeId);
  const byNode = new Map(counts.map((row) => [row.nodeId, row.n]));
  return rows.map((row) => ({ ...row, runs: byNode.get(row.id) ?? 0 }));
}
