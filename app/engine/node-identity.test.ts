import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { openDatabase, type Database } from "../db/client.ts";
import { migrate } from "../db/migrate.ts";
import { claimNode, getNode, releaseNode, renewLeases } from "../db/repos/nodes.ts";
import { createFileOnce } from "../stores/create-once.ts";
import { tempDir } from "../../test/helpers/temp.ts";
import { claimNodeId, loadNodeId, pidScope } from "./node-identity.ts";
import type { EngineNode } from "./runs/engine-context.ts";

let database: Database;
const LEASE_MS = 600;
const options = { leaseMs: LEASE_MS, now: () => new Date(), watchPollMs: 25 };

beforeAll(async () => {
  database = await openDatabase(`file:${join(tempDir("gantry-node-id-"), "gantry.db")}`);
  await migrate(database.client);
});
afterAll(() => database.close());

/** A server process as a node: its own instance, this machine's pid scope unless told. */
const nodeOf = (id: string, fields: Partial<EngineNode> = {}): EngineNode => ({
  id,
  hostname: hostname(),
  pid: process.pid,
  version: "test",
  instance: crypto.randomUUID(),
  pidScope: pidScope(),
  ...fields,
});

/** Beats for whichever of `nodes` holds the id, as their heartbeats would (only the holder's take). */
const beating = (...nodes: EngineNode[]) => {
  const timer = setInterval(() => {
    for (const node of nodes) void renewLeases(database.db, node, new Date(), new Date(Date.now() + LEASE_MS));
  }, LEASE_MS / 6);
  return { stop: () => clearInterval(timer) };
};

const timed = async <T>(work: Promise<T>): Promise<{ value: T; ms: number }> => {
  const started = Date.now();
  const value = await work;
  return { value, ms: Date.now() - started };
};

describe("a node id", () => {
  it("claimed by two servers at the same moment goes to exactly one; the other is told who holds it", async () => {
    const [a, b] = [nodeOf("together"), nodeOf("together")];
    const beat = beating(a, b);
    try {
      const problems = await Promise.all([claimNodeId(database.db, a, options), claimNodeId(database.db, b, options)]);
      expect(problems.filter((problem) => problem === undefined)).toHaveLength(1);
      expect(problems.find((problem) => problem !== undefined)).toContain(`node id together is in use by a running server (pid ${process.pid} on ${hostname()}`);
      const winner = problems[0] === undefined ? a : b;
      expect((await getNode(database.db, "together"))?.instance).toBe(winner.instance);
    } finally {
      beat.stop();
    }
  });

  it("held by a live process of the same host and pid (a container's pid 1) is refused: only the instance counts", async () => {
    const holder = nodeOf("same-pid");
    expect(await claimNodeId(database.db, holder, options)).toBeUndefined();
    const beat = beating(holder);
    try {
      expect(await claimNodeId(database.db, nodeOf("same-pid"), options)).toContain("node id same-pid is in use by a running server");
    } finally {
      beat.stop();
    }
  });

  it("is free at once when nobody holds it, its holder stopped cleanly or its heartbeat is older than the lease", async () => {
    expect((await timed(claimNodeId(database.db, nodeOf("nobody"), options))).ms).toBeLessThan(LEASE_MS / 3);
    const stopping = nodeOf("stopped");
    await claimNodeId(database.db, stopping, options);
    await releaseNode(database.db, stopping, new Date());
    const afterStop = await timed(claimNodeId(database.db, nodeOf("stopped"), options));
    expect(afterStop).toMatchObject({ value: undefined });
    expect(afterStop.ms).toBeLessThan(LEASE_MS / 3);
    await claimNode(database.db, nodeOf("lapsed"), new Date(Date.now() - 10_000), { lapsedBefore: new Date(0) });
    const afterLapse = await timed(claimNodeId(database.db, nodeOf("lapsed"), options));
    expect(afterLapse).toMatchObject({ value: undefined });
    expect(afterLapse.ms).toBeLessThan(LEASE_MS / 3);
  });

  it("held by a process of this pid namespace that is gone (kill -9) is free at once; one of another namespace is watched first", async () => {
    const other = Bun.spawn(["sleep", "30"]);
    other.kill("SIGKILL");
    await other.exited;
    await claimNodeId(database.db, nodeOf("killed-here", { pid: other.pid }), options);
    const here = await timed(claimNodeId(database.db, nodeOf("killed-here"), options));
    expect(here).toMatchObject({ value: undefined });
    expect(here.ms).toBeLessThan(LEASE_MS / 3);
    // The same pid in another container's namespace says nothing of that process: watched for a heartbeat, none came.
    await claimNodeId(database.db, nodeOf("killed-elsewhere", { pid: other.pid, pidScope: "another-boot/pid:[1]" }), options);
    const elsewhere = await timed(claimNodeId(database.db, nodeOf("killed-elsewhere"), options));
    expect(elsewhere).toMatchObject({ value: undefined });
    expect(elsewhere.ms).toBeGreaterThanOrEqual(LEASE_MS - 50);
  });

  it("taken from a holder that stopped beating leaves the holder's heartbeat without effect", async () => {
    const stalled = nodeOf("stalled", { pidScope: "" });
    await claimNodeId(database.db, stalled, options);
    const next = nodeOf("stalled");
    expect(await claimNodeId(database.db, next, options)).toBeUndefined();
    expect(await renewLeases(database.db, stalled, new Date(), new Date())).toBe(false);
    // Stopping, it lets go of nothing it no longer holds.
    await releaseNode(database.db, stalled, new Date());
    expect(await getNode(database.db, "stalled")).toMatchObject({ instance: next.instance, stoppedAt: null });
    expect(await renewLeases(database.db, next, new Date(), new Date())).toBe(true);
  });

  it("kept in the data dir is the same on every start", () => {
    const dir = tempDir("gantry-node-id-dir-");
    const first = loadNodeId(dir);
    expect(first).toMatch(/^node-[a-z0-9]{12}$/);
    expect(loadNodeId(dir)).toBe(first);
    // Written whole beside it and linked in: nothing else is left in the folder.
    expect(readdirSync(dir)).toEqual(["node-id"]);
  });
});

describe("createFileOnce", () => {
  it("keeps the first writer's text and answers it to the later ones", () => {
    const file = join(tempDir("gantry-create-once-"), "key");
    expect(createFileOnce(file, "first\n", 0o600)).toBe("first\n");
    expect(createFileOnce(file, "second\n", 0o600)).toBe("first\n");
  });
});
