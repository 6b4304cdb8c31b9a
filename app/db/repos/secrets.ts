// Queries for secrets (ciphertexts only).
import { and, asc, eq, ne, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { secrets } from "../schema/index.ts";
import { prepared } from "../prepared.ts";

export type SecretRow = typeof secrets.$inferSelect;

/** Inserts or replaces a secret; returns the stored row. */
export async function upsertSecret(db: Db, row: Omit<SecretRow, "createdAt"> & { createdAt: Date }): Promise<SecretRow> {
  const [stored] = await db
    .insert(secrets)
    .values(row)
    .onConflictDoUpdate({
      target: [secrets.scope, secrets.name],
      set: { ciphertext: row.ciphertext, keyId: row.keyId, warning: row.warning, updatedAt: row.updatedAt },
    })
    .returning();
  return stored!;
}

// Read for every run that uses a secret and every signed hook delivery: built once.
const secretQuery = prepared((db) =>
  db
    .select()
    .from(secrets)
    .where(and(eq(secrets.scope, sql.placeholder("scope")), eq(secrets.name, sql.placeholder("name"))))
    .limit(1)
    .prepare(),
);

export async function getSecret(db: Db, scope: string, name: string): Promise<SecretRow | undefined> {
  const [row] = await secretQuery(db).all({ scope, name });
  return row;
}

export async function listSecrets(db: Db, scope?: string): Promise<SecretRow[]> {
  return db.select().from(secrets).where(scope ? eq(secrets.scope, scope) : undefined).orderBy(asc(secrets.scope), asc(secrets.name));
}

export async function deleteSecret(db: Db, scope: string, name: string): Promise<boolean> {
  const rows = await db.delete(secrets).where(and(eq(secrets.scope, scope), eq(secrets.name, name))).returning({ name: secrets.name });
  return rows.length > 0;
}

/** Any ciphertext made under another key than `keyId`. */
export async function findSecretWithOtherKey(db: Db, keyId: string): Promise<SecretRow | undefined> {
  return db.query.secrets.findFirst({ where: ne(secrets.keyId, keyId) });
}

/** Replaces every ciphertext in one transaction (key rotation). */
export async function replaceCiphertexts(db: Db, rows: { scope: string; name: string; ciphertext: string; keyId: string }[]): Promise<void> {
  await db.transaction(async (tx) => {
    for (const row of rows) {
      await tx
        .update(secrets)
        .set({ ciphertext: row.ciphertext, keyId: row.keyId })
        .where(and(eq(secrets.scope, row.scope), eq(secrets.name, row.name)));
    }
  });
}
