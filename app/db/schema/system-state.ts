// Server-wide switches, one row: whether new runs are held in the queue (paused).
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const systemState = sqliteTable("system_state", {
  /** Always 1: there is one row. */
  id: integer().primaryKey(),
  paused: integer({ mode: "boolean" }).notNull().default(false),
  pausedBy: text(),
  pausedAt: integer({ mode: "timestamp_ms" }),
  updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
});
