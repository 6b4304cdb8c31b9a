// Queries for environments: their settings, by name.
import { eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { environments } from "../schema/index.ts";
import { NotFoundError } from "../../domain/errors.ts";
import type { EnvironmentSettings } from "../../domain/environments.ts";

export type EnvironmentRow = typeof environments.$inferSelect;

export async function listEnvironments(db: Db): Promise<EnvironmentRow[]> {
  return db.select().from(environments).orderBy(environments.name);
}

export async function getEnvironment(db: Db, name: string): Promise<EnvironmentRow | undefined> {
  const [row] = await db.select().from(environments).where(eq(environments.name, name)).limit(1);
  return row;
}

/** The environment, or NotFoundError "environment <name> not found". */
export async function requireEnvironment(db: Db, name: string): Promise<EnvironmentRow> {
  const row = await getEnvironment(db, name);
  if (!row) throw new NotFoundError(`environment ${name} not found`);
  return row;
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

/** Creates an environment; undefined when one of that name exists already (nothing changed). */
export async function insertEnvironment(db: Db, name: string, settings: EnvironmentSettings, now: Date): Promise<EnvironmentRow | undefined> {
  // One statement, so two creations of a name at once cannot both succeed.
  const [row] = await db
    .insert(environments)
    .values({ name, ...rowValues(settings, now), createdAt: now })
    .onConflictDoNothing()
    .returning();
  return row;
}

/** Creates or replaces an environment's settings; its deployments stay. */
export async function upsertEnvironment(db: Db, name: string, settings: EnvironmentSettings, now: Date): Promise<{ environment: EnvironmentRow; created: boolean }> {
  const inserted = await insertEnvironment(db, name, settings, now);
  if (inserted) return { environment: inserted, created: true };
  const [updated] = await db.update(environments).set(rowValues(settings, now)).where(eq(environments.name, name)).returning();
  // Deleted between the two statements: create it after all.
  if (!updated) return upsertEnvironment(db, name, settings, now);
  return { environment: updated, created: false };
}

/** Deletes an environment and its deployment history; false when there was none. */
export async function deleteEnvironment(db: Db, name: string): Promise<boolean> {
  const deleted = await db.delete(environments).where(eq(environments.name, name)).returning({ name: environments.name });
  return deleted.length > 0;
}
