// Executes container() tasks as Docker Swarm services: each attempt is a replicated job named
// by its stored reference, with the same plan (labels, limits, capabilities, environment,
// workspace) as the Docker executor's container, placed by the task's `runsOn` labels and on
// the node of its run's first task. Its output streams into the task log, its exit code comes
// from the task, failures are explained (out of memory, image missing on the node, no node
// that matches); after a restart it is found by name and followed again; removing the
// service stops and cleans it up.
import type { AttachResult, Executor, TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import { skippingLogWriter } from "../../stores/log-skipping.ts";
import { placementConstraints, WAITING_FOR_NODE, waitingForNodeReason } from "../../domain/placement.ts";
import { createSwarmService } from "../deploy/swarm-provider.ts";
import { describeDockerFailure, parseRegistryAuth, withinTime, type DockerConnection } from "./docker-client.ts";
import { containerPlan, outOfMemoryReason, type ContainerPlanOptions } from "./container-plan.ts";
import { containerServiceSpec, serviceNetworkProblem } from "./swarm-service-spec.ts";
import { followJob, jobControl, listJobTasks, removeService, type JobControl, type JobEnd } from "./swarm-job.ts";
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
}

export interface SwarmExecutor extends Executor {
  /** This engine's node in the swarm; undefined when it is in none (or cannot be asked). */
  localNode(): Promise<string | undefined>;
}

