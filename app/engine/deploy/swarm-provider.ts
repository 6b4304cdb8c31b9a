// The Docker Swarm deploy provider: services created and updated through the Engine API, rolled
// out by Swarm's own updater (start-first, automatic rollback when a new task fails or turns
// unhealthy) and watched until Swarm says the rollout is over.
import type Docker from "dockerode";
import { dockerMessage, isUnreachable, parseRegistryAuth, withinTime } from "../executors/docker-client.ts";
import { DEFAULT_ROLLING, type PublishedPort } from "../../domain/deploy-tasks.ts";
import type { DeployProvider, DeployRequest, DeployResult, HealthCheck, PushResult, RollbackRequest, ServiceStatus } from "./provider.ts";
import { blueGreenRollback, blueGreenStatus, deployBlueGreen, removeColors } from "./swarm-blue-green.ts";
import { canaryName, deployCanary } from "./swarm-canary.ts";
import { pushToRegistry } from "./swarm-push.ts";
import { pause } from "../pause.ts";
import {
  createSwarmService,
  inspectService,
  listTasks,
  removeService,
  submitUpdate,
  type ContainerSpec,
  type HealthConfig,
  type ServiceSpec,
  type SwarmService,
  type SwarmTask,
  type UpdateConfig,
} from "../executors/swarm-client.ts";

/** How often a rollout is looked at: Swarm has no event stream for update progress. */
const POLL_MS = 250;
/** Per batch, beyond health checks and the monitor window: scheduling, container start, and the old task's stop (10 s grace by default). */
const BATCH_SLACK_MS = 15_000;
/** How long the engine may take to answer a connection test. */
const INFO_TIMEOUT_MS = 5_000;
/** Task states a task reaches on its own when it ends (not stopped by the orchestrator). */
const ENDED = new Set(["failed", "rejected", "complete"]);

/** Why the engine could not be asked (status, remove): a sentence for people. */
export class SwarmProviderError extends Error {
  override name = "SwarmProviderError";
  constructor(
    readonly code: "unreachable" | "refused",
    message: string,
  ) {
    super(message);
  }
}

export interface SwarmProviderOptions {
  /** A client of a swarm manager's engine. */
  docker: Docker;
  /** The engine images are built on (the server's own), which pushImage pushes from; the manager's by default. */
  source?: { docker: Docker; host: string };
  /** The registry the swarm's nodes pull deployed images from; without one, images are deployed as the engine has them. */
  registry?: string;
}

export function createSwarmProvider(options: SwarmProviderOptions): DeployProvider {
  const { docker, registry } = options;
  return {
    id: "swarm",
    testConnection: () => testConnection(docker),
    pushImage: async (request): Promise<PushResult> => {
      if (registry === undefined) return { ok: true, image: request.image };
      try {
        return await pushToRegistry(options.source ?? { docker, host: "the swarm manager's engine" }, registry, request);
      } catch (error) {
        return { ok: false, reason: `pushing ${request.image} to ${registry}: ${engineProblem(error)}` };
      }
    },
    deploy: (request) => guarded(() => deploy(docker, request)),
    status: (service) => asked(() => status(docker, service)),
    rollback: (request) => guarded(() => rollback(docker, request)),
    remove: (service) => asked(() => remove(docker, service)),
  };
}

/** The credentials the swarm's nodes pull the image with (Swarm's --with-registry-auth), when the environment has some. */
export function nodeAuth(request: Pick<DeployRequest, "image" | "registryAuth">): Record<string, string> | undefined {
  return request.registryAuth !== undefined ? parseRegistryAuth(request.registryAuth, request.image) : undefined;
}

async function testConnection(docker: Docker): Promise<{ ok: true; detail: string } | { ok: false; problem: string }> {
  let info: { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeAddr?: string; Nodes?: number } };
  try {
    info = await withinTime(docker.info() as Promise<typeof info>, INFO_TIMEOUT_MS);
  } catch (error) {
    return { ok: false, problem: `cannot reach the Docker engine: ${dockerMessage(error)}` };
  }
  const swarm = info.Swarm ?? {};
  if (swarm.LocalNodeState === "active" && swarm.ControlAvailable) {
    return { ok: true, detail: `swarm manager at ${swarm.NodeAddr}, ${swarm.Nodes ?? 1} node(s)` };
  }
  if (swarm.LocalNodeState === "active") return { ok: false, problem: "this Docker engine is a swarm worker: name a manager's engine instead" };
  return { ok: false, problem: "this Docker engine is not a swarm manager (docker swarm init --advertise-addr 127.0.0.1)" };
}

