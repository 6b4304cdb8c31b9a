// What a run() task's attempt runs as in a swarm service, for the executor that creates the
// service (this file creates nothing): the runner image, the runner in fetch mode with the
// task's environment and where its bundle is, the run's workspace mounted; and how the
// runner's end reads as the attempt's exit.
//
// The runner in a service has no parent process that reads a result file or its pipes: its
// exit code is the outcome (0 success, 1 the function threw, BUNDLE_UNAVAILABLE its bundle
// could not be fetched, AUTO_APPROVE_DECLINED an autoApprove that said no, 128+n a signal),
// and when it fails it writes one last stderr line, RESULT_MARKER + JSON, with the reason.
// The executor reads the exit code from the service's task (Status.ContainerStatus.ExitCode),
// passes every log line but that one to the task's log, and calls runnerExit with both.
import { basename } from "node:path";
import { effectiveLimits } from "../../domain/container-policy.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import type { LogWriter } from "../../stores/logs.ts";
import { BUNDLE_SHA256_ENV, BUNDLE_TOKEN_ENV, BUNDLE_UNAVAILABLE, BUNDLE_URL_ENV, reportedReason, RESULT_MARKER, TASK_RUNNER_COMMAND } from "../task-runner/command.ts";
import type { TaskRunnerResult } from "../task-runner/main.ts";
import { signalOfExit } from "./bun-process.ts";
import { attemptLabels, CONTAINER_WORKSPACE, type ContainerMount, type ContainerPlan, type ContainerPlanOptions } from "./container-plan.ts";
import type { TaskExit, TaskLaunch } from "./executor.ts";
import { RUNNER_BINARY } from "./runner-image.ts";

/** What of an attempt's launch the runner's service needs. */
export type RunnerLaunch = Pick<TaskLaunch, "namespace" | "pipeline" | "run" | "attempt" | "bundlePath" | "env" | "workspace"> & {
  task: Pick<TaskSpec, "id" | "workdir">;
};

export interface RunnerServiceOptions {
  /** The runner image (`gantry runner-image`; runnerImageTag() names this version's). */
  image: string;
  /** The API as the service reaches it (GANTRY_API_URL of the task, and the bundle's URL); the task's GANTRY_API_URL when absent. */
  apiUrl?: string;
}

export interface RunnerServiceSpec {
  image: string;
  /** The whole argv (ContainerSpec.Command: the binary's path first, so the image's ENTRYPOINT does not matter). Holds no secret. */
  command: string[];
  /** ContainerSpec.Env (envLines): the task's environment, the bundle's URL, sha256 and token. */
  env: Record<string, string>;
  /** The runner changes into the task's folder itself. */
  workdir: string;
  /** The run's workspace, read-write, at CONTAINER_WORKSPACE (where container tasks see it too). */
  mounts: ContainerMount[];
  /** ContainerSpec.Init: an init as PID 1 forwards SIGTERM to the runner (ctx.signal aborts) and reaps what the task leaves. */
  init: true;
}

/** A bundle file is named by its sha256 (pipeline-compiler.ts): the runner checks what it fetched against it. */
function bundleSha256(bundlePath: string): string | undefined {
  const name = basename(bundlePath, ".js");
  return /^[0-9a-f]{64}$/.test(name) ? name : undefined;
}

/**
 * The service of one run() attempt. The launch's env must hold the run's bundle token
 * (taskEnvironment(..., { bundleToken: true })); the executor adds its labels, limits and
 * network, and creates the service only once the attempt's claim is stored (launch.gate).
 */
