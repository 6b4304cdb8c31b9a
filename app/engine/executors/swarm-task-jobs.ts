// A task's Swarm job: what its service runs and how its end reads. A container task's is its
// container plan (the Docker executor's too) with its image pulled by the nodes; a run() task's
// is the runner image, the runner fetching its run's bundle from the API (runner-service.ts),
// placed where it reaches the API, its exit code the outcome and its result line kept out of
// the log. The swarm executor (swarm.ts) creates, follows, stops and removes either alike.
import { runnerReach, type RunsOn } from "../../domain/placement.ts";
import type { LogWriter } from "../../stores/logs.ts";
import { containerPlan, type ContainerPlan, type ContainerPlanOptions } from "./container-plan.ts";
import { parseRegistryAuth, type DockerConnection } from "./docker-client.ts";
import type { TaskExit, TaskLaunch } from "./executor.ts";
import { runnerImageOnEngine } from "./runner-image.ts";
import { runnerExit, runnerLog, runnerPlan } from "./runner-service.ts";
import { serviceNetworkProblem } from "./swarm-service-spec.ts";

export interface SwarmRunnerOptions {
  /** The runner image (GANTRY_RUNNER_IMAGE; runnerImageTag() names this version's). */
  image: string;
  /** The API as runner services reach it (GANTRY_RUNNER_API_URL, else the public URL): the tasks' GANTRY_API_URL, and where they fetch their bundle. */
  apiUrl(): string;
  /** The network runner services join: "host" (the default), "bridge" (the node's default bridge) or a swarm network. */
  network: string;
}

/** What one attempt's service runs, and how its end reads: a container task's container, or a run() task's runner. */
export interface SwarmJob {
  runsOn: RunsOn | undefined;
  /** Why it cannot run (checked before anything is created), or undefined. */
  check(): Promise<string | undefined>;
  /** It reaches the API on loopback: only on the server's own node. */
  serverNodeOnly: boolean;
  plan(engineCpus: number | undefined): ContainerPlan;
  /** The nodes' pull credentials (parsed when the service is created: a bad value fails that). */
  registryAuth(): Record<string, string> | undefined;
  /** The task log as the service's output reaches it (a runner's result line is kept out). */
  log(log: LogWriter): LogWriter;
  /** How its container's exit code reads. */
  exited(code: number): TaskExit;
  /** Why it did not start on a node without its image. */
  missingImage(where: string): string;
}

export interface RunnerJobOptions extends ContainerPlanOptions {
  /** The server's engine: the runner image is checked there. */
  connection: DockerConnection;
  /** Undefined: run() tasks are refused (this executor runs container tasks only). */
  runner?: SwarmRunnerOptions;
}

/** A container task's job: its container plan, its image pulled by the nodes. */
export function containerJob(launch: TaskLaunch, options: ContainerPlanOptions): SwarmJob {
  const spec = launch.task.container;
  const image = spec?.image ?? "";
  return {
    runsOn: spec?.runsOn,
    async check() {
      if (!spec || spec.build || spec.push || spec.deploy) return "the swarm executor runs container() tasks and run() tasks only";
      return serviceNetworkProblem(spec.network ?? options.defaultNetwork);
    },
    serverNodeOnly: false,
    plan: (cpus) => containerPlan(launch, options, cpus),
    // The orchestrator resolved the pull secret (refused to forks, masked in the log); the nodes pull with it.
    registryAuth: () => (launch.registryAuth !== undefined ? parseRegistryAuth(launch.registryAuth, image) : undefined),
    log: (log) => log,
    exited: (code) => (code === 0 ? { exitCode: 0 } : { exitCode: code, reason: `exited with code ${code}` }),
    missingImage: (where) =>
      `image ${image} is not present${where}, and the node could not pull it: Swarm nodes pull images themselves and otherwise use their own copy, so every node that may take the task needs it (a registry they reach, or the image loaded on them)`,
  };
}

/** A run() task's job: the runner image, the runner fetching the run's bundle from the API, its exit code the outcome. */
export function runnerJob(launch: TaskLaunch, options: RunnerJobOptions): SwarmJob {
  const { docker, host } = options.connection;
  const runner = options.runner;
  const image = runner?.image ?? "";
  const apiUrl = runner?.apiUrl() ?? "";
  // Where the runner reaches the API decides where it may run (or that it cannot).
  const reach = runner ? runnerReach(apiUrl, runner.network) : undefined;
  let output: ReturnType<typeof runnerLog> | undefined;
  return {
    runsOn: undefined,
    async check() {
      if (!runner || !reach) return "this server runs run() tasks in its own sandbox, not as swarm services";
      if ("problem" in reach) return reach.problem;
      return runnerImageOnEngine(docker, host, runner.image);
    },
    serverNodeOnly: reach !== undefined && "serverNodeOnly" in reach && reach.serverNodeOnly,
    plan: (cpus) => runnerPlan(launch, { ...options, image, apiUrl, network: runner!.network }, cpus),
    registryAuth: () => undefined,
    log: (log) => (output = runnerLog(log)),
    exited: (code) => runnerExit(code, output?.result()),
    missingImage: (where) =>
      `the runner image ${image} is not present${where}: every node that may run run() tasks needs it (\`gantry runner-image\` there, or a registry the nodes pull it from with GANTRY_RUNNER_IMAGE naming it)`,
  };
}