/**
 * Why a deploy may not change an existing service: it is not this environment's (another
 * environment's on the same engine, or a service Gantry did not create). Undefined when it is.
 */
export function foreignServiceProblem(existing: { Spec: { Name?: string; Labels?: Record<string, string> } }, request: DeployRequest): string | undefined {
  const wanted = request.labels["gantry.environment"];
  const has = existing.Spec.Labels?.["gantry.environment"];
  if (wanted === undefined || has === wanted) return undefined;
  return has === undefined
    ? `service ${existing.Spec.Name} exists on this engine but was not deployed by Gantry: choose another service name, or remove it first`
    : `service ${existing.Spec.Name} belongs to environment ${has}, not ${wanted}: choose another service name`;
}

async function deploy(docker: Docker, request: DeployRequest): Promise<DeployResult> {
  if (request.signal.aborted) return { ok: false, reason: "cancelled before the deploy started", rolledBack: false };
  if (request.strategy.kind === "blue-green") return deployBlueGreen(docker, request);
  if (request.strategy.kind === "canary") return deployCanary(docker, request);
  const current = await inspectService(docker, request.service);
  if (!current) {
    // A blue-green service is its colors: a plain one beside them would answer to the same name.
    const colors = await blueGreenStatus(docker, request.service);
    if (colors) return { ok: false, reason: `service ${request.service} runs blue-green (${colors.service} is live): deploy it with blueGreen(), or remove it first`, rolledBack: false };
    return createService(docker, request);
  }
  const foreign = foreignServiceProblem(current, request);
  if (foreign) return { ok: false, reason: foreign, rolledBack: false };
  return updateService(docker, current, { ...request, spec: specFor(current.Spec, request) });
}

/** A first deployment: nothing to roll back to, so a failure removes the service again. */
export async function createService(docker: Docker, request: DeployRequest): Promise<DeployResult> {
  const { service, image, replicas, log } = request;
  const spec = specFor({ Name: service, TaskTemplate: { ContainerSpec: { Image: image } } }, request);
  log(`creating service ${service} with image ${image} (${replicas} replicas)`);
  await createSwarmService(docker, spec, nodeAuth(request));
  // Swarm reports a task "running" only once its container is healthy, so running tasks that
  // stay so through the monitor window are what "deployed" means here.
  const { monitorMs } = rollingOf(request);
  const deadline = Date.now() + budgetMs(spec) + monitorMs;
  const settled = await watchRollout(docker, { service, image, replicas, log, signal: request.signal, deadline, before: new Set(), holdMs: monitorMs, failFast: true });
  if (settled.how === "converged") return deployed(request, undefined);
  const failures = await describeFailures(docker, settled.tasks, new Set(), image);
  log(`removing service ${service}: its first deployment did not complete`);
  await remove(docker, service);
  const why = settled.how === "cancelled" ? "cancelled" : settled.how === "timeout" ? `not running after ${seconds(budgetMs(spec))} s` : `${image} did not start`;
  return { ok: false, reason: `${why}${details(failures)}; the new service was removed (nothing to roll back to)`, rolledBack: false };
}

/** What an update rolls out: the whole new spec, and what the task wants to hear about it. */
interface Rollout {
  service: string;
  image: string;
  replicas: number;
  spec: ServiceSpec;
  log(line: string): void;
  signal: AbortSignal;
  /** The registry's credentials, handed to the nodes that pull the image. */
  registryAuth?: string;
}

