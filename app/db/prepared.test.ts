// Queries built once (prepared.ts) against a real libSQL file with the server's schema: a kept
// query runs in the transaction its caller holds (it sees that transaction's writes and is
// undone with it), in the database otherwise, and the repos built on them store and read
// back what the built-each-time queries did, nulls and times included.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { eq, sql } from "drizzle-orm";
import { openDatabase, type Database } from "./client.ts";
import { migrate } from "./migrate.ts";
import { prepared } from "./prepared.ts";
import { tokens } from "./schema/index.ts";
import { findTokenByHash, insertToken, revokeRunTokensOf } from "./repos/tokens.ts";
import { upsertPipeline } from "./repos/pipelines.ts";
import { getRun, insertRun } from "./repos/runs.ts";
import { claimAttempt, endAttempt } from "./repos/task-executions.ts";

const dirs: string[] = [];
const fresh = async (): Promise<{ database: Database; file: string }> => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-prepared-"));
  dirs.push(dir);
  const file = join(dir, "gantry.db");
  const database = await openDatabase(`file:${file}`);
  await migrate(database.client);
  return { database, file };
};
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Token names as another connection sees them: only what was committed. */
async function committedNames(file: string): Promise<string[]> {
  const other = createClient({ url: `file:${file}` });
  try {
    return (await other.execute("SELECT name FROM tokens ORDER BY name")).rows.map((row) => String(row.name));
  } finally {
    other.close();
  }
}

const token = (name: string, extra: Partial<typeof tokens.$inferInsert> = {}): typeof tokens.$inferInsert => ({
  id: `id-${name}`,
  name,
  hash: `hash-${name}`,
  roles: ["viewer"],
  createdAt: new Date(1_700_000_000_123),
  ...extra,
});

