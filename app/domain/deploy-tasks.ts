// A deploy task as stored with a version: which environment, which service, which image, and
// how it rolls out. Pure: the SDK's deploy() builds it, the spec validates it, the deploy
// executor fills in its variables and hands it to the environment's provider.
import { formatDuration } from "./duration.ts";
import { expandVariables as expand, imageReferenceProblem } from "./image-tasks.ts";

/** How a service is rolled to its new image. */
export interface RollingStrategy {
  kind: "rolling";
  /** Tasks updated at once. */
  parallelism: number;
  /** Wait between batches, ms. */
  delayMs: number;
  /** "start-first": the new task starts before the old one stops; "stop-first": the other way. */
  order: "start-first" | "stop-first";
  /** How long a new task is watched for failure after it starts, ms. */
  monitorMs: number;
}

/**
 * A second copy of the service (the idle color) started with the new image; once all its tasks
 * run (healthy), the traffic alias moves to it and the old color goes after `keepPreviousMs`.
 */
export interface BlueGreenStrategy {
  kind: "blue-green";
  /** How long the old color is kept (idle, without the alias) after the switch, ms; 0 removes it at once. */
  keepPreviousMs: number;
  /** How long the new color's tasks must keep running before the switch, ms. */
  monitorMs: number;
}

/** One step of a canary: its share of the main service's replicas, and how long it is watched. */
export interface CanaryStep {
  /** Canary tasks at this step (exactly one of replicas and percent). */
  replicas?: number;
  /** Canary tasks as a percentage of the main service's replicas, rounded up, at least 1. */
  percent?: number;
  /** How long the step's canary tasks must keep running (healthy) before the next step, ms. */
  pauseMs: number;
}

/**
 * An HTTP probe of every running canary task at each step, made from inside the task (its
 * loopback), since no routing mesh or published port answers on this kind of machine.
 */
export interface HttpAnalysis {
  /** The port the task's server listens on inside its container. */
  port: number;
  /** The path requested, with its query if any ("/health"). */
  path: string;
  /** Requests made to each canary task at each step. */
  requests: number;
  /** Wait between two requests to the same task, ms. */
  intervalMs: number;
  /** A request not answered within this is cut and counts as failed, ms. */
  timeoutMs: number;
  /** The share of the step's requests (all its tasks together) that must answer 2xx or 3xx, percent. */
  minSuccessPercent: number;
  /** Which latency percentile is held to `maxLatencyMs` (95: the p95, nearest rank). */
  latencyPercentile: number;
  /** The highest latency allowed at that percentile, ms. */
  maxLatencyMs: number;
}

/** What judges a canary beyond its tasks' health (which always counts). */
export interface CanaryAnalysis {
  http: HttpAnalysis;
}

/**
 * A separate `<service>-canary` service runs the new image beside the main one, grown step by
 * step; once it stays healthy through the last step (and passes its analysis at each, when it
 * has one) the main service is rolled to the image (start-first, one at a time) and the canary goes.
 */
export interface CanaryStrategy {
  kind: "canary";
  /** 1 to 10 steps, in order. */
  steps: CanaryStep[];
  /** Without it, task health alone judges each step. */
  analysis?: CanaryAnalysis;
}

