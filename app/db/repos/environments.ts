// Queries for environments: their settings and last known status, by key (environmentKey).
import { eq, inArray, isNull, or } from "drizzle-orm";
import type { Db } from "../client.ts";
import { environments } from "../schema/index.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { deployCandidates, environmentKey, environmentRefOf, type EnvironmentRef, type EnvironmentSettings, type EnvironmentStatus } from "../../domain/environments.ts";

export type EnvironmentRow = typeof environments.$inferSelect;

/** Its name without the namespace. */
export const nameOf = (row: Pick<EnvironmentRow, "key">) => environmentRefOf(row.key).name;

/** Every environment, or those a namespace's deploys can reach (its own and the shared ones). */
export async function listEnvironments(db: Db, options: { namespace?: string } = {}): Promise<EnvironmentRow[]> {
  const query = db.select().from(environments);
  const filtered = options.namespace === undefined ? query : query.where(or(eq(environments.namespace, options.namespace), isNull(environments.namespace)));
  return filtered.orderBy(environments.key);
}

export async function getEnvironment(db: Db, key: string): Promise<EnvironmentRow | undefined> {
  const [row] = await db.select().from(environments).where(eq(environments.key, key)).limit(1);
  return row;
}

/** The environment, or NotFoundError "environment <key> not found". */
export async function requireEnvironment(db: Db, key: string): Promise<EnvironmentRow> {
  const row = await getEnvironment(db, key);
  if (!row) throw new NotFoundError(`environment ${key} not found`);
  return row;
}

/** The environment a deploy of a pipeline of `namespace` to `name` goes to: the namespace's own, else the shared one. */
export async function environmentForDeploy(db: Db, namespace: string, name: string): Promise<EnvironmentRow | undefined> {
  const candidates = deployCandidates(namespace, name);
  const rows = await db.select().from(environments).where(inArray(environments.key, candidates));
  return candidates.map((key) => rows.find((row) => row.key === key)).find((row) => row !== undefined);
}

/** The settings of an environment as its row holds them. */
export function environmentSettingsOf(row: EnvironmentRow): EnvironmentSettings {
  return {
    provider: row.provider,
    config: row.config,
    secrets: row.secrets,
    ...(row.description !== null && { description: row.description }),
    protection: row.protection,
  };
}

const rowValues = (settings: EnvironmentSettings, now: Date) => ({
  provider: settings.provider,
  config: settings.config,
  secrets: settings.secrets,
  description: settings.description ?? null,
  protection: settings.protection,
  updatedAt: now,
});

/** Creates an environment; undefined when one of that key exists already (nothing changed). */
export async function insertEnvironment(db: Db, ref: EnvironmentRef, settings: EnvironmentSettings, now: Date): Promise<EnvironmentRow | undefined> {
  // One statement, so two creations of a name at once cannot both succeed.
  const [row] = await db
    .insert(environments)
    .values({ key: environmentKey(ref), namespace: ref.namespace, ...rowValues(settings, now), createdAt: now })
    .onConflictDoNothing()
    .returning();
  return row;
}

/** Creates or replaces an environment's settings; its deployments and status stay. */
export async function upsertEnvironment(db: Db, ref: EnvironmentRef, settings: EnvironmentSettings, now: Date): Promise<{ environment: EnvironmentRow; created: boolean }> {
  const inserted = await insertEnvironment(db, ref, settings, now);
  if (inserted) return { environment: inserted, created: true };
  const [updated] = await db.update(environments).set(rowValues(settings, now)).where(eq(environments.key, environmentKey(ref))).returning();
  // Deleted between the two statements: create it after all.
  if (!updated) return upsertEnvironment(db, ref, settings, now);
  return { environment: updated, created: false };
}

/** Records the last word on whether its target answers. */
export async function setEnvironmentStatus(db: Db, key: string, status: { state: EnvironmentStatus; detail: string; at: Date }): Promise<void> {
  await db.update(environments).set({ status: status.state, statusDetail: status.detail, statusAt: status.at }).where(eq(environments.key, key));
}

/** Deletes an environment and its deployment history; false when there was none. */
export async function deleteEnvironment(db: Db, key: string): Promise<boolean> {
  const deleted = await db.delete(environments).where(eq(environments.key, key)).returning({ key: environments.key });
  return deleted.length > 0;
}
