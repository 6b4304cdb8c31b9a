// Small key-value state each extension keeps across restarts (e.g. a schedule's last tick).
import { primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const extensionState = sqliteTable(
  "extension_state",
  {
    extension: text().notNull(),
    key: text().notNull(),
    value: text().notNull(),
  },
  (table) => [primaryKey({ columns: [table.extension, table.key] })],
);
