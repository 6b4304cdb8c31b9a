// The installation's instance id (the gantry.instance label of its containers and services):
// random, made once per database and kept, the same for every server on that database, and
// different for two installations even when their database paths are the same.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, type Database } from "../client.ts";
import { migrate } from "../migrate.ts";
import { tempDir } from "../../../test/helpers/temp.ts";
import { ensureInstanceId, getSystemState, setPaused } from "./system-state.ts";

const opened: Database[] = [];
async function freshDatabase(dir = tempDir("gantry-instance-")): Promise<Database> {
  const database = await openDatabase(`file:${join(dir, "gantry.db")}`);
  await migrate(database.client);
  opened.push(database);
  return database;
}
afterAll(() => opened.forEach((database) => database.close()));

describe("the instance id", () => {
  it("is made once per database: servers starting together agree, a restart keeps it, the pause switch leaves it", async () => {
    const database = await freshDatabase();
    const [a, b] = await Promise.all([ensureInstanceId(database.db, new Date()), ensureInstanceId(database.db, new Date())]);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(b).toBe(a);
    await setPaused(database.db, true, "admin", new Date());
    expect(await ensureInstanceId(database.db, new Date())).toBe(a);
    expect((await getSystemState(database.db)).paused).toBe(true);
  });

  it("differs between two installations, even at the same database path", async () => {
    // Two machines sharing a swarm, each with the default data dir: the same path, another database.
    const dir = tempDir("gantry-instance-");
    const first = await freshDatabase(dir);
    const firstId = await ensureInstanceId(first.db, new Date());
    first.close();
    opened.splice(opened.indexOf(first), 1);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    expect(await ensureInstanceId((await freshDatabase(dir)).db, new Date())).not.toBe(firstId);
  });
});
