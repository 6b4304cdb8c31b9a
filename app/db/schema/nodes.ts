// The servers (nodes) working on this database, each with a heartbeat; a node's id is
// kept in its data dir, so a restarted server is the same node and takes back its runs.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const nodes = sqliteTable("nodes", {
  id: text().primaryKey(),
  hostname: text().notNull(),
  pid: integer().notNull(),
  version: text().notNull(),
  startedAt: integer({ mode: "timestamp_ms" }).notNull(),
  heartbeatAt: integer({ mode: "timestamp_ms" }).notNull(),
  /** Set when the node stopped cleanly. */
  stoppedAt: integer({ mode: "timestamp_ms" }),
});