/** A path (and query) the HTTP analysis may request: from the root, nothing a URL cannot hold as is. */
export const HTTP_PATH_PATTERN = /^\/[^\s"'`\\]*$/;

/** The HTTP analysis's settings that canary() fills in when left out. */
/**
 * The longest wait between a probe's requests, and the longest a request may take: the probe's
 * output stays quiet meanwhile, and the swarm client counts a long silence as a hung engine.
 */
export const MAX_PROBE_WAIT_MS = 60_000;

export const HTTP_ANALYSIS_DEFAULTS = {
  path: "/",
  requests: 20,
  intervalMs: 0,
  timeoutMs: 2_000,
  minSuccessPercent: 95,
  latencyPercentile: 95,
  maxLatencyMs: 500,
} as const satisfies Omit<HttpAnalysis, "port">;

export type DeployStrategy = RollingStrategy | BlueGreenStrategy | CanaryStrategy;

export const DEFAULT_ROLLING: RollingStrategy = { kind: "rolling", parallelism: 1, delayMs: 0, order: "start-first", monitorMs: 5_000 };

/** The strategy in a few words for the deploy's log ("rolling (start-first, 1 at a time)"). */
export function describeStrategy(strategy: DeployStrategy): string {
  switch (strategy.kind) {
    case "rolling":
      return `rolling (${strategy.order}, ${strategy.parallelism} at a time)`;
    case "blue-green":
      return `blue-green (previous color kept ${strategy.keepPreviousMs / 1000} s)`;
    case "canary": {
      const steps = strategy.steps.map((step) => (step.percent !== undefined ? `${step.percent}%` : `${step.replicas}`)).join(" → ");
      const http = strategy.analysis?.http;
      return `canary (${steps}, then promoted${http ? `; each step judged by ${describeHttpAnalysis(http)}` : ""})`;
    }
  }
}

/** The HTTP analysis in a few words ("20 requests to :8080/health in each canary task, ≥ 95% answering 2xx/3xx within 2s, p95 ≤ 500ms"). */
export function describeHttpAnalysis(http: HttpAnalysis): string {
  const every = http.intervalMs > 0 ? ` every ${formatDuration(http.intervalMs)}` : "";
  return `${http.requests} requests${every} to :${http.port}${http.path} in each canary task, ≥ ${http.minSuccessPercent}% answering 2xx/3xx within ${formatDuration(http.timeoutMs)}, p${http.latencyPercentile} ≤ ${formatDuration(http.maxLatencyMs)}`;
}

/** A step's canary tasks: its replicas, or its percent of the main service's `mainReplicas` rounded up, at least 1. */
export function canaryReplicas(step: CanaryStep, mainReplicas: number): number {
  if (step.replicas !== undefined) return step.replicas;
  return Math.max(1, Math.ceil(((step.percent ?? 100) * mainReplicas) / 100));
}

/** A command run in each task to tell it is healthy (exit 0), as Docker's HEALTHCHECK. */
export interface HealthCheck {
  command: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

/** A port the service publishes: `published` on the swarm's nodes to `target` in its tasks. */
export interface PublishedPort {
  published: number;
  target: number;
  protocol: "tcp" | "udp";
  /** "ingress": every node answers through the routing mesh; "host": only nodes running a task. */
  mode: "ingress" | "host";
}

/** At most this many published ports per service. */
export const MAX_PUBLISHED_PORTS = 20;

/**
 * A port as deploy() takes it, "8080:80" or "8080:80/udp", as a PublishedPort (ingress), or why
 * it is not one.
 */
export function parsePortText(text: string): PublishedPort | string {
  const match = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
  if (!match) return `"${text}" is not a port like "8080:80" or "8080:80/udp" (published:target)`;
  const published = Number(match[1]);
  const target = Number(match[2]);
  if (!isPort(published) || !isPort(target)) return `"${text}": ports are 1 to 65535`;
  return { published, target, protocol: (match[3] as "tcp" | "udp" | undefined) ?? "tcp", mode: "ingress" };
}

export const isPort = (value: number) => Number.isInteger(value) && value >= 1 && value <= 65_535;

/** Why a deploy's ports cannot go together, or undefined: two that publish the same port and protocol. */
export function portsProblem(ports: readonly PublishedPort[], strategy: DeployStrategy): string | undefined {
  if (ports.length > MAX_PUBLISHED_PORTS) return `at most ${MAX_PUBLISHED_PORTS} ports`;
  const seen = new Set<string>();
  for (const port of ports) {
    const key = `${port.published}/${port.protocol}`;
    if (seen.has(key)) return `port ${key} is published twice`;
    seen.add(key);
  }
  // Both colors would claim the same published ports; the alias on their network is the way in.
  if (ports.length > 0 && strategy.kind === "blue-green") return "blueGreen() cannot publish ports (both colors would claim them): reach the live color by its alias on the network gantry-<service>, or put a proxy in front";
  return undefined;
}

export interface DeploySpec {
  environment: string;
  service: string;
  /** `${NAME}` takes a variable of the run ("app:${GANTRY_RUN_ID}"). */
  image: string;
  replicas: number;
  strategy: DeployStrategy;
  healthCheck?: HealthCheck;
  /** The service's environment; `${NAME}` takes a variable of the run. */
  env: Record<string, string>;
  /** Ports the service publishes; absent (a version stored before ports existed): the service's own are kept. */
  ports?: PublishedPort[];
}

/** A service name the targets take: what Swarm allows, and a DNS label. */
export const SERVICE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The deploy with its variables filled in, or why it cannot start. */
export function expandDeploy(deploy: DeploySpec, env: Readonly<Record<string, string>>): DeploySpec | string {
  const missing = new Set<string>();
  const image = expand(deploy.image, env, missing);
  const values = Object.fromEntries(Object.entries(deploy.env).map(([name, value]) => [name, expand(value, env, missing)]));
  if (missing.size > 0) return `the deploy uses ${[...missing].map((name) => `\${${name}}`).join(", ")}, which the task's variables do not have`;
  const problem = imageReferenceProblem(image, false);
  if (problem) return `image "${image}" (from "${deploy.image}") is not a valid image reference: it ${problem}`;
  return { ...deploy, image, env: values };
}
