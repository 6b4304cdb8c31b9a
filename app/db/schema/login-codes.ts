// One-time login codes: the first-start link carries one instead of the admin token. Only a
// hash is kept; a code works once, by POST, until it expires.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { tokens } from "./tokens.ts";

export const loginCodes = sqliteTable("login_codes", {
  /** sha256 of the code, hex. */
  hash: text().primaryKey(),
  /** The token a session made from this code acts as. */
  tokenId: text()
    .notNull()
    .references(() => tokens.id, { onDelete: "cascade" }),
  createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  expiresAt: integer({ mode: "timestamp_ms" }).notNull(),
  usedAt: integer({ mode: "timestamp_ms" }),
});
