// Git repositories pipelines are synced from: what each source says, and where its sync stands.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { CommitInfo } from "../../domain/sources.ts";

export type SourceState = "new" | "syncing" | "ok" | "error";

/** What the last sync that got through did: shown on the source until the next one. */
export interface LastSync {
  at: string;
  commits: number;
  loaded: number;
  versions: { pipeline: string; version: number; commit: string }[];
  failures: { file: string; commit: string; issues: { path: string; message: string }[] }[];
  warnings: string[];
}

export const sources = sqliteTable("sources", {
  name: text().primaryKey(),
  repo: text().notNull(),
  branch: text().notNull(),
  path: text().notNull(),
  namespace: text().notNull(),
  /** A global secret's name holding the credentials; never the credentials. */
  auth: text(),
  hookSecret: text(),
  pollIntervalMs: integer().notNull(),
  /** "config": written by gantry.toml at start, refused over the API; "api": a person's. */
  definedIn: text().$type<"api" | "config">().notNull(),
  state: text().$type<SourceState>().notNull(),
  /** The branch's commit the pipelines were last synced to. */
  head: text({ mode: "json" }).$type<CommitInfo>(),
  /** Why the last sync failed; the last good versions keep running meanwhile. */
  lastError: text(),
  lastSync: text({ mode: "json" }).$type<LastSync>(),
  lastSyncAt: integer({ mode: "timestamp_ms" }),
  /** When the remote was last asked (a poll that found nothing new counts). */
  lastCheckedAt: integer({ mode: "timestamp_ms" }),
  createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
});
