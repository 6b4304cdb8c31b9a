// The Engine API's Swarm calls both Swarm users share, the swarm executor (jobs of one task)
// and the swarm deploy provider (replicated services): the shapes of services and tasks they
// read and write, creating, inspecting, updating and removing services, and reading tasks.
import type Docker from "dockerode";
import { pause } from "../pause.ts";

// The parts of the Engine API's objects Gantry reads or writes. The other fields of a spec are
// carried through untouched (index signatures), so an update keeps what others set.
// @types/dockerode spells the health check "HealthCheck" and types inspections as `any`.
export interface HealthConfig {
  Test: string[];
  /** Durations in nanoseconds. */
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}
export interface ContainerSpec {
  Image: string;
  Env?: string[];
  Labels?: Record<string, string>;
  Healthcheck?: HealthConfig;
  [field: string]: unknown;
}
export interface UpdateConfig {
  Parallelism: number;
  Delay: number;
  Order: string;
  FailureAction: string;
  Monitor: number;
  MaxFailureRatio: number;
}
export interface ServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: { ContainerSpec: ContainerSpec; [field: string]: unknown };
  Mode?: { Replicated?: { Replicas?: number }; [mode: string]: unknown };
  UpdateConfig?: Partial<UpdateConfig>;
  RollbackConfig?: Partial<UpdateConfig>;
  [field: string]: unknown;
}
export interface SwarmService {
  ID: string;
  Version: { Index: number };
  Spec: ServiceSpec;
  UpdateStatus?: { State?: string; Message?: string };
}
export interface SwarmTask {
  ID: string;
  /** Set once the scheduler gave the task a node. */
  NodeID?: string;
  CreatedAt?: string;
  DesiredState: string;
  Spec: { ContainerSpec: ContainerSpec };
  Status: { State: string; Err?: string; Message?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
}

const statusOf = (error: unknown) => (error as { statusCode?: number }).statusCode;

/** The call's answer, or `missing` when the engine answers 404 (what it names is not there). */
async function unlessMissing<T, M>(call: Promise<T>, missing: M): Promise<T | M> {
  try {
    return await call;
  } catch (error) {
    if (statusOf(error) === 404) return missing;
    throw error;
  }
}

/** Creates a service; `auth` goes to the nodes that pull its image (X-Registry-Auth). */
export async function createSwarmService(docker: Docker, spec: ServiceSpec, auth?: Record<string, string>): Promise<void> {
  // The casts: @types/dockerode's ContainerSpec names the health check "HealthCheck" (the engine
  // answers "Healthcheck"), and its AuthConfig wants fields Docker's JSON auth may leave out.
  if (auth) await docker.createService(auth as unknown as Docker.AuthConfig, spec as unknown as Docker.ServiceSpec);
  else await docker.createService(spec as unknown as Docker.CreateServiceOptions);
}

/** The service by name or id; undefined when there is none. */
export function inspectService(docker: Docker, name: string): Promise<SwarmService | undefined> {
  return unlessMissing(docker.getService(name).inspect() as Promise<SwarmService>, undefined);
}

/** The tasks of a service (by name or id); none once the service is gone (the engine answers 404 for a name it no longer knows). */
export function listTasks(docker: Docker, service: string): Promise<SwarmTask[]> {
  return unlessMissing(docker.listTasks({ filters: { service: [service] } }) as Promise<SwarmTask[]>, []);
}

/**
 * One task by id; undefined once Swarm has deleted it. A removed service's tasks outlive it
 * while their containers stop (desired state "remove"), so a task is followed by its id.
 */
export function getTask(docker: Docker, id: string): Promise<SwarmTask | undefined> {
  return unlessMissing(docker.getTask(id).inspect() as Promise<SwarmTask>, undefined);
}

/** An update at the version read (Swarm refuses it if someone changed the service since); `rollback` asks for Swarm's own. */
export async function submitUpdate(docker: Docker, service: SwarmService, spec: ServiceSpec, rollback?: "previous", authconfig?: Record<string, string>): Promise<void> {
  // dockerode sends the options as both query and body unless told which is which.
  await docker.getService(service.ID).update({ _query: { version: service.Version.Index, ...(rollback && { rollback }) }, _body: spec, ...(authconfig && { authconfig }) });
}

/**
 * Removes one service, once: true when it was removed, false when there was none. Any other
 * failure throws, for the caller to report (a deploy) or to try again (removeServiceUntilGone).
 */
export function removeService(docker: Docker, name: string): Promise<boolean> {
  return unlessMissing(docker.getService(name).remove().then(() => true), false);
}

export interface RetryOptions {
  /** Stops trying (the server is stopping): the next server finds the service again. */
  signal?: AbortSignal;
  /** Gives up after this long (ms); unset, tries until it is done. */
  budgetMs?: number;
  /** The first wait between tries (ms), doubled each time up to 5 s. */
  firstDelayMs?: number;
  /** Told of each failed try. */
  failed?(error: unknown, tries: number): void;
}

/**
 * Does `action` until it succeeds, trying again (with backoff) while the engine refuses or
 * does not answer. True once it did; false when the signal or budget ended the tries.
 */
export async function retrying(action: () => Promise<unknown>, options: RetryOptions = {}): Promise<boolean> {
  const until = options.budgetMs !== undefined ? Date.now() + options.budgetMs : Infinity;
  let delay = options.firstDelayMs ?? 250;
  for (let tries = 1; ; tries++) {
    if (options.signal?.aborted) return false;
    try {
      await action();
      return true;
    } catch (error) {
      options.failed?.(error, tries);
    }
    if (Date.now() + delay > until) return false;
    await pause(delay, options.signal);
    delay = Math.min(delay * 2, 5_000);
  }
}

/** Removes a service, trying again while the engine refuses, until it is removed or gone (404). */
export function removeServiceUntilGone(docker: Docker, name: string, options: RetryOptions = {}): Promise<boolean> {
  return retrying(() => removeService(docker, name), options);
}

/**
 * Ends a job's task wherever it runs: its service is updated to want no completions, and Swarm
 * stops the task (SIGTERM, SIGKILL after the service's StopGracePeriod; a task not yet on a
 * node is dropped). Removing the service would not do: engines before Docker 24 leave a
 * removed job's tasks as they are, running ones run on to their end and pending ones wait
 * forever (moby/moby#44312, fixed by moby/swarmkit#3112). The service stays until cleanup.
 */
export async function stopJobService(docker: Docker, name: string): Promise<void> {
  const service = await inspectService(docker, name);
  const job = service?.Spec.Mode?.["ReplicatedJob"] as { MaxConcurrent?: number; TotalCompletions?: number } | undefined;
  if (!service || !job || job.TotalCompletions === 0) return;
  // A new job iteration: the tasks of the one before are set to be removed, and none is made.
  await submitUpdate(docker, service, { ...service.Spec, Mode: { ReplicatedJob: { ...job, TotalCompletions: 0 } } });
}

/** Waits (up to 10 s) until a removed service is gone, so a new one may take its name. */
export async function waitGone(docker: Docker, name: string): Promise<void> {
  for (let attempt = 0; attempt < 40 && (await inspectService(docker, name)); attempt++) await Bun.sleep(250);
}
