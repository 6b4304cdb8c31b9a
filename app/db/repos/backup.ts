// Queries of backup and restore: a consistent copy of the live database, its check, and moving
// the bundle paths a restored database holds to the data dir it now lives in.
import type { Client } from "@libsql/client";
import { sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { pipelineVersions } from "../schema/index.ts";

/**
 * Writes a copy of the database to `path` (which must not exist) in one read transaction:
 * consistent while the server goes on writing, and compact (no WAL, free pages dropped).
 */
export async function snapshotDatabase(client: Client, path: string): Promise<void> {
  await client.execute({ sql: "VACUUM INTO ?", args: [path] });
}

/** SQLite's quick_check: "ok", or what is wrong with the file. */
export async function checkDatabase(client: Client): Promise<string> {
  const result = await client.execute("PRAGMA quick_check");
  return result.rows.map((row) => String(row[0])).join("; ");
}

/** Points bundle paths under `from` (the old server's bundles folder) at `to`; returns how many moved. */
export async function relocateBundlePaths(db: Db, from: string, to: string): Promise<number> {
  const prefix = from.endsWith("/") ? from : `${from}/`;
  const target = to.endsWith("/") ? to : `${to}/`;
  const moved = await db
    .update(pipelineVersions)
    .set({ bundlePath: sql`${target} || substr(${pipelineVersions.bundlePath}, ${prefix.length + 1})` })
    .where(sql`substr(${pipelineVersions.bundlePath}, 1, ${prefix.length}) = ${prefix}`)
    .returning({ version: pipelineVersions.version });
  return moved.length;
}
