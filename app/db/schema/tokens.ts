// API tokens. Only a hash of the secret is stored.
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Permission } from "../../domain/permissions.ts";

export const tokens = sqliteTable(
  "tokens",
  {
    id: text().primaryKey(),
    name: text().notNull(),
    /** sha256 of the secret, hex. */
    hash: text().notNull(),
    roles: text({ mode: "json" }).$type<string[]>().notNull(),
    /** Permissions of the token itself, beside its roles (run tokens: their own pipeline only). */
    permissions: text({ mode: "json" }).$type<Permission[]>(),
    /** Set only on tokens the engine issues to a task: the run (its run key string), the task and what it is for. No person can create one. */
    run: text(),
    task: text(),
    /** "bundle": reads its run's pipeline bundle and nothing else (a runner in a container fetches it). */
    scope: text().$type<"api" | "objects" | "bundle">(),
    /** The person the token belongs to: the token a sign-in made (`signIn`), or a personal token they created. */
    userId: text(),
    /** A token made by a sign-in to carry that person's session; never shown or used outside it. */
    signIn: integer({ mode: "boolean" }).notNull().default(false),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    expiresAt: integer({ mode: "timestamp_ms" }),
    revokedAt: integer({ mode: "timestamp_ms" }),
    lastUsedAt: integer({ mode: "timestamp_ms" }),
  },
  (table) => [uniqueIndex("tokens_hash").on(table.hash), index("tokens_run").on(table.run), index("tokens_user").on(table.userId)],
);
