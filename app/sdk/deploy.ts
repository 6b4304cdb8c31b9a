// deploy(), rolling(), blueGreen() and canary(): a container task the Docker executor does through an environment's
// provider (Docker Swarm): it rolls a service to an image, rolling back by itself when the
// new one is unhealthy. Re-exported by the "gantry" module (index.ts). Only types come from
// index.ts (it imports this file back), and only pure domain code otherwise.
import type { ContainerTask, Duration, TaskOptions } from "./index.ts";
import { parseDuration } from "../domain/duration.ts";
import {
  DEFAULT_ROLLING,
  HTTP_ANALYSIS_DEFAULTS,
  HTTP_PATH_PATTERN,
  MAX_PROBE_WAIT_MS,
  isPort,
  parsePortText,
  portsProblem,
  type PublishedPort,
  type BlueGreenStrategy,
  type CanaryStrategy,
  type DeploySpec,
  type DeployStrategy,
  type HealthCheck,
  type HttpAnalysis,
  type RollingStrategy,
} from "../domain/deploy-tasks.ts";

export type DeployTaskOptions = Pick<TaskOptions, "needs" | "timeout" | "retries" | "retryDelay">;

export interface RollingOptions {
  /** Tasks updated at once; 1 by default. */
  parallelism?: number;
  /** Wait between batches, e.g. `"10s"`; none by default. */
  delay?: Duration;
  /** `"start-first"` (default): a new task starts before an old one stops; `"stop-first"`: the other way. */
  order?: "start-first" | "stop-first";
  /** How long each new task is watched for failure after it starts; `"5s"` by default. */
  monitor?: Duration;
}

export interface BlueGreenOptions {
  /** How long the old color is kept (idle, off the alias) after the switch, e.g. `"10m"`; `"0s"` (default) removes it at once. */
  keepPrevious?: Duration;
  /** How long the new color's tasks must keep running before traffic moves to them; `"5s"` by default. */
  monitor?: Duration;
}

export interface CanaryStepOptions {
  /** Canary tasks at this step; give this or `percent`. */
  replicas?: number;
  /** Canary tasks as a percentage (1-100) of the main service's replicas, rounded up, at least 1; give this or `replicas`. */
  percent?: number;
  /** How long the step's canary tasks must keep running (healthy) before the next step, e.g. `"1m"`. */
  pause: Duration;
}

export interface HttpAnalysisOptions {
  /** The port the service listens on inside its container, e.g. `8080`. */
  port: number;
  /** The path requested; `"/"` by default. */
  path?: string;
  /** Requests made to each canary task at each step; 20 by default. */
  requests?: number;
  /** Wait between two requests to the same task; none by default (one after the other). */
  interval?: Duration;
  /** A request not answered within this is cut and counts as failed; `"2s"` by default. */
  timeout?: Duration;
  /** The percentage (0-100) of the step's requests that must answer 2xx or 3xx in time; 95 by default. */
  minSuccessPercent?: number;
  /** The highest latency allowed at `latencyPercentile`, e.g. `"300ms"`; `"500ms"` by default. */
  maxLatency?: Duration;
  /** Which percentile of the step's request latencies is held to `maxLatency` (1-100, nearest rank); 95 (the p95) by default. */
  latencyPercentile?: number;
}

export interface CanaryAnalysisOptions {
  /**
   * Requests to every running canary task at each step, once it has held healthy through its
   * pause, made inside the task (`http://127.0.0.1:<port><path>` by the image's curl or wget).
   */
  http: HttpAnalysisOptions;
}

export interface CanaryOptions {
  /** 1 to 10 steps, in order; the main service is promoted after the last. */
  steps: CanaryStepOptions[];
  /** What judges each step besides its tasks' health; task health alone without it. */
  analysis?: CanaryAnalysisOptions;
}

export interface HealthCheckOptions {
  /** Run in each task; exit 0 means healthy, e.g. `["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/health"]`. */
  command: string[];
  /** `"5s"` by default. */
  interval?: Duration;
  /** `"3s"` by default. */
  timeout?: Duration;
  /** Failures in a row before a task is unhealthy; 3 by default. */
  retries?: number;
  /** Failures during this time after a start do not count; none by default. */
  startPeriod?: Duration;
}