/** An update of a running service; Swarm rolls it back by itself when a new task fails. */
export async function updateService(docker: Docker, current: SwarmService, rollout: Rollout): Promise<DeployResult> {
  const { service, image, replicas, spec, log } = rollout;
  const previousImage = current.Spec.TaskTemplate.ContainerSpec.Image;
  const before = new Set((await listTasks(docker, current.ID)).map((task) => task.ID));
  log(`updating service ${service} from ${previousImage} to ${image} (${replicas} replicas, ${spec.UpdateConfig?.Order ?? "stop-first"}, ${spec.UpdateConfig?.Parallelism || "all"} at a time)`);
  await submitUpdate(docker, current, spec, undefined, nodeAuth(rollout));
  // Twice the rollout's budget: an update that fails late still has its rollback to run.
  const limit = 2 * budgetMs(spec);
  const settled = await watchRollout(docker, { service, image, replicas, log, signal: rollout.signal, deadline: Date.now() + limit, before, holdMs: 0, failFast: false, afterUpdate: true });
  if (settled.how === "converged") return deployed(rollout, previousImage);
  if (settled.how === "cancelled" || settled.how === "timeout") {
    const why = settled.how === "cancelled" ? "cancelled" : `the update to ${image} did not finish in ${seconds(limit)} s`;
    return cancelUpdate(docker, service, current.Spec, why, log);
  }
  const failures = await describeFailures(docker, settled.tasks, before, image);
  const swarmSays = settled.swarmSays ?? settled.service?.UpdateStatus?.Message ?? settled.how;
  if (settled.how === "rolled_back") {
    return { ok: false, reason: `the update to ${image} failed and Swarm rolled back to ${previousImage}: ${swarmSays}${details(failures)}`, previousImage, rolledBack: true };
  }
  return { ok: false, reason: `the update to ${image} stopped (${settled.service?.UpdateStatus?.State ?? settled.how}): ${swarmSays}${details(failures)}`, previousImage, rolledBack: false };
}

/**
 * Puts the spec from before the update back: Swarm's own rollback (its RollbackConfig, state
 * rollback_started → rollback_completed) when it is not rolling back already, or, when it has
 * no previous spec to go to, an ordinary update to the saved one.
 */
async function cancelUpdate(docker: Docker, name: string, previous: ServiceSpec, why: string, log: (line: string) => void): Promise<DeployResult> {
  const previousImage = previous.TaskTemplate.ContainerSpec.Image;
  const service = await inspectService(docker, name);
  if (!service) return { ok: false, reason: `${why}; the service is gone`, previousImage, rolledBack: false };
  log(`${why}: rolling back to ${previousImage}`);
  if (!service.UpdateStatus?.State?.startsWith("rollback")) {
    await submitUpdate(docker, service, service.Spec, "previous").catch(() => submitUpdate(docker, service, previous));
  }
  const replicas = previous.Mode?.Replicated?.Replicas ?? 1;
  const deadline = Date.now() + budgetMs(previous);
  const settled = await watchRollout(docker, { service: name, image: previousImage, replicas, log, deadline, before: new Set(), holdMs: 0, failFast: false });
  if (settled.how === "converged") return { ok: false, reason: `${why}, rolled back to ${previousImage}`, previousImage, rolledBack: true };
  return { ok: false, reason: `${why}; the rollback to ${previousImage} did not finish (${settled.service?.UpdateStatus?.State ?? settled.how})`, previousImage, rolledBack: false };
}

/** The service's current settings with `image` instead, rolled out as a deploy is; only a service of `environment`. */
async function rollback(docker: Docker, request: RollbackRequest): Promise<DeployResult> {
  const { service: name, image, log, environment } = request;
  const current = await inspectService(docker, name);
  const live = current ?? (await inspectLiveColor(docker, name));
  if (!live) return { ok: false, reason: `there is no service ${name} to roll back`, rolledBack: false };
  const has = live.Spec.Labels?.["gantry.environment"];
  if (has !== environment) {
    return { ok: false, reason: has === undefined ? `service ${name} was not deployed by Gantry: it is not rolled back` : `service ${name} belongs to environment ${has}, not ${environment}: it is not rolled back`, rolledBack: false };
  }
  if (!current) return (await blueGreenRollback(docker, request)) ?? { ok: false, reason: `there is no service ${name} to roll back`, rolledBack: false };
  const { Spec } = current;
  const spec: ServiceSpec = { ...Spec, TaskTemplate: { ...Spec.TaskTemplate, ContainerSpec: { ...Spec.TaskTemplate.ContainerSpec, Image: image } } };
  // No signal: a rollback is itself the way back, and runs to its end (bounded by budgetMs).
  return updateService(docker, current, { service: name, image, replicas: Spec.Mode?.Replicated?.Replicas ?? 1, spec, log, signal: new AbortController().signal, ...(request.registryAuth !== undefined && { registryAuth: request.registryAuth }) });
}

/** The live color's service of a blue-green service (whose own name is only an alias). */
async function inspectLiveColor(docker: Docker, name: string): Promise<SwarmService | undefined> {
  const colors = await blueGreenStatus(docker, name);
  return colors ? inspectService(docker, colors.service) : undefined;
}

