// Queries for deployments: recording one as a deploy task starts and ends, an environment's
// history, and what runs in it now (the newest succeeded deployment of each service).
import { and, desc, eq, inArray, max } from "drizzle-orm";
import type { Db } from "../client.ts";
import { deployments } from "../schema/index.ts";
import type { DeploymentState } from "../../domain/environments.ts";

export type DeploymentRow = typeof deployments.$inferSelect;

/** The strategy a rollback a person asked for is recorded with. */
export const ROLLBACK_STRATEGY = "rollback";

export interface NewDeployment {
  environment: string;
  service: string;
  image: string;
  previousImage?: string | null;
  /** The run and task that deploy it; absent for a rollback a person asked for (`by`). */
  namespace?: string;
  pipelineId?: string;
  runId?: number;
  taskId?: string;
  by?: string;
  strategy: string;
  startedAt: Date;
}

/** Records a deployment as it starts ("running"); returns its id. */
export async function insertDeployment(db: Db, deployment: NewDeployment): Promise<number> {
  const [row] = await db
    .insert(deployments)
    .values({ ...deployment, previousImage: deployment.previousImage ?? null, state: "running" })
    .returning({ id: deployments.id });
  return row!.id;
}

/** Records how a deployment ended. */
export async function finishDeployment(
  db: Db,
  id: number,
  outcome: { state: Exclude<DeploymentState, "running">; reason?: string | null; previousImage?: string | null; endedAt: Date },
): Promise<void> {
  await db
    .update(deployments)
    .set({
      state: outcome.state,
      reason: outcome.reason ?? null,
      ...(outcome.previousImage !== undefined && { previousImage: outcome.previousImage }),
      endedAt: outcome.endedAt,
    })
    .where(eq(deployments.id, id));
}

/** An environment's deployments, newest first. */
export async function listDeployments(db: Db, environment: string, limit = 50): Promise<DeploymentRow[]> {
  return db.select().from(deployments).where(eq(deployments.environment, environment)).orderBy(desc(deployments.id)).limit(limit);
}

/** What runs in an environment now: the newest succeeded deployment of each service, by service name. */
export async function currentDeployments(db: Db, environment: string): Promise<DeploymentRow[]> {
  const newest = db
    .select({ id: max(deployments.id) })
    .from(deployments)
    .where(and(eq(deployments.environment, environment), eq(deployments.state, "succeeded")))
    .groupBy(deployments.service);
  return db.select().from(deployments).where(inArray(deployments.id, newest)).orderBy(deployments.service);
}

/** currentDeployments of each of these environments, in one query; every one named has an entry (maybe empty). */
export async function currentDeploymentsOf(db: Db, environments: readonly string[]): Promise<Map<string, DeploymentRow[]>> {
  const byEnvironment = new Map<string, DeploymentRow[]>(environments.map((environment) => [environment, []]));
  if (environments.length === 0) return byEnvironment;
  const newest = db
    .select({ id: max(deployments.id) })
    .from(deployments)
    .where(and(inArray(deployments.environment, [...environments]), eq(deployments.state, "succeeded")))
    .groupBy(deployments.environment, deployments.service);
  const rows = await db.select().from(deployments).where(inArray(deployments.id, newest)).orderBy(deployments.environment, deployments.service);
  for (const row of rows) byEnvironment.get(row.environment)?.push(row);
  return byEnvironment;
}

export async function getDeployment(db: Db, id: number): Promise<DeploymentRow | undefined> {
  const [row] = await db.select().from(deployments).where(eq(deployments.id, id)).limit(1);
  return row;
}

/**
 * Where a rollback of a service goes: the image of its newest succeeded deployment before the
 * current one that is neither the current image nor one a rollback already left (so rolling back
 * again goes further back instead of flipping between the two newest), and the current image;
 * undefined when there is none.
 */
export async function previousSuccessfulImage(db: Db, environment: string, service: string): Promise<{ image: string; current: string } | undefined> {
  const succeeded = await db
    .select({ image: deployments.image, strategy: deployments.strategy, previousImage: deployments.previousImage })
    .from(deployments)
    .where(and(eq(deployments.environment, environment), eq(deployments.service, service), eq(deployments.state, "succeeded")))
    .orderBy(desc(deployments.id))
    .limit(200);
  const current = succeeded[0]?.image;
  if (current === undefined) return undefined;
  const undone = new Set([current]);
  for (const row of succeeded) {
    if (!undone.has(row.image)) return { image: row.image, current };
    if (row.strategy === ROLLBACK_STRATEGY && row.previousImage !== null) undone.add(row.previousImage);
  }
  return undefined;
}

/** Deployments of a run's task still "running" from before a restart: ended, as the same attempt deploys again. */
export async function finishInterruptedDeployments(db: Db, task: { namespace: string; pipelineId: string; runId: number; taskId: string }, now: Date): Promise<void> {
  await db
    .update(deployments)
    .set({ state: "failed", reason: "interrupted: the server stopped during the deploy, and deployed again when it came back", endedAt: now })
    .where(
      and(
        eq(deployments.namespace, task.namespace),
        eq(deployments.pipelineId, task.pipelineId),
        eq(deployments.runId, task.runId),
        eq(deployments.taskId, task.taskId),
        eq(deployments.state, "running"),
      ),
    );
}
