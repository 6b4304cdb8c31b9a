// Prunes what runs leave behind: this server's containers and Swarm services whose runs have
// ended (kept ones beyond the last N runs of their pipeline, and any orphan still running
// after a crash), the stopped task containers of services that are gone (Swarm takes minutes
// to remove them), the workspaces of all but the last N finished runs per pipeline, run
// objects that have expired, old events, the revoked tokens of old runs, old bundles and
// artifact blobs whose rows are gone (through hooks). Runs at start and on a timer.
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import { GANTRY_LABELS, isUnreachable, listServerContainers, listServerServices, LIST_TIMEOUT_MS, serverLabels, withinTime, type DockerConnection } from "./executors/docker-client.ts";
import { listTasks, stopJobService } from "./executors/swarm-client.ts";
import { taskOver } from "./executors/swarm-job.ts";
import { runKeyString, type RunKey } from "../domain/run-key.ts";

export interface JanitorOptions {
  docker?: DockerConnection;
  /** Only containers labelled with this server's instance are ours to prune. */
  instance: string;
  workspacesDir: string;
  keepLast: number;
  /** Keys ("ns/id#run") of runs not yet ended: their containers and workspaces stay. */
  unfinishedRuns: () => Promise<Set<string>>;
  /** Removes expired run objects; returns how many runs lost theirs. */
  expireObjects?: () => Promise<number>;
  /** Removes events past their retention; returns how many. */
  pruneEvents?: () => Promise<number>;
  /** Removes run tokens revoked long enough ago; returns how many. */
  pruneRunTokens?: () => Promise<number>;
  /** Removes pipeline bundles nothing uses any more; returns how many. */
  pruneBundles?: () => Promise<number>;
  /** Removes artifact and cache blobs no row refers to any more (their runs were deleted); returns how many. */
  pruneArtifacts?: () => Promise<number>;
}

export interface PruneResult {
  containers: number;
  /** Swarm services (the swarm executor's jobs) removed. */
  services: number;
  workspaces: number;
  /** Runs whose expired objects were removed. */
  objectRuns: number;
  /** Events past their retention that were removed. */
  events: number;
  /** Revoked run tokens that were deleted. */
  runTokens: number;
  /** Old pipeline bundles that were deleted. */
  bundles: number;
  /** Artifact and cache blobs no row referred to, deleted. */
  artifactBlobs: number;
  /** Set when the Docker engine could not be asked. */
  dockerError?: string;
}

export interface Janitor {
  prune(): Promise<PruneResult>;
  /** Removes an ended run's containers and services at once (all but kept ones); returns how many. */
  pruneRun(run: RunKey): Promise<number>;
  start(intervalMs: number): void;
  stop(): void;
}

/** Run numbers to keep per pipeline: the newest `keepLast`. */
function newest(runs: number[], keepLast: number): Set<number> {
  return new Set([...runs].sort((a, b) => b - a).slice(0, keepLast));
}

/** The run a container's or service's labels name. */
const runOf = (labels: Record<string, string>): RunKey => ({
  namespace: labels[GANTRY_LABELS.namespace] ?? "",
  id: labels[GANTRY_LABELS.pipeline] ?? "",
  run: Number(labels[GANTRY_LABELS.run]),
});

/**
 * Which of these (a container's or service's labels) were kept for debugging (keepContainer)
 * in one of the newest `keepLast` runs of their pipeline that kept any: those may stay.
 */
function keptRuns(all: Record<string, string>[], keepLast: number): (labels: Record<string, string>) => boolean {
  const kept = all.filter((labels) => labels[GANTRY_LABELS.keep] === "true");
  const runs = new Map<string, number[]>();
  for (const labels of kept) {
    const { namespace, id, run } = runOf(labels);
    runs.set(`${namespace}/${id}`, [...(runs.get(`${namespace}/${id}`) ?? []), run]);
  }
  const keep = new Map([...runs].map(([pipeline, numbers]) => [pipeline, newest([...new Set(numbers)], keepLast)]));
  return (labels) => {
    const { namespace, id, run } = runOf(labels);
    return labels[GANTRY_LABELS.keep] === "true" && keep.get(`${namespace}/${id}`)?.has(run) === true;
  };
}

/** Swarm's label on a task's container: the service it belongs to. */
const SWARM_SERVICE_LABEL = "com.docker.swarm.service.id";