async function status(docker: Docker, name: string): Promise<ServiceStatus | undefined> {
  const service = await inspectService(docker, name);
  if (!service) return blueGreenStatus(docker, name);
  const tasks = await listTasks(docker, service.ID);
  const { State, Message } = service.UpdateStatus ?? {};
  return {
    service: name,
    image: service.Spec.TaskTemplate.ContainerSpec.Image,
    running: tasks.filter((task) => task.DesiredState === "running" && task.Status.State === "running").length,
    desired: service.Spec.Mode?.Replicated?.Replicas ?? 0,
    ...(State && { updateState: State }),
    ...(Message && { updateMessage: Message }),
  };
}

/** Removes the service (and a canary left beside it), or its colors and their network when it runs blue-green. */
async function remove(docker: Docker, name: string): Promise<void> {
  await removeService(docker, name);
  await removeService(docker, canaryName(name));
  await removeColors(docker, name);
}

// ---- the spec ------------------------------------------------------------------------------

/** `base` with the request's image, replicas, env, labels, health check and rollout settings. */
export function specFor(base: ServiceSpec, request: DeployRequest): ServiceSpec {
  const { Healthcheck: _dropped, ...containerBase } = base.TaskTemplate.ContainerSpec;
  const containerSpec: ContainerSpec = {
    ...containerBase,
    Image: request.image,
    Env: Object.entries(request.env).map(([name, value]) => `${name}=${value}`),
    Labels: request.labels,
    // Without one of ours, the image's own HEALTHCHECK applies.
    ...(request.healthCheck && { Healthcheck: healthConfig(request.healthCheck) }),
  };
  const update = updateConfig(request, "rollback");
  return {
    ...base,
    ...(request.ports !== undefined && { EndpointSpec: endpointSpec(request.ports) }),
    Labels: request.labels,
    TaskTemplate: { ...base.TaskTemplate, ContainerSpec: containerSpec },
    Mode: { Replicated: { Replicas: request.replicas } },
    UpdateConfig: update,
    // A rollback that fails too stops where it is, for a person to look at.
    RollbackConfig: { ...update, FailureAction: "pause" },
  };
}

/** The published ports as Swarm's EndpointSpec (the default VIP mode). */
function endpointSpec(ports: readonly PublishedPort[]): { Ports: { Protocol: string; TargetPort: number; PublishedPort: number; PublishMode: string }[] } {
  return { Ports: ports.map((port) => ({ Protocol: port.protocol, TargetPort: port.target, PublishedPort: port.published, PublishMode: port.mode })) };
}

function updateConfig(request: DeployRequest, failureAction: "rollback" | "pause"): UpdateConfig {
  const strategy = rollingOf(request);
  return {
    Parallelism: strategy.parallelism,
    Delay: nanoseconds(strategy.delayMs),
    Order: strategy.order,
    FailureAction: failureAction,
    Monitor: nanoseconds(strategy.monitorMs),
    // One failed task is enough: a deploy should not half-succeed.
    MaxFailureRatio: 0,
  };
}

/** The rolling settings a service's own updates use: other strategies' services update as rolling() does by default. */
function rollingOf({ strategy }: DeployRequest) {
  if (strategy.kind === "rolling") return strategy;
  // A canary's main service is promoted as rolling() does by default.
  return strategy.kind === "blue-green" ? { ...DEFAULT_ROLLING, monitorMs: strategy.monitorMs } : DEFAULT_ROLLING;
}

/** Docker's health check test: the command as given when it names its form ("CMD", "CMD-SHELL", "NONE"), else run as "CMD". */
function healthConfig(check: HealthCheck): HealthConfig {
  const form = ["CMD", "CMD-SHELL", "NONE"].includes(check.command[0] ?? "");
  return {
    Test: form ? check.command : ["CMD", ...check.command],
    Interval: nanoseconds(check.intervalMs),
    Timeout: nanoseconds(check.timeoutMs),
    Retries: check.retries,
    StartPeriod: nanoseconds(check.startPeriodMs),
  };
}

/**
 * The longest a rollout of `spec` may take before it counts as stuck: per batch, the health
 * check's way to healthy (Docker's defaults when unset: 30 s interval and timeout, 3 retries),
 * the monitor window, the delay and some slack. The deploy task's own timeout (its signal)
 * may end it sooner.
 */
