// Web UI sessions: a cookie names a row here, so logout and revocation end it server-side.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { tokens } from "./tokens.ts";

export const sessions = sqliteTable("sessions", {
  id: text().primaryKey(),
  /** The API token the person logged in with; the session acts with its permissions. */
  tokenId: text()
    .notNull()
    .references(() => tokens.id, { onDelete: "cascade" }),
  createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  lastSeenAt: integer({ mode: "timestamp_ms" }).notNull(),
  /** Absolute end, whatever the activity. */
  expiresAt: integer({ mode: "timestamp_ms" }).notNull(),
  endedAt: integer({ mode: "timestamp_ms" }),
});