export interface PortOptions {
  published: number;
  target: number;
  /** `"tcp"` by default. */
  protocol?: "tcp" | "udp";
  /** `"ingress"` (default): every node answers; `"host"`: only nodes running a task. */
  mode?: "ingress" | "host";
}

export interface DeployOptions extends DeployTaskOptions {
  /** The environment to deploy to (`gantry env set <name> --provider swarm`). */
  environment: string;
  /** The service's name in the environment: created on the first deploy, updated after. */
  service: string;
  /** The image, as the environment's engine knows it; `${NAME}` takes a variable of the run (`"app:${GANTRY_ORIGIN_RUN_ID}"`). */
  image: string;
  /** 1 by default. */
  replicas?: number;
  /** How the service is rolled to the new image: `rolling()` (default), `blueGreen()` or `canary()`. */
  strategy?: DeployStrategy;
  /** How a task tells it is healthy; without it, a task that keeps running through the monitor window is. */
  healthCheck?: HealthCheckOptions;
  /** The service's environment variables; `${NAME}` takes a variable of the run. The environment's secrets are added to them. */
  env?: Record<string, string>;
  /**
   * Ports the service publishes on the swarm's nodes: `"8080:80"` (published:target, tcp) or
   * `"5353:53/udp"`, or `{ published, target, protocol?, mode? }` where mode `"host"` publishes
   * only on nodes running a task (default `"ingress"`, the routing mesh). Not with blueGreen(),
   * whose colors would both claim them. None by default.
   */
  ports?: (string | PortOptions)[];
}

/** A container task that deploys a service instead of running a container. Create it with {@link deploy}. */
export interface DeployTask extends ContainerTask {
  readonly deploy: DeploySpec;
}

const ms = (value: Duration | undefined, fallback: number, what: string): number => {
  if (value === undefined) return fallback;
  const parsed = parseDuration(value);
  if (parsed === undefined) throw new Error(`${what} must be milliseconds or a duration like "10s", not ${JSON.stringify(value)}`);
  return parsed;
};

/**
 * A rolling update: `parallelism` tasks at a time, `delay` between batches, each new task
 * watched for `monitor`; one that fails (or turns unhealthy) rolls the whole service back.
 *
 * @example
 * ```ts
 * web: deploy({ environment: "staging", service: "web", image: "app:${GANTRY_ORIGIN_RUN_ID}", replicas: 3,
 *               strategy: rolling({ parallelism: 1, delay: "5s", order: "start-first" }) }),
 * ```
 */
export function rolling(options: RollingOptions = {}): RollingStrategy {
  return {
    kind: "rolling",
    parallelism: options.parallelism ?? DEFAULT_ROLLING.parallelism,
    delayMs: ms(options.delay, DEFAULT_ROLLING.delayMs, "rolling: delay"),
    order: options.order ?? DEFAULT_ROLLING.order,
    monitorMs: ms(options.monitor, DEFAULT_ROLLING.monitorMs, "rolling: monitor"),
  };
}

/**
 * Blue-green: the new image starts as a second copy of the service (the idle color, all
 * replicas); once all its tasks run (healthy, when the deploy has a health check), traffic
 * moves to it and the old color is removed after `keepPrevious`. A new color that does not get
 * healthy, or a cancel before the switch, removes it and leaves the old one live.
 *
 * On Swarm the colors are the services `<service>-blue` and `<service>-green` on the overlay
 * network `gantry-<service>`; only the live one answers to `<service>` there, so other services
 * reach it by name after attaching to that network (a service first deployed with rolling()
 * must be removed before it can go blue-green).
 *
 * @example
 * ```ts
 * production: deploy({ environment: "production", service: "web", image: "app:${GANTRY_ORIGIN_RUN_ID}", replicas: 3,
 *                      strategy: blueGreen({ keepPrevious: "10m" }),
 *                      healthCheck: { command: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/health"] } }),
 * ```
 */
export function blueGreen(options: BlueGreenOptions = {}): BlueGreenStrategy {
  return {
    kind: "blue-green",
    keepPreviousMs: ms(options.keepPrevious, 0, "blueGreen: keepPrevious"),
    monitorMs: ms(options.monitor, DEFAULT_ROLLING.monitorMs, "blueGreen: monitor"),
  };
}

