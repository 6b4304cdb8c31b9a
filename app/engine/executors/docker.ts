// Executes container() tasks on a Docker engine: pulls by policy, creates the container
// (named by the attempt's stored reference) with safe defaults and Gantry's labels,
// streams its output into the task log, waits, explains failures (OOM, missing image, bad
// command, engine down); after a restart finds it by name and follows it again; removes
// it once the engine has recorded its end. Image builds and pushes (dockerBuild, dockerPush)
// are container tasks too, done through the Engine API instead of a container.
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import type { AttachResult, Executor, TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import { skippingLogWriter } from "../../stores/log-skipping.ts";
import { describeDockerFailure, engineCpuCount, isUnreachable, parseRegistryAuth, withinTime, type DockerConnection } from "./docker-client.ts";
import { containerPlan, envFromLines, envLines, likelyOutOfMemoryReason, outOfMemoryReason, type ContainerPlanOptions } from "./container-plan.ts";
import { pumpMultiplexed } from "./multiplexed-stream.ts";
import { lostImageTask, startImageTask } from "./image-task.ts";

/** How often, and how far apart, a killed container is looked at again for the OOM killer's mark. */
const OOM_LOOKS = 15;
const OOM_LOOK_MS = 200;

export interface DockerExecutorOptions extends ContainerPlanOptions {
  connection: DockerConnection;
  /** Image builds use BuildKit ("buildkit", the default; the classic builder when the engine has none) or only the classic builder. */
  builder?: "buildkit" | "classic";
  /** Starts deploy() tasks (an environment's provider does the work); without it they fail saying so. */
  startDeploy?: (launch: TaskLaunch) => TaskHandle;
}

export type DockerHealth = { status: "ok"; version: string } | { status: "unavailable"; message: string };

/** An answer about the engine's health is reused this long (the API, dashboard and CLI all ask). */
const HEALTH_FRESH_MS = 5_000;

export interface DockerExecutor extends Executor {
  /**
   * Whether the engine answers: an answer younger than a few seconds is reused, and callers
   * asking at the same time share one request (it can take 2 s when the engine hangs).
   */
  health(): Promise<DockerHealth>;
  /** The last answer, however old, without asking (undefined before the first one). */
  lastHealth(): DockerHealth | undefined;
}

export function createDockerExecutor(options: DockerExecutorOptions): DockerExecutor {
  const { docker, host } = options.connection;

  const ensureImage = async (launch: TaskLaunch, image: string, pull: "never" | "if-missing" | "always"): Promise<string | undefined> => {
    if (pull !== "always") {
      try {
        await docker.getImage(image).inspect();
        return undefined;
      } catch (error) {
        if (isUnreachable(error)) return describeDockerFailure(error, host, "inspecting the image");
        if ((error as { statusCode?: number }).statusCode !== 404) return describeDockerFailure(error, host, `inspecting image ${image}`);
        if (pull === "never") return `image ${image} is not present on the Docker engine, and the task's pull policy is "never"`;
      }
    }
    // The orchestrator resolved the pull secret (refused to forks, masked in the log).
    const authconfig = launch.registryAuth !== undefined ? parseRegistryAuth(launch.registryAuth, image) : undefined;
    launch.log.line("gantry", `pulling image ${image}`);
    try {
      const stream = (await docker.pull(image, authconfig ? { authconfig } : {})) as Readable;
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())),
      );
    } catch (error) {
      return describeDockerFailure(error, host, `could not pull image ${image}`);
    }
    return undefined;
  };

  // CPU limits are capped at the engine's CPU count.
  const engineCpus = engineCpuCount(docker);

  let known: { answer: DockerHealth; at: number } | undefined;
  let asking: Promise<DockerHealth> | undefined;
  const askEngine = async (): Promise<DockerHealth> => {
    try {
      const version = (await withinTime(docker.version(), 2000)) as { Version?: string };
      return { status: "ok", version: version.Version ?? "unknown" };
    } catch (error) {
      return { status: "unavailable", message: describeDockerFailure(error, host, "Docker engine error") };
    }
  };

  return {
    kind: "container",
    health() {
      if (known && performance.now() - known.at < HEALTH_FRESH_MS) return Promise.resolve(known.answer);
      asking ??= askEngine().then((answer) => {
        known = { answer, at: performance.now() };
        asking = undefined;
        return answer;
      });
      return asking;
    },
    lastHealth: () => known?.answer,
    reference: (launch) =>
      `gantry-${launch.namespace}-${launch.pipeline}-${launch.run}-${launch.task.id}-${launch.attempt}-${crypto.randomUUID().slice(0, 8)}`,
    start(launch: TaskLaunch): TaskHandle {
      const spec = launch.task.container;
      if (spec?.build || spec?.push) return startImageTask(launch, { docker, host, builder: options.builder ?? "buildkit" });
      if (spec?.deploy) {
        if (options.startDeploy) return options.startDeploy(launch);
        return { exited: Promise.resolve({ exitCode: null, reason: "deploys are not available here" }), stop: () => {}, detach: () => {} };
      }
      const control = stopControl();
      const exited = (async (): Promise<TaskExit> => {
        if (!spec) return { exitCode: null, reason: "not a container task" };
        // A version loaded while the server ran the swarm executor: this engine cannot honour its placement.
        if (spec.runsOn) return { exitCode: null, reason: 'runsOn needs the swarm executor (GANTRY_EXECUTOR=swarm, or executor = "swarm" in gantry.toml); this server runs container tasks on its Docker engine' };
        const imageProblem = await ensureImage(launch, spec.image, spec.pull);
        if (imageProblem) return { exitCode: null, reason: imageProblem };
        if (control.requested()) return { exitCode: null, reason: "stopped before it started" };
        let container: Docker.Container;
        try {
          container = await docker.createContainer(containerOptions(launch, options, await engineCpus()));
        } catch (error) {
          return { exitCode: null, reason: describeDockerFailure(error, host, "could not create the container") };
        }
        // Created while the claim commits; started only once it is stored.
        if (launch.gate && !(await launch.gate.catch(() => false))) {
          await container.remove({ force: true, v: true }).catch(() => undefined);
          return { exitCode: null, reason: "not started: its claim was refused" };
        }
        return startAndFollow(container, launch, control);
      })();
      return { exited, stop: control.stop, detach: control.detach };
    },
    async attach({ launch, stored }): Promise<AttachResult> {
      // A deploy is a desired state: the same attempt deploys again, and finds it reached if it was.
      if (launch.task.container?.deploy) return { status: "never-started" };
      const lost = lostImageTask(launch);
      if (lost) return { status: "lost", reason: lost };
      const container = docker.getContainer(launch.ref);
      let info: Docker.ContainerInspectInfo;
      try {
        info = await container.inspect();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return { status: "never-started" };
        // The engine is down or confused: the caller asks again later.
        throw new Error(describeDockerFailure(error, host, `inspecting container ${launch.ref}`));
      }
      const { State: state } = info;
      const env = envFromLines(info.Config.Env ?? []);
      const control = stopControl();
      // Created but never started: it has not run, so it starts now as it would have.
      if (state.Status === "created") {
        return { status: "attached", handle: { exited: startAndFollow(container, launch, control), stop: control.stop, detach: control.detach }, env };
      }
      const log = skippingLogWriter(launch.log, stored);
      const exited = (async (): Promise<TaskExit> => {
        try {
          // The engine keeps the container's whole output: replayed from the start, the lines
          // the log already holds skipped, then followed until the container ends.
          const stream = (await container.logs({ follow: true, stdout: true, stderr: true, abortSignal: control.signal })) as unknown as Readable;
          control.attach(container, stream);
          const output = pumpMultiplexed(stream, log);
          const result = (await container.wait({ abortSignal: control.signal })) as { StatusCode: number };
          await output;
          return exitOf(container, launch, result.StatusCode, control.requested());
        } catch (error) {
          return { exitCode: null, reason: describeDockerFailure(error, host, "container error") };
        }
      })();
      return { status: "attached", handle: { exited, stop: control.stop, detach: control.detach }, env };
    },
    async stop(ref, graceMs) {
      await docker
        .getContainer(ref)
        .stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) })
        .catch(() => undefined);
    },
    async cleanup(ref) {
      await docker
        .getContainer(ref)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    },
  };

  /** Attaches to a created container's output, starts it and follows it to its end. */
  async function startAndFollow(container: Docker.Container, launch: TaskLaunch, control: StopControl): Promise<TaskExit> {
    try {
      const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      control.follow(stream);
      const output = pumpMultiplexed(stream, launch.log);
      try {
        await container.start();
      } catch (error) {
        stream.destroy();
        return { exitCode: null, reason: describeDockerFailure(error, host, "could not start the container") };
      }
      // A stop that arrived while the container was being created reaches it now.
      control.attach(container, stream);
      const result = (await container.wait({ abortSignal: control.signal })) as { StatusCode: number };
      await output;
      return await exitOf(container, launch, result.StatusCode, control.requested());
    } catch (error) {
      return { exitCode: null, reason: describeDockerFailure(error, host, "container error") };
    } finally {
      if (launch.task.container?.keepContainer) launch.log.line("gantry", `container kept for debugging: ${launch.ref}`);
    }
  }

  /** The task's end from the container's exit code, saying when memory ran out. */
  async function exitOf(container: Docker.Container, launch: TaskLaunch, code: number, stoppedHere: boolean): Promise<TaskExit> {
    if (code === 0) return { exitCode: 0 };
    let state = (await container.inspect()).State;
    // A kill (137) nobody here asked for may be the OOM killer's before the engine has recorded
    // it: the OOM event can come after the exit (seen in CI under load, past half a second).
    // Look again for a while before saying it most likely was (the event can also be lost: seen
    // once in CI after 3 s); a stop (cancel, timeout) ends at once.
    const unaskedKill = code === 137 && !stoppedHere;
    for (let look = 0; unaskedKill && !state.OOMKilled && look < OOM_LOOKS; look++) {
      await Bun.sleep(OOM_LOOK_MS);
      state = (await container.inspect()).State;
    }
    if (state.OOMKilled) return { exitCode: code, reason: outOfMemoryReason(launch, options.limits) };
    if (unaskedKill) return { exitCode: code, reason: likelyOutOfMemoryReason(launch, options.limits) };
    return { exitCode: code, reason: `exited with code ${code}` };
  }
}

