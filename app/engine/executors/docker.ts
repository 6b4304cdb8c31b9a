// Executes container() tasks on a Docker engine: pulls by policy, creates the container
// with safe defaults and Gantry's labels, streams its output into the task log, waits,
// explains failures (OOM, missing image, bad command, engine down) and removes it.
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import type { LogWriter } from "../../stores/logs.ts";
import type { Executor, TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import { formatBytes } from "../../domain/bytes.ts";
import { describeDockerFailure, GANTRY_LABELS, isUnreachable, serverLabels, withinTime, type DockerConnection } from "./docker-client.ts";
import { createLineSplitter } from "./line-splitter.ts";

/** Where the run's workspace appears inside every container. */
export const CONTAINER_WORKSPACE = "/workspace";

export interface DockerExecutorOptions {
  connection: DockerConnection;
  /** This server's id, the same across restarts on the same database (see `GANTRY_LABELS.instance`). */
  instance: string;
  /** Network for tasks that do not name one. */
  defaultNetwork: string;
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
    start(launch: TaskLaunch): TaskHandle {
      const spec = launch.task.container;
      let container: Docker.Container | undefined;
      let stopGraceMs: number | undefined;
      const requestStop = () => {
        if (!container || stopGraceMs === undefined) return;
        // Docker sends SIGTERM, then SIGKILL after t seconds.
        container.stop({ t: Math.max(0, Math.ceil(stopGraceMs / 1000)) }).catch(() => undefined);
      };

      const exited = (async (): Promise<TaskExit> => {
        if (!spec) return { exitCode: null, reason: "not a container task" };
        const imageProblem = await ensureImage(launch, spec.image, spec.pull);
        if (imageProblem) return { exitCode: null, reason: imageProblem };
        if (stopGraceMs !== undefined) return { exitCode: null, reason: "stopped before it started" };
        try {
          container = await docker.createContainer(containerOptions(launch, options.defaultNetwork, options.instance));
        } catch (error) {
          return { exitCode: null, reason: describeDockerFailure(error, host, "could not create the container") };
        }
        try {
          const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
          const output = pumpMultiplexed(stream, launch.log);
          try {
            await container.start();
          } catch (error) {
            stream.destroy();
            return { exitCode: null, reason: describeDockerFailure(error, host, "could not start the container") };
          }
          // A stop that arrived while the container was being created.
          requestStop();
          const result = (await container.wait()) as { StatusCode: number };
          await output;
          if (result.StatusCode === 0) return { exitCode: 0 };
          const state = (await container.inspect()).State;
          if (state.OOMKilled) {
            const limit = spec.memoryBytes ? ` of ${formatBytes(spec.memoryBytes)}` : "";
            return { exitCode: result.StatusCode, reason: `killed: out of memory (the memory limit${limit} was reached)` };
          }
          return { exitCode: result.StatusCode, reason: `exited with code ${result.StatusCode}` };
        } catch (error) {
          return { exitCode: null, reason: describeDockerFailure(error, host, "container error") };
        } finally {
          if (!spec.keepContainer) await container.remove({ force: true, v: true }).catch(() => undefined);
          else launch.log.line("gantry", `container kept for debugging: ${container.id.slice(0, 12)}`);
        }
      })();

      return {
        exited,
        stop(graceMs) {
          stopGraceMs = graceMs;
          requestStop();
        },
      };
    },
  };
}

function containerOptions(launch: TaskLaunch, defaultNetwork: string, instance: string): Docker.ContainerCreateOptions {
  const spec = launch.task.container!;
  const env = { ...launch.env, GANTRY_WORKSPACE: CONTAINER_WORKSPACE };
  const workdir = launch.task.workdir
    ? launch.task.workdir.startsWith("/")
      ? launch.task.workdir
      : `${CONTAINER_WORKSPACE}/${launch.task.workdir}`
    : CONTAINER_WORKSPACE;
  return {
    name: `gantry-${launch.namespace}-${launch.pipeline}-${launch.run}-${launch.task.id}-${launch.attempt}-${crypto.randomUUID().slice(0, 8)}`,
    Image: spec.image,
    ...(spec.command && { Cmd: spec.command }),
    ...(spec.entrypoint && { Entrypoint: spec.entrypoint }),
    ...(spec.user && { User: spec.user }),
    Env: Object.entries(env).map(([name, value]) => `${name}=${value}`),
    WorkingDir: workdir,
    Labels: {
      ...serverLabels(instance),
      [GANTRY_LABELS.namespace]: launch.namespace,
      [GANTRY_LABELS.pipeline]: launch.pipeline,
      [GANTRY_LABELS.run]: String(launch.run),
      [GANTRY_LABELS.task]: launch.task.id,
      [GANTRY_LABELS.attempt]: String(launch.attempt),
      [GANTRY_LABELS.keep]: String(spec.keepContainer),
    },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      Binds: [
        `${launch.workspace}:${CONTAINER_WORKSPACE}`,
        ...spec.mounts.map((mount) => `${mount.source}:${mount.target}${mount.readonly ? ":ro" : ""}`),
      ],
      NetworkMode: spec.network ?? defaultNetwork,
      Privileged: false,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      ...(spec.capabilities.length > 0 && { CapAdd: spec.capabilities }),
      ...(spec.memoryBytes && { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes }),
      ...(spec.cpus && { NanoCpus: Math.round(spec.cpus * 1e9) }),
      ...(spec.pidsLimit && { PidsLimit: spec.pidsLimit }),
    },
  };
}

/**
 * Reads Docker's multiplexed stream (8-byte frame headers: stream type, size) and writes
 * lines to the log in the order the engine sent them, stdout and stderr interleaved.
 */
async function pumpMultiplexed(stream: Readable, log: LogWriter): Promise<void> {
  const out = createLineSplitter((line) => log.line("out", line));
  const err = createLineSplitter((line) => log.line("err", line));
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    while (buffer.length >= 8) {
      const size = buffer.readUInt32BE(4);
      if (buffer.length < 8 + size) break;
      const payload = buffer.subarray(8, 8 + size);
      (buffer[0] === 2 ? err : out).push(payload);
      buffer = buffer.subarray(8 + size);
    }
  }
  out.end();
  err.end();
}

/** `user:password` or Docker's JSON auth object → dockerode's authconfig. */
function parseRegistryAuth(value: string, image: string): Record<string, string> {
  const firstPart = image.split("/")[0]!;
  const serveraddress = firstPart.includes(".") || firstPart.includes(":") ? firstPart : "https://index.docker.io/v1/";
  try {
    const parsed = JSON.parse(value) as Record<string, string>;
    if (parsed && typeof parsed === "object") return { serveraddress, ...parsed };
  } catch {
    // not JSON: user:password
  }
  const colon = value.indexOf(":");
  return { username: value.slice(0, colon), password: value.slice(colon + 1), serveraddress };
}



