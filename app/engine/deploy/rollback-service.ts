// A rollback a person asks for: the service goes back to the image of its deployment before the
// one running now (the previous successful one), by the environment's provider, and the
// rollback is recorded in the history like any deployment (by whom, not by a run).
import type { Db } from "../../db/client.ts";
import { finishDeployment, getDeployment, insertDeployment, previousSuccessfulImage, ROLLBACK_STRATEGY, type DeploymentRow } from "../../db/repos/deployments.ts";
import type { EnvironmentRow } from "../../db/repos/environments.ts";
import { NotFoundError } from "../../domain/errors.ts";
import type { DeployProvider, DeployResult } from "./provider.ts";

export interface RollbackContext {
  db: Db;
  now: () => Date;
  providerFor(environment: EnvironmentRow): DeployProvider;
  /** The environment's registry credentials (its registryAuth secret's value), for the nodes that pull again. */
  registryAuth?: string;
}

export async function rollbackService(
  context: RollbackContext,
  environment: EnvironmentRow,
  service: string,
  by: string,
  log: (line: string) => void = () => {},
): Promise<{ deployment: DeploymentRow; result: DeployResult }> {
  const target = await previousSuccessfulImage(context.db, environment.key, service);
  if (!target) throw new NotFoundError(`service ${service} of environment ${environment.key} has no earlier successful deployment to go back to`);
  const id = await insertDeployment(context.db, {
    environment: environment.key,
    service,
    image: target.image,
    previousImage: target.current,
    by,
    strategy: ROLLBACK_STRATEGY,
    startedAt: context.now(),
  });
  let result: DeployResult;
  try {
    result = await context.providerFor(environment).rollback({ service, image: target.image, log, environment: environment.key, ...(context.registryAuth !== undefined && { registryAuth: context.registryAuth }) });
  } catch (error) {
    result = { ok: false, reason: (error as Error).message, rolledBack: false };
  }
  await finishDeployment(context.db, id, {
    state: result.ok ? "succeeded" : "failed",
    reason: result.ok ? null : result.reason,
    previousImage: result.previousImage ?? target.current,
    endedAt: context.now(),
  });
  return { deployment: (await getDeployment(context.db, id))!, result };
}
