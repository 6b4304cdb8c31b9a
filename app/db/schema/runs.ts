// One execution of a pipeline version: queued until admitted, then driven by one node
// that holds its lease (renewed while it runs); cancel requests are writes it acts on.
import { foreignKey, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { RunConcurrency } from "../../domain/concurrency.ts";
import type { RerunScope } from "../../domain/rerun-plan.ts";
import type { RunTrigger } from "../../domain/run-trigger.ts";
import type { RunActor } from "../../domain/approvals.ts";
import type { InputValues } from "../../domain/run-inputs.ts";
import type { RunState } from "../../domain/states.ts";
import { pipelines } from "./pipelines.ts";

export const runs = sqliteTable(
  "runs",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    id: integer().notNull(),
    state: text().$type<RunState>().notNull(),
    reason: text(),
    trigger: text({ mode: "json" }).$type<RunTrigger>().notNull(),
    version: integer().notNull(),
    /** The commit of a source it runs as of: the one asked for (--commit), or its version's. */
    commit: text(),
    variables: text({ mode: "json" }).$type<Record<string, string>>().notNull(),
    /** The run's inputs as checked against its version's schemas, defaults applied. */
    inputs: text({ mode: "json" }).$type<InputValues>().notNull().default({}),
    /** Who started it (a person or a token), so an approval can refuse their own decision. */
    actor: text({ mode: "json" }).$type<RunActor>(),
    /** The run may not read secrets (a pull request from a fork). */
    noSecrets: integer({ mode: "boolean" }).notNull().default(false),
    /** Runs sharing a limit: "<ns>:<group>" or "<ns>/<pipeline>"; null when the run needs no queue. */
    concurrencyKey: text(),
    /** Its version's limit and policies, so admission reads no version. */
    concurrency: text({ mode: "json" }).$type<RunConcurrency>(),
    /** The run this one re-runs, and which of its tasks it runs again. */
    rerunOf: integer(),
    rerunOnly: text().$type<RerunScope>(),
    /** The node driving the run and until when its claim holds without a heartbeat. */
    nodeId: text(),
    leaseExpiresAt: integer({ mode: "timestamp_ms" }),
    /** The cluster node (a Swarm node id) that took the run's first task: its later tasks go there too, as they share its workspace. */
    placementNode: text(),
    /** A cancel asked for (by anyone, on any node) and the run's reason then ("cancelled by alice", "superseded by run 12"); the owning node acts on it. */
    cancelRequestedAt: integer({ mode: "timestamp_ms" }),
    cancelReason: text(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    queuedAt: integer({ mode: "timestamp_ms" }),
    startedAt: integer({ mode: "timestamp_ms" }),
    endedAt: integer({ mode: "timestamp_ms" }),
  },
  (table) => [
    primaryKey({ columns: [table.namespace, table.pipelineId, table.id] }),
    index("runs_state").on(table.state),
    index("runs_created").on(table.createdAt),
    index("runs_concurrency").on(table.concurrencyKey, table.state),
    index("runs_node").on(table.nodeId, table.state),
    foreignKey({ columns: [table.namespace, table.pipelineId], foreignColumns: [pipelines.namespace, pipelines.id] }),
  ],
);