export function runnerServiceSpec(launch: RunnerLaunch, options: RunnerServiceOptions): RunnerServiceSpec {
  const apiUrl = (options.apiUrl ?? launch.env.GANTRY_API_URL ?? "").replace(/\/+$/, "");
  if (!apiUrl) throw new Error("a runner service needs the API's URL (options.apiUrl or the task's GANTRY_API_URL)");
  if (!launch.env[BUNDLE_TOKEN_ENV]) {
    throw new Error(`the launch has no ${BUNDLE_TOKEN_ENV}: a runner that fetches its bundle needs the run's bundle token (taskEnvironment with bundleToken: true)`);
  }
  const path = `/api/v1/pipelines/${encodeURIComponent(launch.namespace)}/${encodeURIComponent(launch.pipeline)}/runs/${launch.run}/bundle`;
  const sha256 = bundleSha256(launch.bundlePath);
  return {
    image: options.image,
    command: [RUNNER_BINARY, TASK_RUNNER_COMMAND, "--fetch", launch.task.id, String(launch.attempt), ...(launch.task.workdir ? [launch.task.workdir] : [])],
    env: {
      // A home and temp folder of the container's own, as a local runner gets its sandbox's.
      HOME: "/tmp",
      TMPDIR: "/tmp",
      ...launch.env,
      GANTRY_WORKSPACE: CONTAINER_WORKSPACE,
      GANTRY_API_URL: apiUrl,
      [BUNDLE_URL_ENV]: `${apiUrl}${path}`,
      ...(sha256 && { [BUNDLE_SHA256_ENV]: sha256 }),
    },
    workdir: "/",
    mounts: [{ source: launch.workspace, target: CONTAINER_WORKSPACE, readonly: false }],
    init: true,
  };
}

export interface RunnerPlanOptions extends ContainerPlanOptions, RunnerServiceOptions {
  /** The network the runner joins: "host" (the node's own), "bridge" (the node's default bridge) or a swarm network. */
  network: string;
}

/**
 * The runner's service as a container plan, which the swarm executor makes a service of as it
 * does a container task's: the attempt's labels (the janitor finds it by them), the container
 * defaults' limits (run() has no limit options), every capability dropped, the workspace's group.
 */
export function runnerPlan(launch: TaskLaunch, options: RunnerPlanOptions, engineCpus?: number): ContainerPlan {
  const spec = runnerServiceSpec(launch, options);
  const [binary, ...args] = spec.command;
  const limit = effectiveLimits({}, options.limits);
  return {
    name: launch.ref,
    image: spec.image,
    entrypoint: [binary!],
    command: args,
    env: spec.env,
    workdir: spec.workdir,
    labels: attemptLabels(launch, options.instance, false),
    mounts: spec.mounts,
    network: options.network,
    capabilities: [],
    groups: options.workspaceGroup !== undefined ? [String(options.workspaceGroup)] : [],
    limits: { memoryBytes: limit.memoryBytes, cpus: engineCpus ? Math.min(limit.cpus, engineCpus) : limit.cpus, pids: limit.pids },
    init: spec.init,
  };
}

/**
 * The runner's output on its way to the task log: a RESULT_MARKER line on stderr stays out of
 * it and is kept as the result (the last one counts), every other line passes.
 */
export function runnerLog(log: LogWriter): LogWriter & { result(): TaskRunnerResult | undefined } {
  let result: TaskRunnerResult | undefined;
  return {
    get size() {
      return log.size;
    },
    line(stream, text) {
      const reported = stream === "err" ? runnerResultOf(text) : undefined;
      if (reported) result = reported;
      else log.line(stream, text);
    },
    ...(log.cutPoint && { cutPoint: (text: string) => log.cutPoint!(text) }),
    flush: () => log.flush(),
    close: () => log.close(),
    result: () => result,
  };
}

/** The result a runner's RESULT_MARKER line carries, or undefined for any other line. */
export function runnerResultOf(line: string): TaskRunnerResult | undefined {
  if (!line.startsWith(RESULT_MARKER)) return undefined;
  try {
    const result = JSON.parse(line.slice(RESULT_MARKER.length)) as TaskRunnerResult;
    return typeof result?.error === "string" ? result : undefined;
  } catch {
    return undefined;
  }
}

/** The attempt's exit from the runner's exit code (null: none known) and its last RESULT_MARKER line's result. */
export function runnerExit(exitCode: number | null, result?: TaskRunnerResult): TaskExit {
  if (exitCode === 0) return { exitCode: 0 };
  if (exitCode === null) return { exitCode: null, reason: result ? reportedReason(result) : "the runner ended without an exit code" };
  if (exitCode === BUNDLE_UNAVAILABLE && result?.bundle) return { exitCode: null, reason: `the runner could not fetch the pipeline bundle: ${result.error}` };
  if (result && !result.bundle) return { exitCode, reason: reportedReason(result) };
  // A runner killed by a signal exits (through the init) with 128 + its number.
  const signal = signalOfExit(exitCode);
  if (signal) return { exitCode: null, reason: `killed by ${signal}` };
  return { exitCode, reason: `exited with code ${exitCode}` };
}
