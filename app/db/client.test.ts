// The embedded database's group commit: transactions that queue up behind each other are
// committed together, each caller hearing of its commit only once it is durable; a failing
// one undoes only itself. Against a real libSQL file, and a process killed with -9.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { openDatabase, type Database } from "./client.ts";

const dirs: string[] = [];
const fresh = async (): Promise<{ database: Database; file: string }> => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-db-"));
  dirs.push(dir);
  const file = join(dir, "test.db");
  const database = await openDatabase(`file:${file}`);
  await database.client.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
  return { database, file };
};
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** The rows as another connection sees them: only what was committed. */
async function committed(file: string): Promise<string[]> {
  const other = createClient({ url: `file:${file}` });
  try {
    return (await other.execute("SELECT name FROM items ORDER BY id")).rows.map((row) => String(row.name));
  } finally {
    other.close();
  }
}

describe("group commit", () => {
  it("commits transactions and writes that queue up together, and undoes only the one that fails", async () => {
    const { database, file } = await fresh();
    const { client } = database;
    const transaction = async (name: string, fail = false) => {
      const tx = await client.transaction("write");
      try {
        await tx.execute({ sql: "INSERT INTO items (name) VALUES (?)", args: [`${name}-a`] });
        // What it wrote is visible inside it.
        expect((await tx.execute({ sql: "SELECT count(*) AS n FROM items WHERE name = ?", args: [`${name}-a`] })).rows[0]!.n).toBe(1);
        if (fail) throw new Error(`${name} fails`);
        await tx.execute({ sql: "INSERT INTO items (name) VALUES (?)", args: [`${name}-b`] });
        await tx.commit();
      } catch (error) {
        await tx.rollback();
        throw error;
      }
    };
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 40 }, (_, i) => transaction(`t${i}`, i === 17)),
      ...Array.from({ length: 20 }, (_, i) => client.execute({ sql: "INSERT INTO items (name) VALUES (?)", args: [`w${i}`] })),
      // A write that breaks a constraint fails alone.
      client.execute({ sql: "INSERT INTO items (name) VALUES (?)", args: ["t3-a"] }),
    ]);
    const failed = outcomes.flatMap((outcome, index) => (outcome.status === "rejected" ? [index] : []));
    expect(failed).toEqual([17, 60]);
    expect((outcomes[17] as PromiseRejectedResult).reason.message).toBe("t17 fails");
    expect(String((outcomes[60] as PromiseRejectedResult).reason.message)).toContain("UNIQUE");
    // Every acknowledged write is committed (another connection sees it); the failed ones left nothing.
    const names = await committed(file);
    expect(names).toHaveLength(39 * 2 + 20);
    expect(names).not.toContain("t17-a");
    expect(names.filter((name) => name === "t3-a")).toHaveLength(1);
    database.close();
  });

  it("runs what cannot be in a transaction (PRAGMA, VACUUM INTO) after committing the group", async () => {
    const { database, file } = await fresh();
    const writes = Array.from({ length: 10 }, (_, i) => database.client.execute({ sql: "INSERT INTO items (name) VALUES (?)", args: [`v${i}`] }));
    const copy = join(file, "..", "copy.db");
    const vacuum = database.client.execute({ sql: "VACUUM INTO ?", args: [copy] });
    await Promise.all([...writes, vacuum]);
    expect(await committed(copy)).toHaveLength(10);
    expect((await database.client.execute("PRAGMA journal_mode")).rows[0]!.journal_mode).toBe("wal");
    database.close();
  });

  it("keeps every acknowledged commit when the process is killed with -9 mid-stream", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-db-kill-"));
    dirs.push(dir);
    const file = join(dir, "kill.db");
    const script = join(dir, "writer.ts");
    await Bun.write(
      script,
      `import { openDatabase } from ${JSON.stringify(join(import.meta.dir, "client.ts"))};
const { client } = await openDatabase(${JSON.stringify(`file:${file}`)});
await client.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
console.log("ready");
let i = 0;
for (;;) {
  // Eight at a time, so they group.
  await Promise.all(Array.from({ length: 8 }, async () => {
    const name = "n" + i++;
    const tx = await client.transaction("write");
    await tx.execute({ sql: "INSERT INTO items (name) VALUES (?)", args: [name] });
    await tx.commit();
    console.log("acked " + name);
  }));
}
`,
    );
    const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
    const acked: string[] = [];
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += decoder.decode(chunk);
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith("acked ")) acked.push(line.slice(6));
      if (acked.length >= 400) {
        child.kill("SIGKILL");
        break;
      }
    }
    await child.exited;
    const names = new Set(await committed(file));
    expect(acked.length).toBeGreaterThanOrEqual(400);
    expect(acked.filter((name) => !names.has(name))).toEqual([]);
  });
});
