// API tokens. Only a hash of the secret is stored.
import { integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tokens = sqliteTable(
  "tokens",
  {
    id: text().primaryKey(),
    name: text().notNull(),
    /** sha256 of the secret, hex. */
    hash: text().notNull(),
    roles: text({ mode: "json" }).$type<string[]>().notNull(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    expiresAt: integer({ mode: "timestamp_ms" }),
    revokedAt: integer({ mode: "timestamp_ms" }),
    lastUsedAt: integer({ mode: "timestamp_ms" }),
  },
  (table) => [uniqueIndex("tokens_hash").on(table.hash)],
);
