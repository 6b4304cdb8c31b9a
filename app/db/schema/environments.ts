// Environments: named deployment targets (a provider and its config) and the global secrets
// their deploys receive, by name only.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { Protection, ProviderId, SwarmConfig } from "../../domain/environments.ts";

export const environments = sqliteTable("environments", {
  name: text().primaryKey(),
  provider: text().$type<ProviderId>().notNull(),
  /** The provider's settings (a swarm's engine URL); never a credential. */
  config: text({ mode: "json" }).$type<SwarmConfig>().notNull(),
  /** Names of global secrets given to its deploys; never their values. */
  secrets: text({ mode: "json" }).$type<string[]>().notNull(),
  description: text(),
  /** Its protection rules (pipelines, branches, approval, wait); {} when none. */
  protection: text({ mode: "json" }).$type<Protection>().notNull().default({}),
  createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
});