interface StopControl {
  stop(graceMs: number): void;
  /** Stops following the container's output and leaves the container running. */
  detach(): void;
  /** The output stream being followed. */
  follow(stream: Readable): void;
  /** The container a stop reaches, once there is one; a stop asked for before reaches it now. */
  attach(container: Docker.Container, stream: Readable): void;
  requested(): boolean;
  /** Aborted on detach: pending requests to the engine (wait, logs) let go, so the server can exit. */
  signal: AbortSignal;
}

function stopControl(): StopControl {
  let container: Docker.Container | undefined;
  let output: Readable | undefined;
  let graceMs: number | undefined;
  let detached = false;
  const abort = new AbortController();
  const send = () => {
    if (!container || graceMs === undefined || detached) return;
    // Docker sends SIGTERM, then SIGKILL after t seconds.
    container.stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) }).catch(() => undefined);
  };
  return {
    stop(ms) {
      graceMs = ms;
      send();
    },
    detach() {
      detached = true;
      output?.destroy();
      abort.abort();
    },
    follow(stream) {
      output = stream;
      if (detached) stream.destroy();
    },
    attach(target, stream) {
      container = target;
      this.follow(stream);
      send();
    },
    requested: () => graceMs !== undefined,
    signal: abort.signal,
  };
}

