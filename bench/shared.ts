// Shared by the benchmarks: a temp root and a config that reads nothing from where the
// bench is started, one timed run through the orchestrator, and the statistics and
// formatting the figures use.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../app/config.ts";
import type { Deps } from "../app/deps.ts";
import { getRun } from "../app/db/repos/runs.ts";
import type { PipelineKey } from "../app/domain/pipeline-key.ts";

/** A new temp folder for one bench, with an empty pipelines folder in it. */
export function benchRoot(name: string): { root: string; pipelinesDir: string } {
  const root = mkdtempSync(join(tmpdir(), `gantry-bench-${name}-`));
  // The sandbox user loads pipeline files and runs task code from here.
  chmodSync(root, 0o755);
  const pipelinesDir = join(root, "pipelines");
  mkdirSync(pipelinesDir);
  return { root, pipelinesDir };
}

/**
 * The config of a bench's server: data under `root`, random ports, the repository's
 * built-in extensions. `root` is the working directory, so a developer's gantry.toml where
 * the bench is started is not read.
 */
export function benchConfig(root: string, pipelinesDir: string, extraEnv: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      GANTRY_DATA_DIR: join(root, "data"),
      GANTRY_PIPELINES_DIR: pipelinesDir,
      GANTRY_EXTENSIONS_DIR: join(import.meta.dir, "..", "extensions"),
      GANTRY_PORT: "0",
      GANTRY_HOOKS_PORT: "0",
      GANTRY_HOST: "127.0.0.1",
      // Warm runners on or off for a side-by-side pass (GANTRY_RUN_POOL=0 npm run bench).
      ...(process.env.GANTRY_RUN_POOL !== undefined && { GANTRY_RUN_POOL: process.env.GANTRY_RUN_POOL }),
      ...extraEnv,
    },
    cwd: root,
  });
}

/** Starts a run and resolves with its wall time once it has finished (state persisted); throws if it failed. */
export async function timedRun(deps: Deps, key: PipelineKey): Promise<number> {
  const started = performance.now();
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let runId = -1;
  const unsubscribe = deps.bus.subscribe((message) => {
    if (message.kind === "run.finished" && message.pipeline === key.id && message.run === runId) resolveDone();
  });
  const run = await deps.orchestrator.startRun(key, { trigger: { kind: "bench" } });
  runId = run.id;
  await done;
  const elapsed = performance.now() - started;
  unsubscribe();
  const stored = await getRun(deps.db, { ...key, run: runId });
  if (stored?.state !== "successful") {
    const failed = stored?.tasks.filter((task) => task.state !== "successful").map((task) => `${task.taskId}: ${task.reason}`);
    throw new Error(`run ${key.id}#${runId} ended ${stored?.state}: ${stored?.reason}\n  ${failed?.join("\n  ")}`);
  }
  return elapsed;
}

/** The middle value; with an even count, the mean of the two middle values. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The nearest-rank percentile: the smallest value with at least p% of the values at or below it. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Milliseconds as the figures print them. */
export function ms(value: number, digits = 1): string {
  return `${value.toFixed(digits)} ms`;
}

/** The figures a bench hands to bench/all.ts: one last stdout line, `BENCH_JSON {...}`. */
export function printFigures(figures: Record<string, number>): void {
  console.log(`BENCH_JSON ${JSON.stringify(figures)}`);
}

/** Wall time of `count` runs of `argv` as bare processes, at most `limit` at once. */
export async function barePool(command: string[] | { cmd: string[]; uid?: number; gid?: number }, count: number, limit: number): Promise<number> {
  const spawnable = Array.isArray(command) ? { cmd: command } : command;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next++ < count) {
        const child = Bun.spawn({ ...spawnable, stdout: "pipe", stderr: "pipe" });
        await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      }
    }),
  );
  return performance.now() - started;
}

/** CPU time the whole machine has spent busy so far, all cores, in ms (/proc/stat; 10 ms ticks). */
export function machineBusyMs(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // idle and iowait are the fourth and fifth fields; the rest is busy.
  const total = fields.reduce((sum, value) => sum + value, 0);
  return (total - fields[3]! - fields[4]!) * 10;
}
