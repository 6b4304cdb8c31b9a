// deploy(), rolling() and blueGreen(): a container task the Docker executor does through an environment's
// provider (Docker Swarm): it rolls a service to an image, rolling back by itself when the
// new one is unhealthy. Re-exported by the "gantry" module (index.ts). Only types come from
// index.ts (it imports this file back), and only pure domain code otherwise.
import type { ContainerTask, Duration, TaskOptions } from "./index.ts";
import { parseDuration } from "../domain/duration.ts";
import { DEFAULT_ROLLING, type BlueGreenStrategy, type DeploySpec, type DeployStrategy, type HealthCheck, type RollingStrategy } from "../domain/deploy-tasks.ts";

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

export interface DeployOptions extends DeployTaskOptions {
  /** The environment to deploy to (`gantry env set <name> --provider swarm`). */
  environment: string;
  /** The service's name in the environment: created on the first deploy, updated after. */
  service: string;
  /** The image, as the environment's engine knows it; `${NAME}` takes a variable of the run (`"app:${GANTRY_RUN_ID}"`). */
  image: string;
  /** 1 by default. */
  replicas?: number;
  /** How the service is rolled to the new image: `rolling()` (default) or `blueGreen()`. */
  strategy?: DeployStrategy;
  /** How a task tells it is healthy; without it, a task that keeps running through the monitor window is. */
  healthCheck?: HealthCheckOptions;
  /** The service's environment variables; `${NAME}` takes a variable of the run. The environment's secrets are added to them. */
  env?: Record<string, string>;
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
 * web: deploy({ environment: "staging", service: "web", image: "app:${GANTRY_RUN_ID}", replicas: 3,
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
 * production: deploy({ environment: "production", service: "web", image: "app:${GANTRY_RUN_ID}", replicas: 3,
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
 * Rolls a service of an environment to an image (a Docker Swarm service: created on the first
 * deploy, updated after). The log tells each step (service created or updated, tasks running,
 * update completed); a new task that fails or turns unhealthy rolls the service back to the
 * previous image by itself and fails the task with the reason. Cancelling the run (or the
 * task's timeout) rolls back too. Each deploy is recorded in the environment's history.
 *
 * @example
 * ```ts
 * tasks: {
 *   image: dockerBuild({ context: ".", tags: ["app:${GANTRY_RUN_ID}"] }),
 *   staging: deploy({
 *     environment: "staging", service: "web", image: "app:${GANTRY_RUN_ID}", replicas: 2,
 *     strategy: rolling({ order: "start-first" }),
 *     healthCheck: { command: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"], interval: "2s" },
 *     needs: { image: "success" },
 *   }),
 * }
 * ```
 */
export function deploy(options: DeployOptions): DeployTask {
  const { environment, service, image, replicas, strategy, healthCheck, env, ...task } = options;
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
    },
  };
}