/** Whether none of a service's tasks runs (or may start) any more: a kept service must have stopped. */
async function serviceStopped(docker: Docker, id: string): Promise<boolean> {
  const tasks = await listTasks(docker, id).catch(() => undefined);
  return tasks !== undefined && tasks.every(taskOver);
}

type ServiceInfo = { ID: string; Spec?: { Labels?: Record<string, string>; Mode?: Record<string, unknown> } };

/**
 * Removes a service; true once it is gone. A job (the swarm executor's) whose task still runs
 * is stopped instead, and removed by a later prune once it has: engines before Docker 24 let
 * a removed job's task run on (stopJobService).
 */
async function removeOrStop(docker: Docker, service: ServiceInfo): Promise<boolean> {
  if (service.Spec?.Mode?.["ReplicatedJob"] !== undefined && !(await serviceStopped(docker, service.ID))) {
    await stopJobService(docker, service.ID).catch(() => undefined);
    return false;
  }
  return docker.getService(service.ID).remove().then(
    () => true,
    () => false,
  );
}

/** This server's services; undefined when they cannot be listed (engine away, or no manager): then no task container is judged by its service. */
async function listOwnServices(docker: Docker, instance: string): Promise<ServiceInfo[] | undefined> {
  const label = Object.entries(serverLabels(instance)).map(([key, value]) => `${key}=${value}`);
  return (withinTime(docker.listServices({ filters: { label } }), LIST_TIMEOUT_MS) as Promise<ServiceInfo[]>).catch(() => undefined);
}

