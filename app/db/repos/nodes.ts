// Nodes and their leases: a node claims its id, renews the leases on the runs and tasks it
// drives with each heartbeat (while it still holds the id), claims runs whose lease lapsed
// (or that its own previous process left), and lets its leases go when it stops.
import { and, count, eq, gte, inArray, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { driverValue, prepared } from "../prepared.ts";
import { events, nodes, runs, taskExecutions } from "../schema/index.ts";
import { runKeyOf, runKeyString, type RunKey } from "../../domain/run-key.ts";
import { runEvent } from "./events.ts";
import { claimableRuns, runWhere } from "./runs.ts";

export type NodeRow = typeof nodes.$inferSelect;

export interface NodeInfo {
  id: string;
  hostname: string;
  pid: number;
  version: string;
  /** This process's random instance: the id is held under it. */
  instance: string;
  /** Where its pid means something (see nodes.pidScope). */
  pidScope: string;
}

export async function getNode(db: Db, id: string): Promise<NodeRow | undefined> {
  const [row] = await db.select().from(nodes).where(eq(nodes.id, id)).limit(1);
  return row;
}

/**
 * Takes the node id for this process, with a node.started event, only while it is free: no
 * row yet, its holder stopped cleanly, its heartbeat older than `lapsedBefore`, or held by
 * this very instance; with `from`, also while it still holds exactly what was seen then (a
 * holder found dead, or watched without a heartbeat). One statement decides, so of servers
 * claiming at once exactly one gets it. True when it did.
 */
export async function claimNode(db: Db, node: NodeInfo, now: Date, free: { lapsedBefore: Date; from?: Pick<NodeRow, "instance" | "heartbeatAt"> }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { from } = free;
    const claimed = await tx
      .insert(nodes)
      .values({ ...node, startedAt: now, heartbeatAt: now })
      .onConflictDoUpdate({
        target: nodes.id,
        set: { hostname: node.hostname, pid: node.pid, version: node.version, instance: node.instance, pidScope: node.pidScope, startedAt: now, heartbeatAt: now, stoppedAt: null },
        setWhere: or(
          isNotNull(nodes.stoppedAt),
          lt(nodes.heartbeatAt, free.lapsedBefore),
          eq(nodes.instance, node.instance),
          from && and(eq(nodes.instance, from.instance), eq(nodes.heartbeatAt, from.heartbeatAt)),
        ),
      })
      .returning({ id: nodes.id });
    if (claimed.length === 0) return false;
    await tx.insert(events).values({ kind: "node.started", data: { node: node.id, hostname: node.hostname, pid: node.pid, version: node.version }, at: now, nodeId: node.id });
    return true;
  });
}

/**
 * The node is alive: its heartbeat and every lease it holds move on to `until`, only while
 * this instance holds the id. False when another process took the id over: nothing renewed.
 */
export async function renewLeases(db: Db, node: Pick<NodeInfo, "id" | "instance">, now: Date, until: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    const held = await tx
      .update(nodes)
      .set({ heartbeatAt: now })
      .where(and(eq(nodes.id, node.id), eq(nodes.instance, node.instance)))
      .returning({ id: nodes.id });
    if (held.length === 0) return false;
    await tx.update(runs).set({ leaseExpiresAt: until }).where(and(eq(runs.nodeId, node.id), eq(runs.state, "running")));
    await tx.update(taskExecutions).set({ leaseExpiresAt: until }).where(and(eq(taskExecutions.nodeId, node.id), eq(taskExecutions.state, "running")));
    return true;
  });
}

// Looked at by the event relay every few seconds while a server is alone on the database.
const livePeerQuery = prepared((db) =>
  db
    .select({ id: nodes.id })
    .from(nodes)
    .where(and(sql`${nodes.id} <> ${sql.placeholder("nodeId")}`, isNull(nodes.stoppedAt), gte(nodes.heartbeatAt, driverValue("since"))))
    .limit(1)
    .prepare(),
);

/** Whether another node, not stopped, has beaten its heart since `since`. */
export async function hasLivePeer(db: Db, nodeId: string, since: Date): Promise<boolean> {
  return (await livePeerQuery(db).all({ nodeId, since: since.getTime() })).length > 0;
}

/** Keys looked up per query (each is three terms of an OR). */
const OWNER_CHUNK = 200;

/** The node each of these runs is driven by now, by runKeyString (a run that no longer exists is left out). */
export async function runOwners(db: Db, keys: readonly RunKey[]): Promise<Map<string, string | null>> {
  const owners = new Map<string, string | null>();
  for (let start = 0; start < keys.length; start += OWNER_CHUNK) {
    const rows = await db
      .select({ namespace: runs.namespace, pipelineId: runs.pipelineId, id: runs.id, nodeId: runs.nodeId })
      .from(runs)
      .where(or(...keys.slice(start, start + OWNER_CHUNK).map((key) => runWhere(key))));
    for (const row of rows) owners.set(runKeyString(runKeyOf(row)), row.nodeId);
  }
  return owners;
}

/**
 * A node stopping cleanly: its leases lapse now, so another node may take its runs at once.
 * Only while this instance holds the id (one that lost it leaves the new holder's alone).
 */
export async function releaseNode(db: Db, node: Pick<NodeInfo, "id" | "instance">, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    const held = await tx
      .update(nodes)
      .set({ heartbeatAt: now, stoppedAt: now })
      .where(and(eq(nodes.id, node.id), eq(nodes.instance, node.instance)))
      .returning({ id: nodes.id });
    if (held.length === 0) return;
    await tx.update(runs).set({ leaseExpiresAt: now }).where(and(eq(runs.nodeId, node.id), eq(runs.state, "running")));
    await tx.update(taskExecutions).set({ leaseExpiresAt: now }).where(and(eq(taskExecutions.nodeId, node.id), eq(taskExecutions.state, "running")));
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

// Looked at by every node every few seconds, idle or not: built once.
const claimableQuery = prepared((db) => db.select({ id: runs.id }).from(runs).where(claimableRuns(sql.placeholder("nodeId"), driverValue("now"), false)).limit(1).prepare());

/** Whether some running run could be taken over (a cheap check before claimRuns). */
export async function hasClaimableRuns(db: Db, nodeId: string, now: Date): Promise<boolean> {
  return (await claimableQuery(db).all({ nodeId, now: now.getTime() })).length > 0;
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