export function budgetMs(spec: ServiceSpec): number {
  const replicas = spec.Mode?.Replicated?.Replicas ?? 1;
  const update = spec.UpdateConfig ?? {};
  // Parallelism 0 means all tasks at once.
  const batches = Math.max(1, Math.ceil(replicas / (update.Parallelism || replicas || 1)));
  const check = spec.TaskTemplate.ContainerSpec.Healthcheck;
  const ms = (value: number | undefined, fallback: number) => (value ? value / 1e6 : fallback);
  const health = check && check.Test[0] !== "NONE" ? ms(check.StartPeriod, 0) + ms(check.Interval, 30_000) * ((check.Retries || 3) + 1) + ms(check.Timeout, 30_000) : 0;
  return batches * (BATCH_SLACK_MS + health + ms(update.Monitor, 5_000) + ms(update.Delay, 0));
}

// ---- watching a rollout ----------------------------------------------------------------------

export interface Watch {
  service: string;
  /** The image the rollout should end on. */
  image: string;
  replicas: number;
  log(line: string): void;
  signal?: AbortSignal;
  /** Date.now() past which the rollout counts as stuck. */
  deadline: number;
  /** Tasks that existed before the rollout: not its own. */
  before: Set<string>;
  /** How long the rollout must look finished before it is (a create's monitor window). */
  holdMs: number;
  /** A new task that ends is a failure (a create: Swarm has nothing to roll back to and would just restart it). */
  failFast: boolean;
  /**
   * The watch follows an update Gantry just submitted, which cleared the service's update status:
   * a rollback Swarm completes now undid this update, even when the image stayed the same (a new
   * env or health check that failed).
   */
  afterUpdate?: boolean;
}

export type Settled = {
  how: "converged" | "rolled_back" | "paused" | "failed" | "cancelled" | "timeout";
  service?: SwarmService;
  tasks: SwarmTask[];
  /** Swarm's word on why it rolled back or paused ("update rolled back due to failure or early termination of task …"). */
  swarmSays?: string;
};

/**
 * Polls the service until its rollout is over. Swarm resets UpdateStatus on every update and
 * sets it only when tasks need replacing, so an unset status (nothing changed, a scale-only
 * change, a create) counts as finished once the wanted tasks run the current spec.
 */
export async function watchRollout(docker: Docker, watch: Watch): Promise<Settled> {
  const progress = createProgress(watch);
  let finishedSince: number | undefined;
  let tasks: SwarmTask[] = [];
  // Swarm says why it rolls back only while it does: "rollback completed" replaces it.
  let swarmSays: string | undefined;
  for (;;) {
    if (watch.signal?.aborted) return { how: "cancelled", tasks };
    if (Date.now() > watch.deadline) return { how: "timeout", tasks };
    const service = await inspectService(docker, watch.service);
    if (!service) return { how: "failed", tasks };
    tasks = await listTasks(docker, service.ID);
    const state = service.UpdateStatus?.State;
    progress(service, tasks);
    if (state === "rollback_started" || state === "paused" || state === "rollback_paused") swarmSays ??= service.UpdateStatus?.Message;
    const image = service.Spec.TaskTemplate.ContainerSpec.Image;
    if (state === "rollback_completed" && (image !== watch.image || watch.afterUpdate)) return { how: "rolled_back", service, tasks, ...(swarmSays && { swarmSays }) };
    if (state === "paused" || state === "rollback_paused") return { how: "paused", service, tasks, ...(swarmSays && { swarmSays }) };
    if (watch.failFast && tasks.some((task) => !watch.before.has(task.ID) && ENDED.has(task.Status.State))) return { how: "failed", service, tasks };
    finishedSince = image === watch.image && isFinished(service, tasks, watch.replicas) ? (finishedSince ?? Date.now()) : undefined;
    if (finishedSince !== undefined && Date.now() - finishedSince >= watch.holdMs) return { how: "converged", service, tasks };
    await pause(POLL_MS, watch.signal);
  }
}

function isFinished(service: SwarmService, tasks: SwarmTask[], replicas: number): boolean {
  const state = service.UpdateStatus?.State;
  if (state === "updating" || state === "rollback_started") return false;
  const wanted = tasks.filter((task) => task.DesiredState === "running");
  // Once Swarm says the update completed its tasks are current; without a status, compare specs.
  const current = state ? (task: SwarmTask) => task.Spec.ContainerSpec.Image === service.Spec.TaskTemplate.ContainerSpec.Image : (task: SwarmTask) => sameSpec(task.Spec.ContainerSpec, service.Spec.TaskTemplate.ContainerSpec);
  return wanted.length === replicas && wanted.every((task) => task.Status.State === "running" && current(task));
}