/** The container a container task's attempt is created as: its plan (container-plan.ts) in the Engine API's words. */
export function containerOptions(launch: TaskLaunch, options: ContainerPlanOptions, engineCpus: number | undefined): Docker.ContainerCreateOptions {
  const plan = containerPlan(launch, options, engineCpus);
  return {
    // The attempt's stored reference: a restarted server finds the container by it.
    name: plan.name,
    Image: plan.image,
    ...(plan.command && { Cmd: plan.command }),
    ...(plan.entrypoint && { Entrypoint: plan.entrypoint }),
    ...(plan.user && { User: plan.user }),
    Env: envLines(plan.env),
    WorkingDir: plan.workdir,
    Labels: plan.labels,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      Binds: plan.mounts.map((mount) => `${mount.source}:${mount.target}${mount.readonly ? ":ro" : ""}`),
      NetworkMode: plan.network,
      Privileged: false,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      ...(plan.capabilities.length > 0 && { CapAdd: plan.capabilities }),
      ...(plan.groups.length > 0 && { GroupAdd: plan.groups }),
      // Swap equal to memory: the limit is a limit, not a hint to start swapping.
      Memory: plan.limits.memoryBytes,
      MemorySwap: plan.limits.memoryBytes,
      NanoCpus: Math.round(plan.limits.cpus * 1e9),
      PidsLimit: plan.limits.pids,
    },
  };
}