export function createJanitor(options: JanitorOptions): Janitor {
  let timer: ReturnType<typeof setInterval> | undefined;
  let running: Promise<PruneResult> | undefined;

  /** `services`: the IDs of this server's services that exist (undefined: unknown), which their task containers follow. */
  const pruneContainers = async (services: Set<string> | undefined): Promise<{ removed: number; error?: string }> => {
    if (!options.docker) return { removed: 0 };
    const { docker } = options.docker;
    let containers: Awaited<ReturnType<typeof listServerContainers>>;
    try {
      // Other Gantry servers may share the engine: their runs are not ours to judge.
      containers = await listServerContainers(docker, options.instance);
    } catch (error) {
      return { removed: 0, error: isUnreachable(error) ? "Docker engine unreachable" : (error as Error).message };
    }
    // Read after the list: a container listed belongs to a run stored by then (a slow engine's list may take seconds).
    const active = await options.unfinishedRuns();
    const kept = keptRuns(containers.map((info) => info.Labels), options.keepLast);
    let removed = 0;
    for (const info of containers) {
      if (info.Labels[GANTRY_LABELS.extension]) continue;
      const service = info.Labels[SWARM_SERVICE_LABEL];
      if (service !== undefined) {
        // A swarm task's container follows its service: once that is gone and it has stopped, it goes.
        if (services === undefined || services.has(service) || info.State === "running") continue;
      } else {
        if (active.has(runKeyString(runOf(info.Labels)))) continue;
        if (info.State !== "running" && kept(info.Labels)) continue;
        // Its run is over: a running one is an orphan of a crash, a stopped one is left-over.
      }
      await docker.getContainer(info.Id).remove({ force: true, v: true }).then(
        () => removed++,
        () => undefined,
      );
    }
    return { removed };
  };

  /**
   * The same rule for Swarm services: only this server's, of runs that have ended, kept ones
   * for the last N runs once their task has stopped (one still running is an orphan of a crash).
   * Answers how many went and the IDs of those that stay.
   */
  const pruneServices = async (active: Set<string>, services: ServiceInfo[]): Promise<{ removed: number; remaining: Set<string> }> => {
    const { docker } = options.docker!;
    const labelsOf = (service: ServiceInfo) => service.Spec?.Labels ?? {};
    const kept = keptRuns(services.map(labelsOf), options.keepLast);
    const remaining = new Set(services.map((service) => service.ID));
    let removed = 0;
    for (const service of services) {
      const labels = labelsOf(service);
      if (active.has(runKeyString(runOf(labels)))) continue;
      if (kept(labels) && (await serviceStopped(docker, service.ID))) continue;
      if (await removeOrStop(docker, service)) {
        removed++;
        remaining.delete(service.ID);
      }
    }
    return { removed, remaining };
  };

  const pruneWorkspaces = async (): Promise<number> => {
    let removed = 0;
    const dirs = (path: string) => {
      try {
        return readdirSync(path, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
      } catch {
        return [];
      }
    };
    // The folders first, then the runs still going: a workspace listed belongs to a run stored by then.
    const found: { base: string; namespace: string; pipeline: string; runs: number[] }[] = [];
    for (const namespace of dirs(options.workspacesDir)) {
      for (const pipeline of dirs(join(options.workspacesDir, namespace))) {
        const base = join(options.workspacesDir, namespace, pipeline);
        found.push({ base, namespace, pipeline, runs: dirs(base).filter((name) => /^\d+$/.test(name)).map(Number) });
      }
    }
    if (found.length === 0) return 0;
    const active = await options.unfinishedRuns();
    for (const { base, namespace, pipeline, runs } of found) {
      const finished = runs.filter((run) => !active.has(runKeyString({ namespace, id: pipeline, run })));
      const keep = newest(finished, options.keepLast);
      for (const run of finished) {
        if (keep.has(run)) continue;
        try {
          rmSync(join(base, String(run)), { recursive: true, force: true });
          removed++;
        } catch (error) {
          // e.g. files a container wrote as another user; try again next time, never stop the server.
          console.error(`cannot prune workspace ${join(base, String(run))}: ${(error as Error).message}`);
        }
      }
    }
    return removed;
  };

  const prune = async (): Promise<PruneResult> => {
    if (running) return running;
    running = (async () => {
      // The runs still going are read after each listing (services, containers, workspaces), so
      // what was listed belongs to a run stored by then: one started meanwhile is never judged
      // finished. A run that ends meanwhile is pruned next time.
      const listed = options.docker ? await listOwnServices(options.docker.docker, options.instance) : undefined;
      const pruned = listed ? await pruneServices(await options.unfinishedRuns(), listed) : undefined;
      const containers = await pruneContainers(pruned?.remaining);
      const services = pruned?.removed ?? 0;
      const workspaces = await pruneWorkspaces();
      const objectRuns = (await options.expireObjects?.()) ?? 0;
      const events = (await options.pruneEvents?.()) ?? 0;
      const runTokens = (await options.pruneRunTokens?.()) ?? 0;
      const bundles = (await options.pruneBundles?.()) ?? 0;
      const artifactBlobs = (await options.pruneArtifacts?.().catch((error) => {
        // A bucket that does not answer now is swept next time; the rest of the prune stands.
        console.error(`cannot prune artifact blobs: ${(error as Error).message}`);
        return 0;
      })) ?? 0;
      return {
        containers: containers.removed,
        services,
        workspaces,
        objectRuns,
        events,
        runTokens,
        bundles,
        artifactBlobs,
        ...(containers.error && { dockerError: containers.error }),
      };
    })();
    try {
      return await running;
    } finally {
      running = undefined;
    }
  };

  const pruneRun = async (run: RunKey): Promise<number> => {
    if (!options.docker) return 0;
    const { docker } = options.docker;
    let containers: Awaited<ReturnType<typeof listServerContainers>>;
    try {
      containers = await listServerContainers(docker, options.instance, {
        [GANTRY_LABELS.namespace]: run.namespace,
        [GANTRY_LABELS.pipeline]: run.id,
        [GANTRY_LABELS.run]: String(run.run),
      });
    } catch {
      return 0;
    }
    let removed = 0;
    for (const info of containers) {
      if (info.Labels[GANTRY_LABELS.keep] === "true") continue;
      await docker.getContainer(info.Id).remove({ force: true, v: true }).then(
        () => removed++,
        () => undefined,
      );
    }
    const runLabels = { [GANTRY_LABELS.namespace]: run.namespace, [GANTRY_LABELS.pipeline]: run.id, [GANTRY_LABELS.run]: String(run.run) };
    for (const service of await listServerServices(docker, options.instance, runLabels).catch(() => [])) {
      if (service.Spec?.Labels?.[GANTRY_LABELS.keep] === "true" && (await serviceStopped(docker, service.ID))) continue;
      if (await removeOrStop(docker, service)) removed++;
    }
    return removed;
  };

  return {
    prune,
    pruneRun,
    start(intervalMs) {
      timer = setInterval(() => void prune().catch((error) => console.error("prune failed:", error)), intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
