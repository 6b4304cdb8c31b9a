// What GET /metrics tells a Prometheus scraper (prom-client, a registry per server): runs by
// pipeline and state, the queue's depth and its longest wait, task durations and executor
// errors (of the tasks this server ran, read when scraped), webhook deliveries in the event
// log, whether the run() sandbox and the Docker engine are up, and how run() tasks got their
// runners (warm or not: is the pool big enough?). Counts come from the database when
// scraped, so every server sharing it tells the same; durations and runners are this server's
// own. prom-client (~6 MiB) loads on the first scrape: a server nobody scrapes never holds it.
import type { Counter, Histogram, Registry } from "prom-client";
import type { Db } from "../db/client.ts";
import { deliveryCounts, executionEnd, queueStats, runCountsByState } from "../db/repos/metrics.ts";
import type { RunKey } from "../domain/run-key.ts";
import { GANTRY_VERSION } from "../version.ts";
import type { EventBus } from "./event-bus.ts";
import type { RunnerCounts } from "./executors/bun-process.ts";
import type { RunSandbox } from "./executors/run-sandbox.ts";

export interface Metrics {
  /** The exposition text and its content type. */
  scrape(): Promise<{ body: string; contentType: string }>;
  /** Stops following task ends. */
  stop(): void;
}

export interface MetricsOptions {
  db: Db;
  bus: EventBus;
  sandbox: RunSandbox;
  docker: { health(): Promise<{ status: string }> };
  /** How this server's run() tasks got their runners, and its warm runners now. */
  runners?: () => RunnerCounts;
  now: () => Date;
}

/** Task ends noted between two scrapes, at most (a server nobody scrapes keeps no more). */
const MAX_UNSCRAPED_ENDS = 10_000;

