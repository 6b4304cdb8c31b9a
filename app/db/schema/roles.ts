// Custom roles: named lists of permissions. Built-in roles live in code and cannot change.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { Permission } from "../../domain/permissions.ts";

export const roles = sqliteTable("roles", {
  id: text().primaryKey(),
  description: text().notNull().default(""),
  permissions: text({ mode: "json" }).$type<Permission[]>().notNull(),
  createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
});
