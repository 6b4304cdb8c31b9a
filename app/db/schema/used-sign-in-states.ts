// States of sign-in answers already used: a callback replayed (to this server or another one
// on the same database) is refused. Kept only until its flow would have expired anyway.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const usedSignInStates = sqliteTable("used_sign_in_states", {
  /** sha256 of the state, hex. */
  hash: text().primaryKey(),
  expiresAt: integer({ mode: "timestamp_ms" }).notNull(),
});
