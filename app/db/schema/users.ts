// People who sign in through an identity provider (OIDC or GitHub). Their roles are those the
// provider's groups map to at their last sign-in, plus those an admin granted directly.
import { integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const users = sqliteTable(
  "users",
  {
    id: text().primaryKey(),
    /** "oidc" or "github". */
    provider: text().$type<"oidc" | "github">().notNull(),
    /** Which provider of that kind: the OIDC issuer URL, or GitHub's host (github.com, an Enterprise host). */
    issuer: text().notNull().default(""),
    /** The provider's stable id for the person (OIDC `sub`, GitHub user id), unique within its issuer only. */
    subject: text().notNull(),
    /** A display name: the provider's name, else its login or email. */
    name: text().notNull(),
    /** The provider's login (GitHub) or preferred_username (OIDC), when it gives one. */
    login: text(),
    email: text(),
    avatarUrl: text(),
    /** Roles the provider's groups (or GitHub teams) mapped to at the last sign-in. */
    mappedRoles: text({ mode: "json" }).$type<string[]>().notNull(),
    /** Roles an admin granted directly, kept across sign-ins. */
    grantedRoles: text({ mode: "json" }).$type<string[]>().notNull(),
    /** The groups the provider named at the last sign-in, for people reading why a role was given. */
    groups: text({ mode: "json" }).$type<string[]>().notNull(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    lastSignInAt: integer({ mode: "timestamp_ms" }),
    disabledAt: integer({ mode: "timestamp_ms" }),
    disabledBy: text(),
  },
  (table) => [uniqueIndex("users_identity").on(table.provider, table.issuer, table.subject)],
);
