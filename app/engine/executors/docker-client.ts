// The Docker Engine API client, built from GANTRY_DOCKER_HOST, the labels that mark this
// server's containers, and how its failures read to people ("engine unreachable",
// "image not present", "command not found").
import type Docker from "dockerode";
import { dockerOnDemand } from "./docker-on-demand.ts";

export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

export const GANTRY_LABELS = {
  managed: "gantry.managed",
  namespace: "gantry.namespace",
  pipeline: "gantry.pipeline",
  run: "gantry.run",
  task: "gantry.task",
  attempt: "gantry.attempt",
  keep: "gantry.keep",
  /** The server (its database) that owns the container; its janitor touches only these. */
  instance: "gantry.instance",
  /** An extension's container (no run): the extension host owns it, not the janitor. */
  extension: "gantry.extension",
} as const;

/** How long a listing of containers may take before it counts as the engine not answering. */
export const LIST_TIMEOUT_MS = 3_000;

/** The labels every container of this server carries (task and extension containers alike). */
export const serverLabels = (instance: string): Record<string, string> => ({
  [GANTRY_LABELS.managed]: "true",
  [GANTRY_LABELS.instance]: instance,
});

/**
 * This server's containers, running or not, that also carry the `extra` labels. Other
 * Gantry servers may share the engine: theirs are never listed. Rejects with ETIMEDOUT when
 * the engine does not answer within LIST_TIMEOUT_MS.
 */
export function listServerContainers(docker: Docker, instance: string, extra: Record<string, string> = {}): Promise<Docker.ContainerInfo[]> {
  const label = Object.entries({ ...serverLabels(instance), ...extra }).map(([key, value]) => `${key}=${value}`);
  return withinTime(docker.listContainers({ all: true, filters: { label } }), LIST_TIMEOUT_MS);
}

/** This server's Swarm services (the swarm executor's jobs) that also carry the `extra` labels; none when the engine is no swarm manager. */
export async function listServerServices(docker: Docker, instance: string, extra: Record<string, string> = {}): Promise<{ ID: string; Spec?: { Labels?: Record<string, string> } }[]> {
  const label = Object.entries({ ...serverLabels(instance), ...extra }).map(([key, value]) => `${key}=${value}`);
  try {
    return (await withinTime(docker.listServices({ filters: { label } }), LIST_TIMEOUT_MS)) as { ID: string; Spec?: { Labels?: Record<string, string> } }[];
  } catch (error) {
    // 503: not a manager (or in no swarm): it has no services of ours to list.
    if ((error as { statusCode?: number }).statusCode === 503) return [];
    throw error;
  }
}

export interface DockerConnection {
  docker: Docker;
  /** Where the engine is expected, for messages. */
  host: string;
}

export function createDockerClient(host = DEFAULT_DOCKER_HOST, options: { timeoutMs?: number } = {}): DockerConnection {
  // A per-request idle limit, for clients that make no long streaming calls: an engine that
  // accepts a request and never answers fails it instead of hanging its caller.
  const timeout = options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {};
  const idle = options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {};
  if (host.startsWith("unix://")) {
    const socketPath = host.slice("unix://".length);
    return { docker: dockerOnDemand({ socketPath, ...idle }, { socketPath, ...timeout }), host };
  }
  if (host.startsWith("/")) return { docker: dockerOnDemand({ socketPath: host, ...idle }, { socketPath: host, ...timeout }), host: `unix://${host}` };
  const url = new URL(host.replace(/^tcp:\/\//, "http://"));
  const protocol = url.protocol === "https:" ? "https" : "http";
  const port = Number(url.port || 2375);
  return {
    docker: dockerOnDemand({ baseUrl: `${protocol}://${url.hostname}:${port}`, ...idle }, { protocol, host: url.hostname, port, ...timeout }),
    host,
  };
}

/**
 * The engine's CPU count, asked once (again after a failure): the engine refuses a CPU limit
 * above it, and such a limit would limit nothing anyway, so executors cap limits at it.
 */
export function engineCpuCount(docker: Docker): () => Promise<number | undefined> {
  let count: Promise<number | undefined> | undefined;
  return () =>
    (count ??= docker.info().then(
      (info: { NCPU?: number }) => info.NCPU,
      () => (count = undefined),
    ));
}

/**
 * The engine's answer, or an ETIMEDOUT error after `ms`: an engine that accepts connections
 * but never answers must not hang health checks or the start-up prune.
 */
export function withinTime<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer in ${ms} ms`), { code: "ETIMEDOUT" })), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

interface DockerLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  json?: { message?: string } | null;
  reason?: string;
}

/** True when the engine itself could not be reached (not an API error). */
export function isUnreachable(error: unknown): boolean {
  const code = (error as DockerLikeError)?.code;
  // ECONNRESET: an engine that stopped answering mid-request (a client's idle limit cuts it so).
  return code === "ENOENT" || code === "ECONNREFUSED" || code === "EACCES" || code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ECONNRESET" || code === "ConnectionRefused" || code === "FailedToOpenSocket";
}

/** The engine's own message, without dockerode's "(HTTP code 400) unexpected - " wrapping. */
export function dockerMessage(error: unknown): string {
  const e = error as DockerLikeError;
  const message = e?.json?.message ?? e?.message ?? String(error);
  return message.replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, "").trim();
}

/** A sentence for a failed task: what went wrong with Docker, as specific as the engine lets us be. */
export function describeDockerFailure(error: unknown, host: string, doing: string): string {
  if (isUnreachable(error)) {
    return `Docker engine unreachable at ${host} (${(error as DockerLikeError).code}): is dockerd running?`;
  }
  const message = dockerMessage(error);
  const missing = /exec: "([^"]+)": (executable file not found in \$PATH|stat [^:]+: no such file or directory)/.exec(message);
  if (missing) return `command "${missing[1]}" not found in the image`;
  return `${doing}: ${message}`;
}

/** `user:password` or Docker's JSON auth object → dockerode's authconfig. */
export function parseRegistryAuth(value: string, image: string): Record<string, string> {
  // The first part names a registry only when more follows it ("app:1" is Docker Hub's app, tag 1).
  const firstPart = image.includes("/") ? image.split("/")[0]! : "";
  const serveraddress = firstPart.includes(".") || firstPart.includes(":") || firstPart === "localhost" ? firstPart : "https://index.docker.io/v1/";
  try {
    const parsed = JSON.parse(value) as Record<string, string>;
    if (parsed && typeof parsed === "object") return { serveraddress, ...parsed };
  } catch {
    // not JSON: user:password
  }
  const colon = value.indexOf(":");
  return { username: value.slice(0, colon), password: value.slice(colon + 1), serveraddress };
}
