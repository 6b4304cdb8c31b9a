// Server-wide state, one row: whether new runs are held in the queue (paused), and the
// installation's instance id (made once, at first start).
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const systemState = sqliteTable("system_state", {
  /** Always 1: there is one row. */
  id: integer().primaryKey(),
  paused: integer({ mode: "boolean" }).notNull().default(false),
  pausedBy: text(),
  pausedAt: integer({ mode: "timestamp_ms" }),
  updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
  /**
   * A random id of this installation (its database), made at first start: the `gantry.instance`
   * label of its containers and swarm services, by which its janitor knows its own from
   * another installation's on the same engine or swarm.
   */
  instanceId: text(),
});