/** Task duration buckets, in seconds: from a no-op run() task to an hour-long build. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export function createMetrics(options: MetricsOptions): Metrics {
  const { db, bus, sandbox, docker, runners, now } = options;
  // Both queue gauges read the one query each scrape makes first (scrape() below).
  let queue: Awaited<ReturnType<typeof queueStats>> = { queued: 0, oldestQueuedAt: null };
  // So do the runner series, of one look at the pool (the same moment in each).
  let counts: RunnerCounts | undefined;

  const buildRegistry = async (): Promise<{ registry: Registry; durations: Histogram; executorErrors: Counter }> => {
    const { Counter, Gauge, Histogram, Registry } = await import("prom-client");
    const registry = new Registry();
    new Gauge({ name: "gantry_info", help: "This server's version (always 1).", labelNames: ["version"], registers: [registry] }).set({ version: GANTRY_VERSION }, 1);
    new Gauge({
      name: "gantry_runs",
      help: "Runs in the database, by pipeline and state.",
      labelNames: ["namespace", "pipeline", "state"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const row of await runCountsByState(db)) this.set({ namespace: row.namespace, pipeline: row.pipeline, state: row.state }, row.runs);
      },
    });
    new Gauge({
      name: "gantry_queue_depth",
      help: "Runs waiting queued (paused, or over a concurrency limit).",
      registers: [registry],
      collect() {
        this.set(queue.queued);
      },
    });
    new Gauge({
      name: "gantry_queue_oldest_wait_seconds",
      help: "How long the run queued longest has waited; 0 with nothing queued.",
      registers: [registry],
      collect() {
        this.set(queue.oldestQueuedAt ? Math.max(0, (now().getTime() - queue.oldestQueuedAt.getTime()) / 1000) : 0);
      },
    });
    new Gauge({
      name: "gantry_webhook_deliveries",
      help: "Webhook deliveries the event log holds, by extension (or git source) and outcome (accepted, rejected, duplicate).",
      labelNames: ["via", "outcome"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const row of await deliveryCounts(db)) this.set({ via: row.via, outcome: row.kind.slice("delivery.".length) }, row.deliveries);
      },
    });
    new Gauge({
      name: "gantry_sandbox_up",
      help: "Whether run() tasks run in their sandbox (1), or it is off or unavailable (0).",
      labelNames: ["state"],
      registers: [registry],
      collect() {
        this.reset();
        this.set({ state: sandbox.status.state }, sandbox.status.state === "on" ? 1 : 0);
      },
    });
    new Gauge({
      name: "gantry_docker_up",
      help: "Whether the Docker engine answers (container tasks need it).",
      registers: [registry],
      async collect() {
        this.set((await docker.health().catch(() => ({ status: "unavailable" }))).status === "ok" ? 1 : 0);
      },
    });
    if (runners) {
      new Counter({
        name: "gantry_run_task_runners_total",
        help: "run() tasks this server started in its sandbox, by the runner they got: warm (booted before the task), booting (booted ahead for its run, still booting: waited for) or own (started for the task: no warm runner for it, network none, or a variable only a starting process reads).",
        labelNames: ["runner"],
        registers: [registry],
        collect() {
          this.reset();
          for (const [runner, count] of Object.entries(counts?.started ?? {})) this.inc({ runner }, count);
        },
      });
      new Counter({
        name: "gantry_runner_pool_misses_total",
        help: "New runs on this server that found no warm runner ready for their first run() task, even after waiting up to 100 ms for one booting. A count that keeps growing says GANTRY_RUN_POOL is too small for how often runs start.",
        registers: [registry],
        collect() {
          this.reset();
          this.inc(counts?.pool.misses ?? 0);
        },
      });
      new Gauge({
        name: "gantry_runner_pool_ready",
        help: "Spare warm runners of this server ready now, waiting for a new run.",
        registers: [registry],
        collect() {
          this.set(counts?.pool.ready ?? 0);
        },
      });
      new Gauge({
        name: "gantry_runner_pool_size",
        help: "How many warm runners this server keeps ready (GANTRY_RUN_POOL); 0 when the pool is off or stopped.",
        registers: [registry],
        collect() {
          this.set(counts?.pool.size ?? 0);
        },
      });
    }
    const durations = new Histogram({
      name: "gantry_task_duration_seconds",
      help: "How long tasks this server ran took, by kind and final state.",
      labelNames: ["kind", "state"],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    const executorErrors = new Counter({
      name: "gantry_executor_errors_total",
      help: "Tasks this server ran that failed without an exit code of their own (a process or container that could not start or was lost), by kind.",
      labelNames: ["kind"],
      registers: [registry],
    });
    return { registry, durations, executorErrors };
  };
  let built: ReturnType<typeof buildRegistry> | undefined;

  // A task's end is noted as it happens and read when scraped: no query on the path of every
  // task's end for a server nobody scrapes. Past the cap the oldest notes are dropped.
  const ended: { key: RunKey; task: string }[] = [];
  const unsubscribe = bus.subscribe((message) => {
    // This server's own tasks: another server sharing the database observes its.
    if (message.kind !== "task.finished" || message.remote || !message.namespace || !message.pipeline || message.run === undefined || !message.task) return;
    ended.push({ key: { namespace: message.namespace, id: message.pipeline, run: message.run }, task: message.task });
    if (ended.length > MAX_UNSCRAPED_ENDS) ended.shift();
  });
  const observeEnded = async ({ durations, executorErrors }: Awaited<ReturnType<typeof buildRegistry>>) => {
    for (const { key, task } of ended.splice(0)) {
      const row = await executionEnd(db, key, task).catch(() => undefined);
      if (!row?.startedAt || !row.endedAt) continue;
      durations.observe({ kind: row.kind, state: row.state }, Math.max(0, (row.endedAt.getTime() - row.startedAt.getTime()) / 1000));
      const ownFailure = row.state === "failed" && row.exitCode === null && !/^(timed out|rejected|run cancelled)/.test(row.reason ?? "");
      if (ownFailure && row.kind !== "approval") executorErrors.inc({ kind: row.kind });
    }
  };

  return {
    async scrape() {
      // A failed load is tried again at the next scrape.
      const metrics = await (built ??= buildRegistry().catch((error: unknown) => {
        built = undefined;
        throw error;
      }));
      await observeEnded(metrics);
      queue = await queueStats(db);
      counts = runners?.();
      return { body: await metrics.registry.metrics(), contentType: metrics.registry.contentType };
    },
    stop: unsubscribe,
  };
}
