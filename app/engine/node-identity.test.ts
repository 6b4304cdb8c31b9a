import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { hostname } from "node:os";
import { join } from "node:path";
import { openDatabase, type Database } from "../db/client.ts";
import { migrate } from "../db/migrate.ts";
import { registerNode, releaseNode } from "../db/repos/nodes.ts";
import { tempDir } from "../../test/helpers/temp.ts";
import { loadNodeId, nodeIdProblem } from "./node-identity.ts";

let database: Database;
const lease = { leaseMs: 3_000, now: () => new Date(), watchPollMs: 50 };

beforeAll(async () => {
  database = await openDatabase(`file:${join(tempDir("gantry-node-id-"), "gantry.db")}`);
  await migrate(database.client);
});
afterAll(() => database.close());

const register = (id: string, pid: number, host = hostname(), at = new Date()) => registerNode(database.db, { id, hostname: host, pid, version: "test" }, at);

describe("a node id", () => {
  it("is refused while another live server of this machine holds it", async () => {
    const other = Bun.spawn(["sleep", "30"]);
    try {
      await register("held", other.pid);
      expect(await nodeIdProblem(database.db, "held", lease)).toContain("node id held is in use by a running server (pid");
      // Killed (kill -9) and reaped: its restart may be the node again at once.
      other.kill("SIGKILL");
      await other.exited;
      expect(await nodeIdProblem(database.db, "held", lease)).toBeUndefined();
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("is free when nobody holds it, its holder stopped cleanly, its heartbeat is old, or it is this process", async () => {
    expect(await nodeIdProblem(database.db, "nobody", lease)).toBeUndefined();
    const other = Bun.spawn(["sleep", "30"]);
    try {
      await register("stopped", other.pid);
      await releaseNode(database.db, "stopped", new Date());
      expect(await nodeIdProblem(database.db, "stopped", lease)).toBeUndefined();
      await register("lapsed", other.pid, hostname(), new Date(Date.now() - 10_000));
      expect(await nodeIdProblem(database.db, "lapsed", lease)).toBeUndefined();
    } finally {
      other.kill("SIGKILL");
    }
    await register("self", process.pid);
    expect(await nodeIdProblem(database.db, "self", lease)).toBeUndefined();
  });

  it("held on another machine is watched: refused if its heartbeat moves, free if it stays", async () => {
    await register("far", 4242, "elsewhere");
    const beat = setTimeout(() => void database.client.execute({ sql: "update nodes set heartbeat_at = ? where id = 'far'", args: [Date.now()] }), 100);
    expect(await nodeIdProblem(database.db, "far", { ...lease, leaseMs: 600 })).toContain("pid 4242 on elsewhere");
    clearTimeout(beat);
    await register("quiet", 4242, "elsewhere");
    expect(await nodeIdProblem(database.db, "quiet", { ...lease, leaseMs: 600 })).toBeUndefined();
  });

  it("kept in the data dir is the same on every start", () => {
    const dir = tempDir("gantry-node-id-dir-");
    const first = loadNodeId(dir);
    expect(loadNodeId(dir)).toBe(first);
  });
});
