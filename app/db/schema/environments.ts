// Environments: named deployment targets (a provider and its config) and the global secrets
// their deploys receive, by name only. One is shared by every namespace, or a namespace's own.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { EnvironmentStatus, Protection } from "../../domain/environments.ts";
import type { ProviderConfig, ProviderId } from "../../domain/provider-configs.ts";

export const environments = sqliteTable("environments", {
  /**
   * Its key (environmentKey): the name of a shared environment, "<namespace>/<name>" of a
   * namespace's own. Deployments, service labels and permission targets use it.
   */
  key: text("name").primaryKey(),
  /** The namespace whose pipelines alone deploy here; null when every namespace's may. */
  namespace: text(),
  provider: text().$type<ProviderId>().notNull(),
  /** The provider's settings (a swarm's engine URL); never a credential. */
  config: text({ mode: "json" }).$type<ProviderConfig>().notNull(),
  /** Names of global secrets given to its deploys; never their values. */
  secrets: text({ mode: "json" }).$type<string[]>().notNull(),
  description: text(),
  /** Its protection rules (pipelines, branches, approval, wait); {} when none. */
  protection: text({ mode: "json" }).$type<Protection>().notNull().default({}),
  /** The last word on whether its target answers (a connection test or a deploy): ok or failing; null before any. */
  status: text().$type<EnvironmentStatus>(),
  statusDetail: text(),
  statusAt: integer({ mode: "timestamp_ms" }),
  createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
});
