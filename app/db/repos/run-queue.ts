// The queue of runs: queued runs and the running runs they share a concurrency key with,
// as admission reads them, and the writes that apply its decision (admit, supersede).
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "../client.ts";
import { prepared } from "../prepared.ts";
import { runs } from "../schema/index.ts";
import { appendEvents } from "./events.ts";
import { describeQueuePlace, type QueuePlace, type QueuedRun, type RunningRun } from "../../domain/admission.ts";
import { runKeyOf, runRowKeyString, type RunKey } from "../../domain/run-key.ts";
import { endRunWithTasks, runWhere, startedEvent, type Admission, type RunRow } from "./runs.ts";
import { getSystemState } from "./system-state.ts";

/** Statements hold at most this many bound keys (SQLite's limit is far above). */
const KEYS_PER_QUERY = 500;

/** Queued runs, all or those of the given concurrency keys, with their queue order (insertion order of the runs table). */
export async function listQueued(db: DbOrTx, concurrencyKeys?: readonly (string | null)[]): Promise<QueuedRun[]> {
  const select = () =>
    db
      .select({ order: sql<number>`${runs}.rowid`, namespace: runs.namespace, pipelineId: runs.pipelineId, id: runs.id, concurrencyKey: runs.concurrencyKey, concurrency: runs.concurrency })
      .from(runs);
  const rows = [];
  if (!concurrencyKeys) {
    rows.push(...(await select().where(eq(runs.state, "queued"))));
  } else {
    const named = [...new Set(concurrencyKeys.filter((key): key is string => key !== null))];
    for (let start = 0; start < named.length; start += KEYS_PER_QUERY) {
      rows.push(...(await select().where(and(eq(runs.state, "queued"), inArray(runs.concurrencyKey, named.slice(start, start + KEYS_PER_QUERY))))));
    }
    if (concurrencyKeys.includes(null)) rows.push(...(await select().where(and(eq(runs.state, "queued"), sql`${runs.concurrencyKey} is null`))));
  }
  return rows.map((row) => ({ key: runKeyOf(row), order: row.order, concurrencyKey: row.concurrencyKey, concurrency: row.concurrency }));
}

/** Running runs of these concurrency keys: they hold their key's places. */
export async function listRunningOfKeys(db: DbOrTx, concurrencyKeys: readonly (string | null)[]): Promise<RunningRun[]> {
  const named = [...new Set(concurrencyKeys.filter((key): key is string => key !== null))];
  const result: RunningRun[] = [];
  for (let start = 0; start < named.length; start += KEYS_PER_QUERY) {
    const rows = await db
      .select({
        order: sql<number>`${runs}.rowid`,
        namespace: runs.namespace,
        pipelineId: runs.pipelineId,
        id: runs.id,
        concurrencyKey: runs.concurrencyKey,
        cancelRequestedAt: runs.cancelRequestedAt,
      })
      .from(runs)
      .where(and(eq(runs.state, "running"), inArray(runs.concurrencyKey, named.slice(start, start + KEYS_PER_QUERY))));
    for (const row of rows) result.push({ key: runKeyOf(row), order: row.order, concurrencyKey: row.concurrencyKey, cancelRequested: row.cancelRequestedAt !== null });
  }
  return result;
}

// Looked at by every node every few seconds, idle or not: built once.
const queuedQuery = prepared((db) => db.select({ id: runs.id }).from(runs).where(eq(runs.state, "queued")).limit(1).prepare());

/** Whether any run waits in the queue (a cheap check before an admission pass). */
export async function hasQueuedRuns(db: Db): Promise<boolean> {
  return (await queuedQuery(db).all()).length > 0;
}

/** Moves queued runs to running under a node's lease, each with its started event. Returns those it moved. */
export async function admitQueued(tx: DbOrTx, keys: readonly RunKey[], admission: Admission, now: Date): Promise<RunKey[]> {
  const admitted: RunKey[] = [];
  for (const key of keys) {
    const moved = await tx
      .update(runs)
      .set({ state: "running", startedAt: now, nodeId: admission.nodeId, leaseExpiresAt: admission.leaseExpiresAt })
      .where(and(runWhere(key), eq(runs.state, "queued")))
      .returning({ id: runs.id });
    if (moved.length === 0) continue;
    await appendEvents(tx, startedEvent(key, admission.nodeId, now));
    admitted.push(key);
  }
  return admitted;
}

/** Ends a queued run as cancelled (by a person, or superseded by a newer run); false when it is no longer queued. */
export async function cancelQueued(tx: DbOrTx, key: RunKey, reason: string, now: Date, writer?: string): Promise<boolean> {
  const [row] = await tx.select({ state: runs.state }).from(runs).where(runWhere(key)).limit(1);
  if (row?.state !== "queued") return false;
  await endRunWithTasks(tx, key, { state: "cancelled", reason, taskReason: "run cancelled before it started" }, now, writer);
  return true;
}

/**
 * Where each queued run of `rows` stands in its queue and why it waits, for pages and the
 * API, by runRowKeyString (runs not queued are left out).
 */
export async function queuePlaces(db: Db, rows: readonly RunRow[]): Promise<Map<string, QueuePlace>> {
  const places = new Map<string, QueuePlace>();
  const waiting = rows.filter((row) => row.state === "queued");
  if (waiting.length === 0) return places;
  const keys = [...new Set(waiting.map((row) => row.concurrencyKey))];
  const queued = await listQueued(db, keys);
  const running = await listRunningOfKeys(db, keys);
  const { paused } = await getSystemState(db);
  const state = { paused, queued, running };
  for (const row of waiting) {
    const entry = queued.find((run) => run.key.namespace === row.namespace && run.key.id === row.pipelineId && run.key.run === row.id);
    if (entry) places.set(runRowKeyString(row), describeQueuePlace(entry, state));
  }
  return places;
}
