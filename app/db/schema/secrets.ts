// Secrets, encrypted at rest (AES-256-GCM). The plaintext never touches the database.
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const secrets = sqliteTable(
  "secrets",
  {
    /** "global", or "<namespace>/<pipeline>" for a pipeline's own secret. */
    scope: text().notNull(),
    name: text().notNull(),
    /** base64 of IV (12 bytes) followed by the AES-GCM ciphertext and tag. */
    ciphertext: text().notNull(),
    /** Which key encrypted it (a short hash of the key), so a wrong key is caught, not decrypted into garbage. */
    keyId: text().notNull(),
    /** Why masking may miss parts of this value (it looks like JSON, a key file, several lines); null when it looks like one token. */
    warning: text(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.scope, table.name] })],
);