/** Logs Swarm's update state and the count of running tasks of the wanted image, each when it changes. */
function createProgress(watch: Watch): (service: SwarmService, tasks: SwarmTask[]) => void {
  let lastState: string | undefined;
  let lastCount = "";
  return (service, tasks) => {
    const { State, Message } = service.UpdateStatus ?? {};
    if (State && State !== lastState) watch.log(`swarm: ${State.replaceAll("_", " ")}${Message ? ` (${Message})` : ""}`);
    lastState = State;
    const running = tasks.filter((task) => task.DesiredState === "running" && task.Status.State === "running" && task.Spec.ContainerSpec.Image === watch.image).length;
    const count = `${running}/${watch.replicas} tasks running ${watch.image}`;
    if (count !== lastCount) watch.log(count);
    lastCount = count;
  };
}

/** Why this rollout's tasks of `image` ended: Swarm's error, else what their health check said. */
export async function describeFailures(docker: Docker, tasks: SwarmTask[], before: Set<string>, image: string): Promise<string[]> {
  const ended = tasks.filter((task) => !before.has(task.ID) && task.Spec.ContainerSpec.Image === image && ENDED.has(task.Status.State));
  const lines = await Promise.all(
    ended.slice(0, 3).map(async (task) => {
      const health = await healthProblem(docker, task.Status.ContainerStatus?.ContainerID);
      const ending = task.Status.Err ?? `${task.Status.State === "complete" ? "exited" : task.Status.State} with code ${task.Status.ContainerStatus?.ExitCode ?? "?"}`;
      return `task ${task.ID.slice(0, 12)}: ${[ending, health].filter(Boolean).join(", ")}`;
    }),
  );
  return [...new Set(lines)];
}

/**
 * The container's failing health check, if that is what ended it. A stopped container reads
 * "unhealthy" too, so only a failing streak counts.
 */
async function healthProblem(docker: Docker, containerId: string | undefined): Promise<string | undefined> {
  if (!containerId) return undefined;
  type Health = { FailingStreak?: number; Log?: { ExitCode?: number; Output?: string }[] };
  const inspected = (await docker.getContainer(containerId).inspect().catch(() => undefined)) as { State?: { Health?: Health } } | undefined;
  const health = inspected?.State?.Health;
  if (!health?.FailingStreak) return undefined;
  const last = health.Log?.at(-1);
  const output = last?.Output?.trim();
  return `unhealthy: its health check failed ${health.FailingStreak} ${health.FailingStreak === 1 ? "time" : "times"} in a row (exit ${last?.ExitCode ?? "?"}${output ? `: ${output.slice(0, 200)}` : ""})`;
}

// ---- small helpers ---------------------------------------------------------------------------

function deployed(rollout: Pick<Rollout, "service" | "image" | "replicas" | "log">, previousImage: string | undefined): DeployResult {
  rollout.log(`service ${rollout.service} runs ${rollout.image} on ${rollout.replicas}/${rollout.replicas} tasks`);
  return { ok: true, image: rollout.image, ...(previousImage !== undefined && { previousImage }) };
}

/** A deploy or rollback that the engine refused or could not take ends as a failed result, not a throw. */
async function guarded(run: () => Promise<DeployResult>): Promise<DeployResult> {
  try {
    return await run();
  } catch (error) {
    return { ok: false, reason: engineProblem(error), rolledBack: false, ...(isUnreachable(error) && { unreachable: true }) };
  }
}

/** Status and remove throw SwarmProviderError with a sentence. */
async function asked<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new SwarmProviderError(isUnreachable(error) ? "unreachable" : "refused", engineProblem(error));
  }
}

function engineProblem(error: unknown): string {
  return isUnreachable(error) ? `cannot reach the Docker engine: ${dockerMessage(error)}` : `the Docker engine refused: ${dockerMessage(error)}`;
}

function sameSpec(a: ContainerSpec, b: ContainerSpec): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === "object" && !Array.isArray(inner) ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => a.localeCompare(b))) : inner,
  );
}

export const details = (failures: string[]) => (failures.length > 0 ? `: ${failures.join("; ")}` : "");
const nanoseconds = (ms: number) => Math.round(ms * 1e6);
export const seconds = (ms: number) => Math.round(ms / 1000);
