// deploy(), rolling(), blueGreen() and canary(): a container task the Docker executor does through an environment's
// provider (Docker Swarm): it rolls a service to an image, rolling back by itself when the
// new one is unhealthy. Re-exported by the "gantry" module (index.ts). Only types come from
// index.ts (it imports this file back), and only pure domain code otherwise.
import type { ContainerTask, Duration, TaskOptions } from "./index.ts";
import { parseDuration } from "../domain/duration.ts";
import { DEFAULT_ROLLING, type BlueGreenStrategy, type CanaryStrategy, type DeploySpec, type DeployStrategy, type HealthCheck, type RollingStrategy } from "../domain/deploy-tasks.ts";

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

export interface CanaryOptions {
  /** 1 to 10 steps, in order; the main service is promoted after the last. */
  steps: CanaryStepOptions[];
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
  /** How the service is rolled to the new image: `rolling()` (default), `blueGreen()` or `canary()`. */
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
 * A canary: the new image runs as a separate service `<service>-canary` beside the main one
 * (which keeps the old image), grown step by step to each step's `replicas` or `percent` of the
 * main service's replicas, each step watched for `pause`. A canary task that fails or turns
 * unhealthy removes the canary and leaves the main service as it was (the task fails with the
 * step and why); after the last step the main service is rolled to the new image (start-first,
 * one at a time, rolled back by itself if a new task fails) and the canary is removed.
 *
 * Only task health counts (give the deploy a `healthCheck`): on Swarm there is no routing mesh
 * to measure a canary's request success rate or latency through. The first deploy of a service
 * has nothing to compare against and just creates it.
 *
 * @example
 * ```ts
 * production: deploy({ environment: "production", service: "web", image: "app:${GANTRY_RUN_ID}", replicas: 4,
 *                      strategy: canary({ steps: [{ replicas: 1, pause: "2m" }, { percent: 50, pause: "5m" }] }),
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
