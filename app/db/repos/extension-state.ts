// Queries for extensions' own key-value state.
import { and, eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { extensionState } from "../schema/index.ts";

export async function getExtensionState(db: Db, extension: string, key: string): Promise<string | undefined> {
  const row = await db.query.extensionState.findFirst({ where: and(eq(extensionState.extension, extension), eq(extensionState.key, key)) });
  return row?.value;
}

export async function setExtensionState(db: Db, extension: string, key: string, value: string): Promise<void> {
  await db
    .insert(extensionState)
    .values({ extension, key, value })
    .onConflictDoUpdate({ target: [extensionState.extension, extensionState.key], set: { value } });
}
