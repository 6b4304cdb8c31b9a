// Applies the drizzle-kit migrations embedded in drizzle/migrations.ts, in drizzle's own
// bookkeeping table, so drizzle-kit and the server agree on what has run.
import type { Client } from "@libsql/client";
import { migrations } from "../../drizzle/migrations.ts";

export async function migrate(client: Client): Promise<number> {
  await client.execute(
    `CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id INTEGER PRIMARY KEY, hash text NOT NULL, created_at numeric)`,
  );
  const pendingAfter = async (last: { rows: ArrayLike<ArrayLike<unknown>> }) => {
    const lastWhen = last.rows[0] ? Number(last.rows[0][0]) : -1;
    return migrations.filter((migration) => migration.when > lastWhen);
  };
  const LAST = `SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1`;
  if ((await pendingAfter(await client.execute(LAST))).length === 0) return 0;
  const tx = await client.transaction("write");
  try {
    // Read again holding the write lock: a server starting beside this one may have just applied them.
    const pending = await pendingAfter(await tx.execute(LAST));
    for (const migration of pending) {
      const statements = migration.sql.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean);
      for (const statement of statements) await tx.execute(statement);
      const hash = new Bun.CryptoHasher("sha256").update(migration.sql).digest("hex");
      await tx.execute({
        sql: `INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES (?, ?)`,
        args: [hash, migration.when],
      });
    }
    await tx.commit();
    return pending.length;
  } catch (error) {
    await tx.rollback();
    throw error;
  }
}
