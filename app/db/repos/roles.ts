// Queries for custom roles.
import { asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../client.ts";
import { roles } from "../schema/index.ts";

export type RoleRow = typeof roles.$inferSelect;

export async function listRoles(db: Db): Promise<RoleRow[]> {
  return db.select().from(roles).orderBy(asc(roles.id));
}

export async function getRole(db: Db, id: string): Promise<RoleRow | undefined> {
  return db.query.roles.findFirst({ where: eq(roles.id, id) });
}

export async function getRoles(db: Db, ids: string[]): Promise<RoleRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(roles).where(inArray(roles.id, ids));
}

/** Creates or replaces a role; returns the stored row and whether it is new. */
export async function upsertRole(db: Db, role: Omit<RoleRow, "createdAt"> & { now: Date }): Promise<{ role: RoleRow; created: boolean }> {
  const existing = await getRole(db, role.id);
  const [row] = await db
    .insert(roles)
    .values({ id: role.id, description: role.description, permissions: role.permissions, createdAt: role.now, updatedAt: role.now })
    .onConflictDoUpdate({ target: roles.id, set: { description: role.description, permissions: role.permissions, updatedAt: role.now } })
    .returning();
  return { role: row!, created: !existing };
}

export async function deleteRole(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(roles).where(eq(roles.id, id)).returning({ id: roles.id });
  return rows.length > 0;
}
