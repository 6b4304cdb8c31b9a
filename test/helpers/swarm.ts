// A real one-node swarm for deploy tests: the local engine made a manager when it is not one
// (and put back as it was afterwards), and small service images built FROM local/busybox.
import { spawnSync } from "node:child_process";
import type Docker from "dockerode";
import type { DeployRequest, DeployStrategy } from "../../app/engine/deploy/provider.ts";

export interface TestSwarm {
  /** True when this test made the engine a manager (and so must leave the swarm again). */
  initialised: boolean;
  /** Leaves the swarm if this test joined it, and removes the bridge network Swarm leaves behind. */
  restore(): Promise<void>;
}

/** The engine as a swarm manager, initialised on loopback when it is not in a swarm. */
export async function ensureSwarm(docker: Docker): Promise<TestSwarm> {
  const initialised = (await swarmState(docker)) !== "active";
  if (initialised) await docker.swarmInit({ ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
  return {
    initialised,
    restore: async () => {
      if (initialised) await leaveSwarm(docker);
    },
  };
}

/** The engine's swarm state ("inactive", "active", ...), or undefined when it does not answer. */
export async function swarmState(docker: Docker): Promise<string | undefined> {
  const info = (await docker.info().catch(() => undefined)) as { Swarm?: { LocalNodeState?: string } } | undefined;
  return info?.Swarm?.LocalNodeState;
}

/** Leaves the swarm, and removes the bridge network Swarm leaves behind. */
export async function leaveSwarm(docker: Docker): Promise<void> {
  await docker.swarmLeave({ force: true });
  // `swarm leave --force` keeps docker_gwbridge; a later `swarm init` would make it again.
  await docker.getNetwork("docker_gwbridge").remove().catch(() => undefined);
}

export interface ServiceImageOptions {
  /** When true, /ok is present: the health check `test -f /ok` passes. */
  healthy: boolean;
  /** A label put on the image, so a test's images can be found. */
  label: string;
  /**
   * Serve HTTP with busybox's httpd on `port` from /www, with these pages (path → content); a
   * page under /cgi-bin/ is made executable, and httpd runs it as a CGI script.
   */
  http?: { port: number; pages: Record<string, string> };
  /** Labelled as a dockerBuild task of this pipeline would (the pipeline may push it). */
  builtBy?: { namespace: string; pipeline: string };
}

/**
 * An image that idles until stopped (it exits at once on SIGTERM, so replaced tasks stop
 * quickly), with /ok present when `healthy` — for a health check `test -f /ok` — and an HTTP
 * server in the background when `http` is given. Built by the CLI's legacy builder from a
 * Dockerfile on stdin: nothing is pulled.
 */
export function buildServiceImage(tag: string, options: ServiceImageOptions): void {
  // Each page's content goes through base64, so no quoting of the Dockerfile's RUN can break it.
  const pages = Object.entries(options.http?.pages ?? {}).map(
    ([path, content]) => `RUN mkdir -p $(dirname /www${path}) && echo ${Buffer.from(content).toString("base64")} | base64 -d > /www${path}${path.startsWith("/cgi-bin/") ? ` && chmod 755 /www${path}` : ""}`,
  );
  // Without -f httpd goes to the background, and sh (pid 1) keeps its quick exit on TERM.
  const serve = options.http ? `httpd -p ${options.http.port} -h /www; ` : "";
  const dockerfile = [
    "FROM local/busybox:latest",
    `LABEL ${options.label}=true`,
    ...(options.builtBy ? [`LABEL gantry.namespace=${options.builtBy.namespace} gantry.pipeline=${options.builtBy.pipeline} gantry.run=1`] : []),
    `RUN echo ${JSON.stringify(tag)} > /version${options.healthy ? " && touch /ok" : ""}`,
    ...pages,
    `CMD ["sh", "-c", "trap 'exit 0' TERM; ${serve}while true; do sleep 1; done"]`,
    "",
  ].join("\n");
  const built = spawnSync("docker", ["build", "-q", "-t", tag, "-"], { input: dockerfile, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`docker build ${tag} failed: ${built.stderr}`);
}

/** The tags every swarm test builds: two healthy versions and one whose health check fails. */
export const SERVICE_TAGS = ["1", "2", "bad"] as const;

/**
 * A swarm with `<repo>:1`, `:2` (healthy) and `:bad` built, and `more` (tag → options, the label
 * added) when a test needs others; and the clean-up after: the services removed (by the provider,
 * which knows their colors and canaries), their tasks' containers gone, the networks and images
 * removed, the engine put back as it was.
 */
export async function swarmWithServiceImages(
  docker: Docker,
  repo: string,
  label: string,
  more: Record<string, Omit<ServiceImageOptions, "label">> = {},
): Promise<{ cleanUp(remove: () => Promise<void>, networks?: string[]): Promise<void> }> {
  const started = Date.now();
  const swarm = await ensureSwarm(docker);
  for (const tag of SERVICE_TAGS) buildServiceImage(`${repo}:${tag}`, { healthy: tag !== "bad", label });
  for (const [tag, options] of Object.entries(more)) buildServiceImage(`${repo}:${tag}`, { ...options, label });
  console.log(`swarm ready and images built in ${Date.now() - started} ms`);
  return {
    async cleanUp(remove, networks = []) {
      await remove().catch(() => undefined);
      // Tasks' containers go away after their service; the images can only go once they have.
      const deadline = Date.now() + 20_000;
      const ancestor = [...SERVICE_TAGS, ...Object.keys(more)].map((tag) => `${repo}:${tag}`);
      while (Date.now() < deadline && (await docker.listContainers({ all: true, filters: { ancestor } })).length > 0) await Bun.sleep(250);
      for (const network of networks) await docker.getNetwork(network).remove().catch(() => undefined);
      await swarm.restore();
      for (const tag of ancestor) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    },
  };
}

/**
 * A deploy of `image` to `service` as 2 replicas, healthy when /ok exists (checked every 500 ms),
 * by `strategy`; `lines` collects what it logs.
 */
export function deployRequest(service: string, image: string, strategy: DeployStrategy, overrides: Partial<DeployRequest> = {}): DeployRequest & { lines: string[] } {
  const lines: string[] = [];
  return {
    service,
    image,
    replicas: 2,
    strategy,
    healthCheck: { command: ["CMD", "sh", "-c", "test -f /ok"], intervalMs: 500, timeoutMs: 1_000, retries: 2, startPeriodMs: 0 },
    env: { GREETING: "hello" },
    labels: { "gantry.namespace": "default", "gantry.pipeline": "web", "gantry.environment": "test" },
    log: (line) => lines.push(line),
    signal: new AbortController().signal,
    lines,
    ...overrides,
  };
}
