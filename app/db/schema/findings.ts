// Findings: what a scan's SARIF report said, one row per result, kept with the run. The
// fingerprint (tool, rule, file, message) tells a finding that is new since the last
// successful run from one that was there already.
import { foreignKey, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { SarifLevel } from "../../domain/task-files.ts";
import { runs } from "./runs.ts";

export const findings = sqliteTable(
  "findings",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    runId: integer().notNull(),
    taskId: text().notNull(),
    /** Its place in the task's report (0, 1, ...). */
    seq: integer().notNull(),
    tool: text().notNull(),
    ruleId: text(),
    level: text().$type<SarifLevel>().notNull(),
    message: text().notNull(),
    file: text(),
    line: integer(),
    fingerprint: text().notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.namespace, table.pipelineId, table.runId, table.taskId, table.seq] }),
    index("findings_fingerprint").on(table.namespace, table.pipelineId, table.fingerprint),
    foreignKey({ columns: [table.namespace, table.pipelineId, table.runId], foreignColumns: [runs.namespace, runs.pipelineId, runs.id] }).onDelete("cascade"),
  ],
);
