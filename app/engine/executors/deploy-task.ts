// Starts a deploy() task for the Docker executor: no container of its own, the work is a
// rollout by the environment's provider (a Docker Swarm service update), recorded in the
// environment's deployment history. Stopping it (cancel, timeout) rolls the service back. A
// server that stops leaves the rollout to the provider; after a restart the same attempt
// deploys again, which finds the service already at its image and ends at once.
import type { Db } from "../../db/client.ts";
import { environmentForDeploy } from "../../db/repos/environments.ts";
import { finishDeployment, finishInterruptedDeployments, insertDeployment } from "../../db/repos/deployments.ts";
import { describeStrategy, expandDeploy } from "../../domain/deploy-tasks.ts";
import { formatDuration } from "../../domain/duration.ts";
import { approvedByAnother, gatesBefore, protectionRefusal, runBranch, type DeployFacts } from "../../domain/protection.ts";
import { readGate } from "../../db/repos/approvals.ts";
import { getRun } from "../../db/repos/runs.ts";
import { getVersion } from "../../db/repos/pipelines.ts";
import type { EnvironmentAdmin } from "../deploy/environments.ts";
import { pause } from "../pause.ts";
import type { TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";

export interface DeployTaskDeps {
  db: Db;
  now: () => Date;
  /** A global secret's value (an environment's secrets are global secrets). */
  secret(name: string): Promise<string | undefined>;
  /** Each environment's provider, and its status as deploys find its target. */
  environments: Pick<EnvironmentAdmin, "providerOf" | "recordStatus">;
}

/** What the protection rules look at: the run's pipeline and branch, and the approval gates the task needs. */
async function deployFacts(db: Db, launch: TaskLaunch, environment: string): Promise<DeployFacts & { noSecrets: boolean }> {
  const run = await getRun(db, { namespace: launch.namespace, id: launch.pipeline, run: launch.run });
  const version = run && (await getVersion(db, { namespace: launch.namespace, id: launch.pipeline }, run.version));
  const gates = version ? gatesBefore(launch.task.id, version.spec.tasks) : [];
  const key = { namespace: launch.namespace, id: launch.pipeline, run: launch.run };
  const decided = await Promise.all(gates.map(async (id) => ({ id, approved: approvedByAnother(await readGate(db, key, id), run?.actor ?? null) })));
  return {
    environment,
    pipeline: `${launch.namespace}/${launch.pipeline}`,
    branch: runBranch(launch.env),
    gates: decided,
    noSecrets: run?.noSecrets === true,
  };
}

export function startDeployTask(launch: TaskLaunch, deps: DeployTaskDeps): TaskHandle {
  const spec = launch.task.container!.deploy!;
  const abort = new AbortController();
  let detached = false;
  const say = (text: string) => launch.log.line("gantry", text);
  const exited = (async (): Promise<TaskExit> => {
    if (launch.gate && !(await launch.gate.catch(() => false))) return { exitCode: null, reason: "not started: its claim was refused" };
    if (abort.signal.aborted) return { exitCode: null, reason: "stopped before it started" };
    const work = expandDeploy(spec, launch.env);
    if (typeof work === "string") return { exitCode: null, reason: work };
    // The namespace's own environment of that name, else the shared one.
    const environment = await environmentForDeploy(deps.db, launch.namespace, work.environment);
    if (!environment) {
      return { exitCode: null, reason: `environment ${work.environment} not found, neither namespace ${launch.namespace}'s own nor a shared one (gantry env set ${work.environment} --provider swarm [--namespace ${launch.namespace}])` };
    }
    const name = environment.key;
    // Protection first: nothing changes, and no secret is read, for a deploy the environment refuses.
    const facts = await deployFacts(deps.db, launch, name);
    // A run that may not read secrets (a fork's pull request) may not put its code where they are.
    if (facts.noSecrets) return { exitCode: null, reason: `a run that may not read secrets (a pull request from a fork) may not deploy to environment ${name}` };
    const refusal = protectionRefusal(environment.protection, facts);
    if (refusal) return { exitCode: null, reason: refusal };
    if (environment.protection.waitMs) {
      say(`waiting ${formatDuration(environment.protection.waitMs)} before deploying (environment ${name}'s wait timer)`);
      if (!(await pause(environment.protection.waitMs, abort.signal))) return { exitCode: null, reason: "stopped during the environment's wait timer; nothing was deployed" };
    }
    // The environment's secrets go to the service's environment; a missing one stops the deploy before anything changes.
    const secrets: Record<string, string> = {};
    for (const secret of environment.secrets) {
      const value = await deps.secret(secret);
      if (value === undefined) return { exitCode: null, reason: `secret ${secret} of environment ${name} is not set` };
      secrets[secret] = value;
    }
    // Whatever the engine says back (an error echoing the spec) is masked like any task's output.
    launch.log.addSecrets(Object.values(secrets).filter((value) => value !== ""));
    let registryAuth: string | undefined;
    if (environment.config.registryAuth !== undefined) {
      registryAuth = await deps.secret(environment.config.registryAuth);
      if (registryAuth === undefined) return { exitCode: null, reason: `secret ${environment.config.registryAuth} (the registry credentials of environment ${name}) is not set` };
      if (registryAuth !== "") launch.log.addSecrets([registryAuth]);
    }
    const provider = deps.environments.providerOf(environment);
    // Where every node can pull it (the environment's registry), before anything changes.
    const owner = { namespace: launch.namespace, pipeline: launch.pipeline, run: launch.run };
    const pushed = await provider.pushImage({ image: work.image, owner, ...(registryAuth !== undefined && { registryAuth }), log: say, signal: abort.signal });
    if (!pushed.ok) return { exitCode: null, reason: pushed.reason };
    const image = pushed.image;
    say(`deploying ${image} to service ${work.service} of environment ${name} (${environment.provider}), ${work.replicas} replica${work.replicas === 1 ? "" : "s"}, ${describeStrategy(work.strategy)}`);
    await finishInterruptedDeployments(deps.db, { namespace: launch.namespace, pipelineId: launch.pipeline, runId: launch.run, taskId: launch.task.id }, deps.now());
    const id = await insertDeployment(deps.db, {
      environment: name,
      service: work.service,
      image,
      namespace: launch.namespace,
      pipelineId: launch.pipeline,
      runId: launch.run,
      taskId: launch.task.id,
      strategy: work.strategy.kind,
      startedAt: deps.now(),
    });
    try {
      const result = await provider.deploy({
        service: work.service,
        image,
        replicas: work.replicas,
        ...(registryAuth !== undefined && { registryAuth }),
        strategy: work.strategy,
        ...(work.healthCheck && { healthCheck: work.healthCheck }),
        env: { ...work.env, ...secrets },
        ...(work.ports !== undefined && { ports: work.ports }),
        labels: {
          "gantry.namespace": launch.namespace,
          "gantry.pipeline": launch.pipeline,
          "gantry.run": String(launch.run),
          "gantry.task": launch.task.id,
          "gantry.environment": name,
        },
        log: say,
        signal: abort.signal,
      });
      await finishDeployment(deps.db, id, {
        state: result.ok ? "succeeded" : result.rolledBack ? "rolled_back" : "failed",
        reason: result.ok ? null : result.reason,
        previousImage: result.previousImage ?? null,
        endedAt: deps.now(),
      });
      // What the deploy found of the target: it answered (whatever became of the image), or not.
      const unreachable = !result.ok && result.unreachable === true;
      await deps.environments
        .recordStatus(name, unreachable ? { ok: false, problem: result.reason } : { ok: true, detail: `deployed ${work.service} (${result.ok ? "succeeded" : result.rolledBack ? "rolled back" : "failed"})` })
        .catch(() => undefined);
      if (result.ok) {
        say(`${work.service} runs ${result.image}${result.previousImage ? ` (was ${result.previousImage})` : ""}`);
        return { exitCode: 0 };
      }
      return { exitCode: 1, reason: result.rolledBack ? `${result.reason}; rolled back to ${result.previousImage ?? "the previous image"}` : result.reason };
    } catch (error) {
      const reason = detached ? "the server stopped during the deploy" : `the deploy failed: ${(error as Error).message}`;
      await finishDeployment(deps.db, id, { state: "failed", reason, previousImage: null, endedAt: deps.now() }).catch(() => undefined);
      return { exitCode: null, reason };
    }
  })();
  return {
    exited,
    // Cancel and timeout: the provider rolls the service back.
    stop: () => abort.abort(),
    // The rollout goes on in the orchestrator; the next server deploys again and finds it done.
    detach: () => {
      detached = true;
    },
  };
}
