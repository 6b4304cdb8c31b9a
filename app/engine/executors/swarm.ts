// Executes container() tasks, and run() tasks in the runner image, as Docker Swarm services:
// each attempt is a replicated job named by its stored reference, made from a container plan
// (a container task's, the Docker executor's plan too; or a run() task's runner, which fetches
// its run's bundle from the API: swarm-task-jobs.ts) and placed by the task's `runsOn` labels and on the node of
// its run's first task. Its output streams into the task log, its exit code comes from the
// task, failures are explained (out of memory, image missing on the node, no node that
// matches); after a restart it is found by name and followed again. A stop reaches the
// container on this engine directly, elsewhere through the service (stopJobService); once
// the attempt's end is recorded the service and its task containers here are removed.
import type { AttachResult, Executor, TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import { skippingLogWriter } from "../../stores/log-skipping.ts";
import { placementConstraints, WAITING_FOR_NODE, waitingForNodeReason } from "../../domain/placement.ts";
import { describeDockerFailure, dockerMessage, engineCpuCount, withinTime, type DockerConnection } from "./docker-client.ts";
import { envFromLines, likelyOutOfMemoryReason, outOfMemoryReason, type ContainerPlanOptions } from "./container-plan.ts";
import { containerServiceSpec } from "./swarm-service-spec.ts";
import { createSwarmService, listTasks, removeServiceUntilGone, retrying, stopJobService, type SwarmTask } from "./swarm-client.ts";
import { askSwarmHealth, swarmRole, type SwarmHealth, type SwarmInfo } from "./swarm-health.ts";
import { followJob, jobControl, JOB_TIMING, taskOver, type JobControl, type JobEnd, type JobTiming } from "./swarm-job.ts";
import { containerJob, runnerJob, type SwarmJob, type SwarmRunnerOptions } from "./swarm-task-jobs.ts";
import type { LogWriter } from "../../stores/logs.ts";

/** Swarm's service names are DNS labels: at most 63 characters. */
const MAX_SERVICE_NAME = 63;

export interface SwarmExecutorOptions extends ContainerPlanOptions {
  /** A swarm manager's engine. */
  connection: DockerConnection;
  /**
   * The services' StopGracePeriod: what Swarm gives a task between SIGTERM and SIGKILL when
   * it stops it on another node. On this server's node a stop uses the grace asked for.
   */
  stopGraceMs: number;
  /** How run() tasks run, as services of the runner image; without it the executor refuses them. */
  runner?: SwarmRunnerOptions;
  /** How jobs are polled (tests shorten it). */
  timing?: JobTiming;
}

/** How long a cleanup tries to remove a service before the janitor is left to it (ms). */
const CLEANUP_BUDGET_MS = 30_000;
/** How long a swarm health answer is reused (ms): the health endpoint may be asked often. */
const HEALTH_FRESH_MS = 10_000;

export interface SwarmExecutor extends Executor {
  /** This engine's node in the swarm; undefined when it is no manager of one (or cannot be asked). */
  localNode(): Promise<string | undefined>;
  /**
   * Whether tasks can run as services here, and what they run without: not a manager, or
   * engines too old for no-new-privileges. Reused for a few seconds; callers at once share a request.
   */
  health(): Promise<SwarmHealth>;
}

export function createSwarmExecutor(options: SwarmExecutorOptions): SwarmExecutor {
  const { docker, host } = options.connection;

  // Limits above a node's CPU count are refused by its engine: capped at this engine's, as the Docker executor does.
  const engineCpus = engineCpuCount(docker);
  const timing = options.timing ?? JOB_TIMING;

  let node: string | undefined;
  const localNode = async (): Promise<string | undefined> => {
    if (node !== undefined) return node;
    // An engine that does not answer must not hold up the run() task that asks. A worker's
    // node is no answer: it cannot create services (health() says so).
    node = swarmRole((await withinTime(docker.info(), 2_000)) as SwarmInfo).node;
    return node;
  };

  let known: { answer: SwarmHealth; at: number } | undefined;
  let asking: Promise<SwarmHealth> | undefined;

  const jobOf = (launch: TaskLaunch): SwarmJob => (launch.task.kind === "run" ? runnerJob(launch, options) : containerJob(launch, options));

  return {
    kind: "swarm",
    localNode: () => localNode().catch(() => undefined),
    health() {
      if (known && performance.now() - known.at < HEALTH_FRESH_MS) return Promise.resolve(known.answer);
      asking ??= askSwarmHealth(docker, host).then((answer) => {
        known = { answer, at: performance.now() };
        asking = undefined;
        return answer;
      });
      return asking;
    },
    reference(launch) {
      const random = crypto.randomUUID().slice(0, 8);
      const base = `gantry-${launch.namespace}-${launch.pipeline}-${launch.run}-${launch.task.id}-${launch.attempt}`;
      const room = MAX_SERVICE_NAME - random.length - 1;
      return `${base.length > room ? base.slice(0, room).replace(/-+$/, "") : base}-${random}`;
    },
    start(launch: TaskLaunch): TaskHandle {
      const control = jobControl(docker, launch.ref);
      const exited = (async (): Promise<TaskExit> => {
        const job = jobOf(launch);
        const problem = await job.check();
        if (problem) return { exitCode: null, reason: problem };
        // A service starts as soon as it exists: it is created only once the claim is stored.
        if (launch.gate && !(await launch.gate.catch(() => false))) return { exitCode: null, reason: "not started: its claim was refused" };
        const placed = await runNode(launch, control);
        if (placed === "stopped") return { exitCode: null, reason: "stopped before it started", waitingFor: waitingForRunNode };
        const first = launch.placement !== undefined && placed === undefined;
        if (control.stopRequested()) {
          if (first) launch.placement!.unplaced();
          return { exitCode: null, reason: "stopped before it started" };
        }
        let node = placed;
        if (job.serverNodeOnly) {
          // A runner that reaches the API on loopback: on the server's node, which the run must be on (or, first, go to).
          const here = await localNode().catch(() => undefined);
          if (here !== undefined && placed !== undefined && placed !== here) {
            return {
              exitCode: null,
              reason: `the run's tasks share its workspace on node ${placed}, but run() tasks reach the API at ${options.runner!.apiUrl()}, a loopback address, so only on the server's own node ${here}: set GANTRY_RUNNER_API_URL to an address every node reaches`,
            };
          }
          node = here ?? placed;
        }
        const cpus = await engineCpus();
        try {
          const serviceSpec = containerServiceSpec(job.plan(cpus), { constraints: placementConstraints(job.runsOn, node), stopGraceMs: options.stopGraceMs });
          await createSwarmService(docker, serviceSpec, job.registryAuth());
        } catch (error) {
          if (first) launch.placement!.unplaced();
          return { exitCode: null, reason: swarmFailure(error, "could not create the service") };
        }
        control.created();
        return follow(launch, job, control, { log: launch.log, first, node });
      })();
      return { exited, stop: control.stop, detach: control.detach };
    },
    async attach({ launch, stored }): Promise<AttachResult> {
      let service: { Spec?: { TaskTemplate?: { ContainerSpec?: { Env?: string[] }; Placement?: { Constraints?: string[] } } } };
      try {
        service = (await docker.getService(launch.ref).inspect()) as typeof service;
      } catch (error) {
        // Never created (the server stopped between the claim and the create): the attempt starts again.
        if ((error as { statusCode?: number }).statusCode === 404) return { status: "never-started" };
        // The engine is down or not a manager now: the caller asks again later.
        throw new Error(swarmFailure(error, `inspecting service ${launch.ref}`));
      }
      const template = service.Spec?.TaskTemplate;
      const env = envFromLines(template?.ContainerSpec?.Env ?? []);
      const pinned = template?.Placement?.Constraints?.find((constraint) => constraint.startsWith("node.id=="))?.slice("node.id==".length);
      const control = jobControl(docker, launch.ref);
      control.created();
      // A service made before its run had a node is the run's first task: it places the run
      // once it begins, and tasks that start meanwhile wait for it (the stored node is null).
      let first = false;
      if (launch.placement) {
        const runNode = await launch.placement.claim(control.ended).catch(() => "stopped" as const);
        if (runNode === undefined) {
          if (pinned !== undefined) await launch.placement.placed(pinned);
          else first = true;
        }
      }
      // Its whole output is read again from the start; the lines the log holds are skipped.
      const exited = follow(launch, jobOf(launch), control, { log: skippingLogWriter(launch.log, stored), first, node: pinned });
      return { status: "attached", handle: { exited, stop: control.stop, detach: control.detach }, env };
    },
    async stop(ref, graceMs) {
      const tasks = await listTasks(docker, ref).catch((): SwarmTask[] => []);
      for (const task of tasks) {
        const id = task.Status.ContainerStatus?.ContainerID;
        // On this node: stopped with the grace asked for, its exit code kept; elsewhere Swarm stops it.
        if (id && (await docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) }).then(() => true, () => false))) return;
      }
      await retrying(() => stopJobService(docker, ref), { budgetMs: CLEANUP_BUDGET_MS, failed: failedTo(ref, "stop its task") });
    },
    async cleanup(ref) {
      let tasks = await listTasks(docker, ref).catch((): SwarmTask[] => []);
      if (!tasks.every(taskOver)) {
        // Its end could not be followed: the task is stopped, and the service removed once it is over
        // (engines before Docker 24 let a removed job's task run on: stopJobService).
        await stopJobService(docker, ref).catch(() => undefined);
        for (const until = Date.now() + CLEANUP_BUDGET_MS; !tasks.every(taskOver) && Date.now() < until; ) {
          await Bun.sleep(500);
          tasks = await listTasks(docker, ref).catch(() => tasks);
        }
      }
      // Swarm leaves a removed service's stopped task containers behind for minutes (for good
      // before Docker 24): those on this engine go with it.
      const containers = tasks.flatMap((task) => task.Status.ContainerStatus?.ContainerID ?? []);
      if (!(await removeServiceUntilGone(docker, ref, { budgetMs: CLEANUP_BUDGET_MS, failed: failedTo(ref, "clean up after its attempt") }))) return;
      for (const id of containers) {
        await docker
          .getContainer(id)
          .remove({ force: true, v: true })
          .catch(() => undefined);
      }
    },
  };

  /** Says once that a call about a service failed and is tried again for a while (the janitor sees to what is still left). */
  function failedTo(ref: string, what: string): (error: unknown, tries: number) => void {
    return (error, tries) => {
      if (tries === 1) console.error(`service ${ref}: could not ${what}, trying again for ${CLEANUP_BUDGET_MS / 1000} s: ${dockerMessage(error)}`);
    };
  }

  /**
   * The node the run is pinned to (undefined: this task is the first to be placed and goes
   * where Swarm puts it); waits, saying so, while another task of the run is being placed.
   */
  async function runNode(launch: TaskLaunch, control: JobControl): Promise<string | undefined | "stopped"> {
    if (!launch.placement) return undefined;
    const claim = launch.placement.claim(control.ended);
    try {
      const quick = await Promise.race([claim, Bun.sleep(500).then(() => "slow" as const)]);
      if (quick !== "slow") return quick;
      launch.log.line("gantry", waitingForRunNode);
      launch.waiting?.(waitingForRunNode);
      const node = await claim;
      launch.waiting?.(undefined);
      return node;
    } catch {
      return "stopped";
    }
  }

  /** Follows a created service to its end; the run is placed where its task began. */
  async function follow(launch: TaskLaunch, job: SwarmJob, control: JobControl, how: { log: LogWriter; first: boolean; node: string | undefined }): Promise<TaskExit> {
    let began = false;
    let end: JobEnd;
    try {
      end = await followJob(
        docker,
        launch.ref,
        {
          log: job.log(how.log),
          waitingReason: (says) => waitingForNodeReason(job.runsOn, how.node, says),
          ...(launch.waiting && { waiting: launch.waiting }),
          began(nodeId) {
            began = true;
            void launch.placement?.placed(nodeId);
          },
        },
        control,
        timing,
      );
    } catch (error) {
      if (how.first && !began) launch.placement?.unplaced();
      return { exitCode: null, reason: swarmFailure(error, "swarm error") };
    }
    if (how.first && !began) launch.placement?.unplaced();
    if (launch.task.container?.keepContainer && end.state !== "gone") launch.log.line("gantry", `service kept for debugging: ${launch.ref}`);
    return exitOf(launch, job, end, control);
  }

  /** The task's end from how its job ended, saying why when it did not succeed. */
  async function exitOf(launch: TaskLaunch, job: SwarmJob, end: JobEnd, control: JobControl): Promise<TaskExit> {
    const waiting = end.waitingFor !== undefined ? { waitingFor: end.waitingFor } : {};
    switch (end.state) {
      case "complete":
        return job.exited(end.exitCode ?? 0);
      case "detached":
        return { exitCode: null, reason: "no longer followed: the server is stopping" };
      case "gone":
        return { exitCode: null, reason: control.stopRequested() ? "stopped" : "its service was removed before it ended", ...waiting };
      case "rejected":
        if (/no such image/i.test(end.err ?? "")) return { exitCode: null, reason: job.missingImage(end.nodeId ? ` on node ${end.nodeId}` : "") };
        if (/bind source path does not exist/i.test(end.err ?? "")) {
          // A node other than the server's: the run's workspace is a path of the server (see docs/scale-out.md).
          return { exitCode: null, reason: `node ${end.nodeId ?? ""} has no folder ${launch.workspace} for the run's workspace (swarm: ${end.err}); share that path between the nodes, or place the run's tasks with runsOn` };
        }
        return { exitCode: null, reason: describeDockerFailure({ message: end.err ?? "rejected" }, host, "the swarm could not start it") };
      case "shutdown":
      case "remove":
        return { exitCode: end.exitCode, reason: "stopped", ...waiting };
      case "orphaned":
        return { exitCode: null, reason: `its node ${end.nodeId ?? ""} stopped answering and Swarm gave the task up (orphaned)` };
      default: {
        // "failed": its container exited non-zero, or could not start.
        const code = end.exitCode;
        if (code !== null && code !== 0) {
          const state = end.container ? await end.container.inspect().then((info) => info.State, () => undefined) : undefined;
          if (state?.OOMKilled) return { exitCode: code, reason: outOfMemoryReason(launch, options.limits) };
          if (code === 137 && !control.stopRequested()) return { exitCode: code, reason: likelyOutOfMemoryReason(launch, options.limits) };
          if (!/non-zero exit/.test(end.err ?? "non-zero exit")) return { exitCode: code, reason: describeDockerFailure({ message: end.err }, host, "the container could not start") };
          return job.exited(code);
        }
        return { exitCode: code, reason: describeDockerFailure({ message: end.err ?? "failed" }, host, "the container could not start") };
      }
    }
  }

  function swarmFailure(error: unknown, doing: string): string {
    const message = describeDockerFailure(error, host, doing);
    // The engine says it is no manager; say why one is needed.
    if (/worker nodes/i.test(message)) return `${message} (this engine is a swarm worker; GANTRY_DOCKER_HOST must name a manager)`;
    return /not a swarm manager|not part of a swarm/i.test(message) ? `${message} (GANTRY_EXECUTOR=swarm runs container and run() tasks as services, through a swarm manager)` : message;
  }
}

/** Why a task waits before it is created: another task of the run is being placed first. */
const waitingForRunNode = `${WAITING_FOR_NODE}: the run's tasks share one workspace, and its first task has no node yet`;
