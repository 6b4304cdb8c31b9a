// What a container task runs as, decided once for every engine that runs it: image and command,
// environment, labels, the workspace and mounts, network, capabilities and limits. The Docker
// executor maps it to a container's create options, the Swarm executor to a service spec.
import type { TaskLaunch } from "./executor.ts";
import { effectiveLimits, type ContainerLimits } from "../../domain/container-policy.ts";
import { formatBytes } from "../../domain/bytes.ts";
import { GANTRY_LABELS, serverLabels } from "./docker-client.ts";

/** Where the run's workspace appears inside every container. */
export const CONTAINER_WORKSPACE = "/workspace";

export interface ContainerPlanOptions {
  /** This server's id (see `GANTRY_LABELS.instance`): its janitor removes only what carries it. */
  instance: string;
  /** Network for tasks that do not name one. */
  defaultNetwork: string;
  /** Memory, CPU and pids limits for tasks that set none (defaults), and the most any task gets (maxima). */
  limits: { defaults: ContainerLimits; maxima: ContainerLimits };
  /**
   * The group that owns run workspaces (the run() sandbox's): containers join it, so with
   * every capability dropped they still read and write the workspace (mode 2770).
   */
  workspaceGroup?: number;
}

export interface ContainerMount {
  source: string;
  target: string;
  readonly: boolean;
}

export interface ContainerPlan {
  /** The attempt's stored reference: a restarted server finds the container (or service) by it. */
  name: string;
  image: string;
  command?: string[];
  entrypoint?: string[];
  user?: string;
  /** The task's complete environment (secrets resolved), GANTRY_WORKSPACE pointing inside. */
  env: Record<string, string>;
  workdir: string;
  labels: Record<string, string>;
  /** The run's workspace first, then the task's allowed host mounts. */
  mounts: ContainerMount[];
  network: string;
  /** Every capability is dropped; these (Docker's names, no CAP_ prefix) are added back. */
  capabilities: string[];
  /** Extra groups the process joins (the workspace's). */
  groups: string[];
  limits: { memoryBytes: number; cpus: number; pids: number };
  /** An init as PID 1 that forwards signals and reaps what the process leaves (a run() task's runner). */
  init?: boolean;
}

/** The labels of an attempt's container or service: the janitor finds it by them (its server's instance), people by its run and task. */
export function attemptLabels(launch: Pick<TaskLaunch, "namespace" | "pipeline" | "run" | "attempt"> & { task: { id: string } }, instance: string, keep: boolean): Record<string, string> {
  return {
    ...serverLabels(instance),
    [GANTRY_LABELS.namespace]: launch.namespace,
    [GANTRY_LABELS.pipeline]: launch.pipeline,
    [GANTRY_LABELS.run]: String(launch.run),
    [GANTRY_LABELS.task]: launch.task.id,
    [GANTRY_LABELS.attempt]: String(launch.attempt),
    [GANTRY_LABELS.keep]: String(keep),
  };
}

/** The plan of a container task's attempt; the CPU limit is capped at `engineCpus` when known (more would limit nothing). */
export function containerPlan(launch: TaskLaunch, options: ContainerPlanOptions, engineCpus?: number): ContainerPlan {
  const spec = launch.task.container!;
  // Every container is limited: an unlimited one could take the host down with it.
  const limit = effectiveLimits(spec, options.limits);
  const workdir = launch.task.workdir
    ? launch.task.workdir.startsWith("/")
      ? launch.task.workdir
      : `${CONTAINER_WORKSPACE}/${launch.task.workdir}`
    : CONTAINER_WORKSPACE;
  return {
    name: launch.ref,
    image: spec.image,
    ...(spec.command && { command: spec.command }),
    ...(spec.entrypoint && { entrypoint: spec.entrypoint }),
    ...(spec.user && { user: spec.user }),
    env: { ...launch.env, GANTRY_WORKSPACE: CONTAINER_WORKSPACE },
    workdir,
    labels: attemptLabels(launch, options.instance, spec.keepContainer),
    mounts: [{ source: launch.workspace, target: CONTAINER_WORKSPACE, readonly: false }, ...spec.mounts],
    network: spec.network ?? options.defaultNetwork,
    capabilities: spec.capabilities,
    groups: options.workspaceGroup !== undefined ? [String(options.workspaceGroup)] : [],
    limits: { memoryBytes: limit.memoryBytes, cpus: engineCpus ? Math.min(limit.cpus, engineCpus) : limit.cpus, pids: limit.pids },
  };
}

/** `NAME=value` lines, as both the container and the service APIs take an environment. */
export const envLines = (env: Record<string, string>): string[] => Object.entries(env).map(([name, value]) => `${name}=${value}`);

/** An environment back from its `NAME=value` lines (a container's Config.Env, a service's ContainerSpec.Env). */
export const envFromLines = (lines: readonly string[]): Record<string, string> =>
  Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));

/** The task's memory limit and whose it is (the task's own, or the server's default). */
function memoryLimit(launch: Pick<TaskLaunch, "task">, limits: ContainerPlanOptions["limits"]): { limit: string; whose: string } {
  const own = launch.task.container?.memoryBytes;
  const memory = effectiveLimits(launch.task.container ?? {}, limits).memoryBytes;
  // A run() task's runner service gets the default: run() has no memory option.
  const whose =
    launch.task.kind === "run"
      ? "; run() tasks on a swarm get the server's default container limits (GANTRY_CONTAINER_DEFAULT_MEMORY)"
      : own === undefined
        ? "; that is the server's default, the task's memory option sets its own"
        : "";
  return { limit: formatBytes(memory), whose };
}

/** Why a container the kernel killed for memory ended, naming the limit it reached and whose it was. */
export function outOfMemoryReason(launch: Pick<TaskLaunch, "task">, limits: ContainerPlanOptions["limits"]): string {
  const { limit, whose } = memoryLimit(launch, limits);
  return `killed: out of memory (the memory limit of ${limit} was reached${whose})`;
}

/**
 * The reason for a SIGKILL (exit 137) nobody here asked for, with no OOM kill recorded: the
 * engine misses OOM kills of processes that die at once (it reads the event after their cgroup
 * is gone) and loses some under load, and Swarm reports none, so it is most likely one; but a
 * `docker kill` from outside ends the same way.
 */
export function likelyOutOfMemoryReason(launch: Pick<TaskLaunch, "task">, limits: ContainerPlanOptions["limits"]): string {
  const { limit, whose } = memoryLimit(launch, limits);
  return `killed by SIGKILL (exit code 137), most likely out of memory (its memory limit is ${limit}${whose}), or killed from outside Gantry`;
}