/**
 * A canary: the new image runs as a separate service `<service>-canary` beside the main one
 * (which keeps the old image), grown step by step to each step's `replicas` or `percent` of the
 * main service's replicas, each step watched for `pause`. A canary task that fails or turns
 * unhealthy removes the canary and leaves the main service as it was (the task fails with the
 * step and why); after the last step the main service is rolled to the new image (start-first,
 * one at a time, rolled back by itself if a new task fails) and the canary is removed.
 *
 * With `analysis.http`, each step, once its tasks have held healthy through `pause`, also sends
 * `requests` to every canary task and fails (removing the canary) when fewer than
 * `minSuccessPercent` answer 2xx/3xx within `timeout`, or when the `latencyPercentile` latency
 * is above `maxLatency`. The requests are made inside each task (`exec`, to
 * `http://127.0.0.1:<port><path>`, by the image's curl, else its wget, timed there), because
 * Swarm's routing mesh does not answer on every machine: the image needs `sh` and curl or wget.
 * It measures the canary's own answers, not a share of real traffic.
 *
 * The first deploy of a service has nothing to compare against and just creates it.
 *
 * @example
 * ```ts
 * production: deploy({ environment: "production", service: "web", image: "app:${GANTRY_ORIGIN_RUN_ID}", replicas: 4,
 *                      strategy: canary({
 *                        steps: [{ replicas: 1, pause: "2m" }, { percent: 50, pause: "5m" }],
 *                        analysis: { http: { port: 8080, path: "/health", requests: 50, minSuccessPercent: 99, maxLatency: "300ms" } },
 *                      }),
 *                      healthCheck: { command: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/health"] } }),
 * ```
 */
export function canary(options: CanaryOptions): CanaryStrategy {
  const steps = options?.steps;
  if (!Array.isArray(steps) || steps.length === 0) throw new Error("canary: steps must list at least one step, e.g. [{ replicas: 1, pause: \"1m\" }]");
  if (steps.length > 10) throw new Error(`canary: at most 10 steps, not ${steps.length}`);
  return {
    kind: "canary",
    steps: steps.map((step, index) => {
      const what = `canary: step ${index + 1}`;
      if ((step.replicas === undefined) === (step.percent === undefined)) throw new Error(`${what} takes exactly one of replicas and percent`);
      if (step.replicas !== undefined && !(Number.isInteger(step.replicas) && step.replicas >= 1)) throw new Error(`${what}: replicas must be a whole number of at least 1, not ${step.replicas}`);
      if (step.percent !== undefined && !(step.percent >= 1 && step.percent <= 100)) throw new Error(`${what}: percent must be 1 to 100, not ${step.percent}`);
      if (step.pause === undefined) throw new Error(`${what} needs a pause, e.g. "1m"`);
      return {
        ...(step.replicas !== undefined ? { replicas: step.replicas } : { percent: step.percent! }),
        pauseMs: ms(step.pause, 0, `${what}: pause`),
      };
    }),
    ...(options.analysis !== undefined && { analysis: { http: httpAnalysis(options.analysis?.http) } }),
  };
}

/** The HTTP analysis with its defaults, or a throw naming the field that is wrong. */
function httpAnalysis(options: HttpAnalysisOptions | undefined): HttpAnalysis {
  const what = "canary: analysis.http";
  if (options === undefined || options === null || typeof options !== "object") throw new Error(`${what} must say what to request, e.g. { port: 8080, path: "/health" }`);
  const { port, path = HTTP_ANALYSIS_DEFAULTS.path, requests = HTTP_ANALYSIS_DEFAULTS.requests } = options;
  const { minSuccessPercent = HTTP_ANALYSIS_DEFAULTS.minSuccessPercent, latencyPercentile = HTTP_ANALYSIS_DEFAULTS.latencyPercentile } = options;
  if (!(Number.isInteger(port) && port >= 1 && port <= 65_535)) throw new Error(`${what}.port must be a port number (1-65535), not ${JSON.stringify(port)}`);
  if (!HTTP_PATH_PATTERN.test(path)) throw new Error(`${what}.path must start with / and have no spaces, not ${JSON.stringify(path)}`);
  if (!(Number.isInteger(requests) && requests >= 1 && requests <= 1000)) throw new Error(`${what}.requests must be a whole number from 1 to 1000, not ${JSON.stringify(requests)}`);
  if (!(minSuccessPercent >= 0 && minSuccessPercent <= 100)) throw new Error(`${what}.minSuccessPercent must be 0 to 100, not ${JSON.stringify(minSuccessPercent)}`);
  if (!(latencyPercentile >= 1 && latencyPercentile <= 100)) throw new Error(`${what}.latencyPercentile must be 1 to 100, not ${JSON.stringify(latencyPercentile)}`);
  const timeoutMs = ms(options.timeout, HTTP_ANALYSIS_DEFAULTS.timeoutMs, `${what}.timeout`);
  const maxLatencyMs = ms(options.maxLatency, HTTP_ANALYSIS_DEFAULTS.maxLatencyMs, `${what}.maxLatency`);
  if (timeoutMs < 1 || timeoutMs > MAX_PROBE_WAIT_MS) throw new Error(`${what}.timeout must be from 1ms to 1 minute`);
  if (maxLatencyMs < 1) throw new Error(`${what}.maxLatency must be at least 1ms`);
  return {
    port,
    path,
    requests,
    intervalMs: probeInterval(ms(options.interval, HTTP_ANALYSIS_DEFAULTS.intervalMs, `${what}.interval`), what),
    timeoutMs,
    minSuccessPercent,
    latencyPercentile,
    maxLatencyMs,
  };
}