describe("a query built once", () => {
  const byName = prepared((db) => db.select({ name: tokens.name }).from(tokens).where(eq(tokens.name, sql.placeholder("name"))).prepare());

  it("runs in the caller's transaction: it sees that transaction's writes, and they go with its rollback", async () => {
    const { database, file } = await fresh();
    const { db } = database;
    // Built first outside any transaction, then used inside one.
    expect(await byName(db).all({ name: "a" })).toEqual([]);
    await db
      .transaction(async (tx) => {
        await insertToken(tx, token("a"));
        expect(await byName(tx).all({ name: "a" })).toEqual([{ name: "a" }]);
        throw new Error("undo");
      })
      .catch((error: Error) => expect(error.message).toBe("undo"));
    expect(await byName(db).all({ name: "a" })).toEqual([]);
    expect(await committedNames(file)).toEqual([]);

    await db.transaction(async (tx) => {
      await insertToken(tx, token("b"));
      expect(await byName(tx).all({ name: "b" })).toEqual([{ name: "b" }]);
    });
    expect(await committedNames(file)).toEqual(["b"]);
    expect(await byName(db).all({ name: "b" })).toEqual([{ name: "b" }]);
  });

  it("is built once per database, and another database gets its own", async () => {
    const first = await fresh();
    const second = await fresh();
    await insertToken(first.database.db, token("only-in-first"));
    expect(await byName(first.database.db).all({ name: "only-in-first" })).toEqual([{ name: "only-in-first" }]);
    expect(await byName(second.database.db).all({ name: "only-in-first" })).toEqual([]);
    expect(byName(first.database.db)).toBe(byName(first.database.db));
    expect(await committedNames(second.file)).toEqual([]);
  });

  it("names a missing value", async () => {
    const { database } = await fresh();
    await expect(byName(database.db).all({})).rejects.toThrow('No value for placeholder "name"');
  });

  it("stores nulls as NULL and times as milliseconds, and reads them back as before", async () => {
    const { database, file } = await fresh();
    const { db } = database;
    const expires = new Date(1_800_000_000_456);
    await insertToken(db, token("plain"));
    await insertToken(db, token("full", { permissions: [{ resource: "*", target: "default/x", actions: ["read"] }], run: "default/x#1", task: "a", scope: "api", expiresAt: expires }));
    const raw = createClient({ url: `file:${file}` });
    try {
      const rows = (await raw.execute("SELECT name, permissions, run, expires_at, created_at, sign_in FROM tokens ORDER BY name")).rows;
      expect(rows.map((row) => ({ ...row }) as Record<string, unknown>)).toEqual([
        { name: "full", permissions: '[{"resource":"*","target":"default/x","actions":["read"]}]', run: "default/x#1", expires_at: 1_800_000_000_456, created_at: 1_700_000_000_123, sign_in: 0 },
        { name: "plain", permissions: null, run: null, expires_at: null, created_at: 1_700_000_000_123, sign_in: 0 },
      ]);
    } finally {
      raw.close();
    }
    const full = await findTokenByHash(db, "hash-full");
    expect(full?.permissions).toEqual([{ resource: "*", target: "default/x", actions: ["read"] }]);
    expect(full?.expiresAt).toEqual(expires);
    expect((await findTokenByHash(db, "hash-plain"))?.expiresAt).toBeNull();
    expect(await revokeRunTokensOf(db, { namespace: "default", id: "x", run: 1 }, new Date(1_900_000_000_000))).toBe(1);
    expect((await findTokenByHash(db, "hash-full"))?.revokedAt).toEqual(new Date(1_900_000_000_000));
  });

  it("carries a run through its claim and end: the rows read back as the engine wrote them", async () => {
    const { database } = await fresh();
    const { db } = database;
    const key = { namespace: "default", id: "p" };
    await upsertPipeline(db, key, "p.ts", new Date(1_700_000_000_000));
    const now = new Date(1_700_000_100_000);
    const run = await db.transaction((tx) =>
      insertRun(
        tx,
        key,
        { trigger: { kind: "api" }, version: 1, variables: { A: "1" }, inputs: {}, tasks: [{ id: "a", kind: "run" }, { id: "b", kind: "run" }], concurrencyKey: null, concurrency: null },
        now,
        { nodeId: "node-1", leaseExpiresAt: new Date(now.getTime() + 30_000) },
      ),
    );
    expect(run).toMatchObject({ id: 1, state: "running", nodeId: "node-1", startedAt: now, actor: null, concurrency: null, commit: null, variables: { A: "1" } });
    expect(run.tasks.map((task) => [task.taskId, task.state, task.attempt])).toEqual([["a", "pending", 0], ["b", "pending", 0]]);
    const runKey = { ...key, run: 1 };
    const claimed = await claimAttempt(db, runKey, {
      taskId: "a",
      attempt: 1,
      executor: "run",
      ref: "ref-1",
      nodeId: "node-1",
      leaseExpiresAt: new Date(now.getTime() + 60_000),
      logFrom: 0,
      now,
      event: { kind: "task.started", namespace: "default", pipelineId: "p", runId: 1, taskId: "a", data: {}, at: now, nodeId: "node-1" },
    });
    expect(claimed).toEqual({ status: "claimed" });
    // Another node's claim is refused: the run is node-1's.
    expect(await claimAttempt(db, runKey, { taskId: "b", attempt: 1, executor: "run", ref: "ref-2", nodeId: "node-2", leaseExpiresAt: now, logFrom: 0, now, event: { kind: "task.started", data: {}, at: now } })).toEqual({ status: "lost" });
    const ended = new Date(now.getTime() + 1_500);
    await endAttempt(db, runKey, "a", 1, { state: "successful", exitCode: 0, reason: null, logTo: 3, now: ended }, {
      change: { state: "successful", exitCode: 0, reason: null, endedAt: ended },
      event: { kind: "task.finished", namespace: "default", pipelineId: "p", runId: 1, taskId: "a", data: { state: "successful" }, at: ended, nodeId: "node-1" },
    });
    const read = await getRun(db, runKey);
    const a = read!.tasks.find((task) => task.taskId === "a")!;
    expect(a).toMatchObject({ state: "successful", exitCode: 0, attempt: 1, startedAt: now, endedAt: ended, leaseExpiresAt: null, retryAt: null, nodeId: "node-1" });
    expect(a.attempts).toEqual([expect.objectContaining({ attempt: 1, state: "successful", exitCode: 0, ref: "ref-1", logFrom: 0, logTo: 3, startedAt: now, endedAt: ended })]);
    expect(read!.tasks.find((task) => task.taskId === "b")).toMatchObject({ state: "pending", attempt: 0, attempts: [] });
  });
});
