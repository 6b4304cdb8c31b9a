// Prunes what runs leave behind: this server's containers and Swarm services whose runs have
// ended (kept ones beyond the last N runs of their pipeline, and any orphan still running after a crash) and the
// workspaces of all but the last N finished runs per pipeline, run objects that have
// expired, old events, the revoked tokens of old runs, old bundles and artifact blobs whose
// rows are gone (through hooks). Runs at start and on a timer.
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { GANTRY_LABELS, isUnreachable, listServerContainers, listServerServices, type DockerConnection } from "./executors/docker-client.ts";
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

export function createJanitor(options: JanitorOptions): Janitor {
  let timer: ReturnType<typeof setInterval> | undefined;
  let running: Promise<PruneResult> | undefined;

  const pruneContainers = async (active: Set<string>): Promise<{ removed: number; error?: string }> => {
    if (!options.docker) return { removed: 0 };
    const { docker } = options.docker;
    let containers: Awaited<ReturnType<typeof listServerContainers>>;
    try {
      // Other Gantry servers may share the engine: their runs are not ours to judge.
      containers = await listServerContainers(docker, options.instance);
    } catch (error) {
      return { removed: 0, error: isUnreachable(error) ? "Docker engine unreachable" : (error as Error).message };
    }
    const keptRuns = new Map<string, number[]>();
    for (const info of containers) {
      if (info.Labels[GANTRY_LABELS.keep] !== "true") continue;
      const pipeline = `${info.Labels[GANTRY_LABELS.namespace]}/${info.Labels[GANTRY_LABELS.pipeline]}`;
      keptRuns.set(pipeline, [...(keptRuns.get(pipeline) ?? []), Number(info.Labels[GANTRY_LABELS.run])]);
    }
    const keep = new Map([...keptRuns].map(([pipeline, runs]) => [pipeline, newest([...new Set(runs)], options.keepLast)]));
    let removed = 0;
    for (const info of containers) {
      if (info.Labels[GANTRY_LABELS.extension]) continue;
      const key = {
        namespace: info.Labels[GANTRY_LABELS.namespace] ?? "",
        id: info.Labels[GANTRY_LABELS.pipeline] ?? "",
        run: Number(info.Labels[GANTRY_LABELS.run]),
      };
      if (active.has(runKeyString(key))) continue;
      const kept = info.Labels[GANTRY_LABELS.keep] === "true" && info.State !== "running" && keep.get(`${key.namespace}/${key.id}`)?.has(key.run);
      if (kept) continue;
      // Its run is over: a running one is an orphan of a crash, a stopped one is left-over.
      await docker.getContainer(info.Id).remove({ force: true, v: true }).then(
        () => removed++,
        () => undefined,
      );
    }
    return { removed };
  };

  /** The same rule for Swarm services: only this server's, of runs that have ended, kept ones for the last N runs. */
  const pruneServices = async (active: Set<string>): Promise<number> => {
    if (!options.docker) return 0;
    const { docker } = options.docker;
    const services = await listServerServices(docker, options.instance).catch(() => []);
    const labelsOf = (service: (typeof services)[number]) => service.Spec?.Labels ?? {};
    const keptRuns = new Map<string, number[]>();
    for (const service of services) {
      const labels = labelsOf(service);
      if (labels[GANTRY_LABELS.keep] !== "true") continue;
      const pipeline = `${labels[GANTRY_LABELS.namespace]}/${labels[GANTRY_LABELS.pipeline]}`;
      keptRuns.set(pipeline, [...(keptRuns.get(pipeline) ?? []), Number(labels[GANTRY_LABELS.run])]);
    }
    const keep = new Map([...keptRuns].map(([pipeline, runs]) => [pipeline, newest([...new Set(runs)], options.keepLast)]));
    let removed = 0;
    for (const service of services) {
      const labels = labelsOf(service);
      const key = { namespace: labels[GANTRY_LABELS.namespace] ?? "", id: labels[GANTRY_LABELS.pipeline] ?? "", run: Number(labels[GANTRY_LABELS.run]) };
      if (active.has(runKeyString(key))) continue;
      if (labels[GANTRY_LABELS.keep] === "true" && keep.get(`${key.namespace}/${key.id}`)?.has(key.run)) continue;
      await docker.getService(service.ID).remove().then(
        () => removed++,
        () => undefined,
      );
    }
    return removed;
  };

  const pruneWorkspaces = (active: Set<string>): number => {
    let removed = 0;
    const dirs = (path: string) => {
      try {
        return readdirSync(path, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
      } catch {
        return [];
      }
    };
    for (const namespace of dirs(options.workspacesDir)) {
      for (const pipeline of dirs(join(options.workspacesDir, namespace))) {
        const base = join(options.workspacesDir, namespace, pipeline);
        const runs = dirs(base).filter((name) => /^\d+$/.test(name)).map(Number);
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
    }
    return removed;
  };

  const prune = async (): Promise<PruneResult> => {
    if (running) return running;
    running = (async () => {
      // Asked once: a run that ends meanwhile is pruned next time.
      const active = await options.unfinishedRuns();
      const containers = await pruneContainers(active);
      const services = containers.error ? 0 : await pruneServices(active);
      const workspaces = pruneWorkspaces(active);
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
      if (service.Spec?.Labels?.[GANTRY_LABELS.keep] === "true") continue;
      await docker.getService(service.ID).remove().then(
        () => removed++,
        () => undefined,
      );
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