/** A probe's interval, at most a minute (the engine's stream stays quiet meanwhile). */
function probeInterval(intervalMs: number, what: string): number {
  if (intervalMs > MAX_PROBE_WAIT_MS) throw new Error(`${what}.interval must be at most 1 minute`);
  return intervalMs;
}

/**
 * Rolls a service of an environment to an image (a Docker Swarm service: created on the first
 * deploy, updated after). The log tells each step (service created or updated, tasks running,
 * update completed); a new task that fails or turns unhealthy rolls the service back to the
 * previous image by itself and fails the task with the reason. Cancelling the run (or the
 * task's timeout) rolls back too. Each deploy is recorded in the environment's history.
 *
 * @example
 * ```ts
 * tasks: {
 *   image: dockerBuild({ context: ".", tags: ["app:${GANTRY_ORIGIN_RUN_ID}"] }),
 *   staging: deploy({
 *     environment: "staging", service: "web", image: "app:${GANTRY_ORIGIN_RUN_ID}", replicas: 2,
 *     strategy: rolling({ order: "start-first" }),
 *     healthCheck: { command: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"], interval: "2s" },
 *     needs: { image: "success" },
 *   }),
 * }
 * ```
 */
export function deploy(options: DeployOptions): DeployTask {
  const { environment, service, image, replicas, strategy, healthCheck, env, ports, ...task } = options;
  const published = (ports ?? []).map(portOf);
  const problem = portsProblem(published, strategy ?? DEFAULT_ROLLING);
  if (problem) throw new Error(`deploy: ports: ${problem}`);
  const health: HealthCheck | undefined = healthCheck && {
    command: healthCheck.command,
    intervalMs: ms(healthCheck.interval, 5_000, "deploy: healthCheck.interval"),
    timeoutMs: ms(healthCheck.timeout, 3_000, "deploy: healthCheck.timeout"),
    retries: healthCheck.retries ?? 3,
    startPeriodMs: ms(healthCheck.startPeriod, 0, "deploy: healthCheck.startPeriod"),
  };
  return {
    ...task,
    kind: "container",
    image,
    pull: "never",
    deploy: {
      environment,
      service,
      image,
      replicas: replicas ?? 1,
      strategy: strategy ?? { ...DEFAULT_ROLLING },
      ...(health && { healthCheck: health }),
      env: env ?? {},
      ports: published,
    },
  };
}

/** A port of deploy()'s options as the spec stores it. */
function portOf(port: string | PortOptions): PublishedPort {
  if (typeof port === "string") {
    const parsed = parsePortText(port);
    if (typeof parsed === "string") throw new Error(`deploy: ports: ${parsed}`);
    return parsed;
  }
  const { published, target, protocol = "tcp", mode = "ingress" } = port;
  if (!isPort(published) || !isPort(target)) throw new Error(`deploy: ports: ${JSON.stringify(port)}: published and target must be port numbers (1-65535)`);
  if (protocol !== "tcp" && protocol !== "udp") throw new Error(`deploy: ports: protocol must be "tcp" or "udp", not ${JSON.stringify(protocol)}`);
  if (mode !== "ingress" && mode !== "host") throw new Error(`deploy: ports: mode must be "ingress" or "host", not ${JSON.stringify(mode)}`);
  return { published, target, protocol, mode };
}
