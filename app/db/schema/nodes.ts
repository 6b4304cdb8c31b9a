// The servers (nodes) working on this database, each with a heartbeat; a node's id is
// kept in its data dir, so a restarted server is the same node and takes back its runs.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const nodes = sqliteTable("nodes", {
  id: text().primaryKey(),
  hostname: text().notNull(),
  pid: integer().notNull(),
  version: text().notNull(),
  /**
   * The process holding the id: a random value each start picks. The id is claimed with it,
   * and a heartbeat under another instance changes nothing (that server lost the id).
   */
  instance: text().notNull().default(""),
  /**
   * Where `pid` means something: the machine's boot and the pid namespace ("" when unknown).
   * A holder in this process's scope whose pid is gone is dead, and its id free at once.
   */
  pidScope: text().notNull().default(""),
  startedAt: integer({ mode: "timestamp_ms" }).notNull(),
  heartbeatAt: integer({ mode: "timestamp_ms" }).notNull(),
  /** Set when the node stopped cleanly. */
  stoppedAt: integer({ mode: "timestamp_ms" }),
});