export function createSwarmExecutor(options: SwarmExecutorOptions): SwarmExecutor {
  const { docker, host } = options.connection;

  // Limits above a node's CPU count are refused by its engine: capped at this engine's, as the Docker executor does.
  let cpuCount: Promise<number | undefined> | undefined;
  const engineCpus = () =>
    (cpuCount ??= docker.info().then(
      (info: { NCPU?: number }) => info.NCPU,
      () => (cpuCount = undefined),
    ));

  let node: string | undefined;
  const localNode = async (): Promise<string | undefined> => {
    if (node !== undefined) return node;
    // An engine that does not answer must not hold up the run() task that asks.
    const info = (await withinTime(docker.info(), 2_000)) as { Swarm?: { NodeID?: string; LocalNodeState?: string } };
    if (info.Swarm?.LocalNodeState === "active" && info.Swarm.NodeID) node = info.Swarm.NodeID;
    return node;
  };

  return {
    kind: "swarm",
    localNode: () => localNode().catch(() => undefined),
    reference(launch) {
      const random = crypto.randomUUID().slice(0, 8);
      const base = `gantry-${launch.namespace}-${launch.pipeline}-${launch.run}-${launch.task.id}-${launch.attempt}`;
      const room = MAX_SERVICE_NAME - random.length - 1;
      return `${base.length > room ? base.slice(0, room).replace(/-+$/, "") : base}-${random}`;
    },
    start(launch: TaskLaunch): TaskHandle {
      const control = jobControl(docker, launch.ref);
      const exited = (async (): Promise<TaskExit> => {
        const spec = launch.task.container;
        if (!spec || spec.build || spec.push || spec.deploy) return { exitCode: null, reason: "the swarm executor runs container() tasks only" };
        const networkProblem = serviceNetworkProblem(spec.network ?? options.defaultNetwork);
        if (networkProblem) return { exitCode: null, reason: networkProblem };
        // A service starts as soon as it exists: it is created only once the claim is stored.
        if (launch.gate && !(await launch.gate.catch(() => false))) return { exitCode: null, reason: "not started: its claim was refused" };
        const placed = await runNode(launch, control);
        if (placed === "stopped") return { exitCode: null, reason: "stopped before it started", waitingFor: waitingForRunNode };
        const first = launch.placement !== undefined && placed === undefined;
        if (control.stopRequested()) {
          if (first) launch.placement!.unplaced();
          return { exitCode: null, reason: "stopped before it started" };
        }
        const plan = containerPlan(launch, options, await engineCpus());
        const serviceSpec = containerServiceSpec(plan, { constraints: placementConstraints(spec.runsOn, placed), stopGraceMs: options.stopGraceMs });
        try {
          // The orchestrator resolved the pull secret (refused to forks, masked in the log); the nodes pull with it.
          const auth = launch.registryAuth !== undefined ? parseRegistryAuth(launch.registryAuth, spec.image) : undefined;
          await createSwarmService(docker, serviceSpec, auth);
        } catch (error) {
          if (first) launch.placement!.unplaced();
          return { exitCode: null, reason: swarmFailure(error, "could not create the service") };
        }
        control.created();
        return follow(launch, control, { log: launch.log, live: true, first, node: placed });
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
      const env = Object.fromEntries((template?.ContainerSpec?.Env ?? []).map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
      const pinned = template?.Placement?.Constraints?.find((constraint) => constraint.startsWith("node.id=="))?.slice("node.id==".length);
      const control = jobControl(docker, launch.ref);
      control.created();
      // Its whole output is read again from the start; the lines the log holds are skipped.
      const exited = follow(launch, control, { log: skippingLogWriter(launch.log, stored), live: true, first: false, node: pinned });
      return { status: "attached", handle: { exited, stop: control.stop, detach: control.detach }, env };
    },
    async stop(ref, graceMs) {
      const tasks = await listJobTasks(docker, ref).catch(() => []);
      for (const task of tasks) {
        const id = task.Status.ContainerStatus?.ContainerID;
        // On this node: stopped with the grace asked for, its exit code kept; elsewhere removing the service stops it.
        if (id && (await docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) }).then(() => true, () => false))) return;
      }
      await removeService(docker, ref);
    },
    cleanup: (ref) => removeService(docker, ref),
  };

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
  async function follow(launch: TaskLaunch, control: JobControl, how: { log: LogWriter; live: boolean; first: boolean; node: string | undefined }): Promise<TaskExit> {
    const runsOn = launch.task.container?.runsOn;
    let began = false;
    let end: JobEnd;
    try {
      end = await followJob(
        docker,
        launch.ref,
        {
          log: how.log,
          live: how.live,
          waitingReason: (says) => waitingForNodeReason(runsOn, how.node, says),
          ...(launch.waiting && { waiting: launch.waiting }),
          began(nodeId) {
            began = true;
            void launch.placement?.placed(nodeId);
          },
        },
        control,
      );
    } catch (error) {
      if (how.first && !began) launch.placement?.unplaced();
      return { exitCode: null, reason: swarmFailure(error, "swarm error") };
    }
    if (how.first && !began) launch.placement?.unplaced();
    if (launch.task.container?.keepContainer && end.state !== "gone") launch.log.line("gantry", `service kept for debugging: ${launch.ref}`);
    return exitOf(launch, end, control);
  }

  /** The task's end from how its job ended, saying why when it did not succeed. */
  async function exitOf(launch: TaskLaunch, end: JobEnd, control: JobControl): Promise<TaskExit> {
    const image = launch.task.container?.image ?? "";
    const waiting = end.waitingFor !== undefined ? { waitingFor: end.waitingFor } : {};
    switch (end.state) {
      case "complete":
        return { exitCode: end.exitCode ?? 0 };
      case "detached":
        return { exitCode: null, reason: "no longer followed: the server is stopping" };
      case "gone":
        return { exitCode: null, reason: control.stopRequested() ? "stopped" : "its service was removed before it ended", ...waiting };
      case "rejected":
        if (/no such image/i.test(end.err ?? "")) {
          const where = end.nodeId ? ` on node ${end.nodeId}` : "";
          return {
            exitCode: null,
            reason: `image ${image} is not present${where}, and the node could not pull it: Swarm nodes pull images themselves and otherwise use their own copy, so every node that may take the task needs it (a registry they reach, or the image loaded on them)`,
          };
        }
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
          // The engine misses OOM kills of processes that die at once (it reads the event after
          // their cgroup is gone), and Swarm reports none: a SIGKILL nobody asked for is most likely one.
          if (code === 137 && !control.stopRequested()) return { exitCode: code, reason: `killed by SIGKILL (exit code 137), most likely ${outOfMemoryReason(launch, options.limits).replace(/^killed: /, "")}` };
          if (!/non-zero exit/.test(end.err ?? "non-zero exit")) return { exitCode: code, reason: describeDockerFailure({ message: end.err }, host, "the container could not start") };
          return { exitCode: code, reason: `exited with code ${code}` };
        }
        return { exitCode: code, reason: describeDockerFailure({ message: end.err ?? "failed" }, host, "the container could not start") };
      }
    }
  }

  function swarmFailure(error: unknown, doing: string): string {
    const message = describeDockerFailure(error, host, doing);
    // The engine says it is no manager; say why one is needed.
    return /not a swarm manager|not part of a swarm/i.test(message) ? `${message} (GANTRY_EXECUTOR=swarm runs container tasks as services, through a swarm manager)` : message;
  }
}

/** Why a task waits before it is created: another task of the run is being placed first. */
const waitingForRunNode = `${WAITING_FOR_NODE}: the run's tasks share one workspace, and its first task has no node yet`;
