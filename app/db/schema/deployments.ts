// Deployments: each time a run's deploy task rolled a service of an environment to an image,
// and how it ended. The newest succeeded one per service is what runs there now.
import { foreignKey, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { DeploymentState } from "../../domain/environments.ts";
import { environments } from "./environments.ts";

export const deployments = sqliteTable(
  "deployments",
  {
    id: integer().primaryKey({ autoIncrement: true }),
    /** The environment's key (environmentKey). */
    environment: text().notNull(),
    service: text().notNull(),
    image: text().notNull(),
    /** What the service ran before (the image a rollback goes back to); null for a first deployment. */
    previousImage: text(),
    state: text().$type<DeploymentState>().notNull(),
    /** Why it failed or was rolled back. */
    reason: text(),
    /** The run and task that deployed it; none for a rollback a person asked for. */
    namespace: text(),
    pipelineId: text(),
    runId: integer(),
    taskId: text(),
    /** Who asked for a rollback (a person's or a token's name); null for a run's deploy. */
    by: text(),
    /** The strategy's kind ("rolling", ...). */
    strategy: text().notNull(),
    startedAt: integer({ mode: "timestamp_ms" }).notNull(),
    endedAt: integer({ mode: "timestamp_ms" }),
  },
  (table) => [
    index("deployments_environment").on(table.environment, table.id),
    // An environment's history goes with it (its services keep running on the target).
    foreignKey({ columns: [table.environment], foreignColumns: [environments.key] }).onDelete("cascade"),
  ],
);
