// Page benchmark: server render time of the dashboard, a pipeline page and a run page with
// 10,000 finished runs in the database. Prints figures; the goal is in bench/README.md.
// Usage: bun bench/pages.ts [--quick]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { eq, and } from "drizzle-orm";
import { loadConfig } from "../app/config.ts";
import { pipelines, runs, taskExecutions, type RunTrigger } from "../app/db/schema/index.ts";
import type { RunState, TaskState } from "../app/domain/states.ts";
import { createServer } from "../app/server.ts";
import { startGantry } from "../app/start.ts";
import { listPipelines } from "../app/db/repos/pipelines.ts";
import { activeRunsByPipeline, lastRunOfEachPipeline, pipelineOverviews, recentRuns } from "../app/db/repos/run-summaries.ts";
import { getRun, listRuns } from "../app/db/repos/runs.ts";

const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 60 : 300;
const WARM_UP = quick ? 10 : 30;
const PIPELINES = 20;
const RUNS = 10_000;
const RUNS_PER_PIPELINE = RUNS / PIPELINES;
const GOAL_MS = 10;

const root = mkdtempSync(join(tmpdir(), "gantry-bench-pages-"));
const pipelinesDir = join(root, "pipelines");
mkdirSync(join(pipelinesDir, "team"), { recursive: true });

// 20 pipelines of 3-5 tasks, 4 of them in a second namespace.
const SHAPES: { id: string; needs: Record<string, string> }[][] = [
  [{ id: "checkout", needs: {} }, { id: "build", needs: { checkout: "success" } }, { id: "test", needs: { build: "success" } }],
  [
    { id: "checkout", needs: {} },
    { id: "build", needs: { checkout: "success" } },
    { id: "lint", needs: { checkout: "success" } },
    { id: "test", needs: { build: "success" } },
  ],
  [
    { id: "checkout", needs: {} },
    { id: "build", needs: { checkout: "success" } },
    { id: "lint", needs: { checkout: "success" } },
    { id: "test", needs: { build: "success" } },
    { id: "deploy", needs: { test: "success", lint: "success" } },
  ],
];
const keys = Array.from({ length: PIPELINES }, (_, i) => ({
  namespace: i < 16 ? "default" : "team",
  id: `service-${String(i + 1).padStart(2, "0")}`,
  tasks: SHAPES[i % SHAPES.length]!,
}));
for (const key of keys) {
  const tasks = key.tasks
    .map((task) => `    ${task.id}: run(() => {}${Object.keys(task.needs).length ? `, { needs: ${JSON.stringify(task.needs)} }` : ""}),`)
    .join("\n");
  writeFileSync(
    join(pipelinesDir, key.namespace === "default" ? "" : key.namespace, `${key.id}.ts`),
    `import { definePipeline, run } from "gantry";\nexport default definePipeline({\n  id: "${key.id}",\n  name: "Service ${key.id.slice(-2)}",\n  description: "Builds, tests and ships service ${key.id.slice(-2)}",\n  tasks: {\n${tasks}\n  },\n});\n`,
  );
}

const config = loadConfig({
  env: {
    GANTRY_DATA_DIR: join(root, "data"),
    GANTRY_PIPELINES_DIR: pipelinesDir,
    GANTRY_EXTENSIONS_DIR: join(import.meta.dir, "..", "extensions"),
    GANTRY_PORT: "0",
    GANTRY_HOOKS_PORT: "0",
    GANTRY_HOST: "127.0.0.1",
  },
});
const gantry = await startGantry(config);
const { deps } = gantry;
const loaded = (await listPipelines(deps.db)).filter((row) => row.currentVersion !== null);
if (loaded.length !== PIPELINES) throw new Error(`only ${loaded.length} of ${PIPELINES} pipelines loaded`);

// A deterministic spread of states, durations and triggers, over the last 30 days.
let seed = 42;
const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const TRIGGERS: RunTrigger[] = [
  { kind: "api", by: "admin" },
  { kind: "api", by: "ci-bot" },
  { kind: "cron", by: "0 * * * *" },
  { kind: "webhook", by: "delivery 7f3a9c" },
  { kind: "github", by: "octocat pushed main" },
];
const now = Date.now();
const span = 30 * 86_400_000;
const seedStarted = performance.now();
type NewRunRow = typeof runs.$inferInsert;
type NewTaskRow = typeof taskExecutions.$inferInsert;
const runRows: NewRunRow[] = [];
const taskRows: NewTaskRow[] = [];
for (const [index, key] of keys.entries()) {
  for (let id = 1; id <= RUNS_PER_PIPELINE; id++) {
    // Runs of all pipelines interleave in time; each pipeline's ids grow with time.
    const createdAt = now - span + ((id - 1) / RUNS_PER_PIPELINE) * span + index * 60_000 + random() * 30_000;
    const roll = random();
    const state: RunState = roll < 0.85 ? "successful" : roll < 0.95 ? "failed" : "cancelled";
    const failing = key.tasks[1 + Math.floor(random() * (key.tasks.length - 1))]!.id;
    let clock = createdAt + 50;
    const taskStates = new Map<string, TaskState>();
    for (const task of key.tasks) {
      const upstream = Object.keys(task.needs).map((need) => taskStates.get(need));
      let taskState: TaskState = "successful";
      if (upstream.some((s) => s !== "successful")) taskState = state === "cancelled" ? "cancelled" : "skipped";
      else if (state !== "successful" && task.id === failing) taskState = state === "failed" ? "failed" : "cancelled";
      taskStates.set(task.id, taskState);
      const took = taskState === "skipped" || (taskState === "cancelled" && upstream.some((s) => s !== "successful")) ? 0 : 500 + random() * 60_000;
      taskRows.push({
        namespace: key.namespace,
        pipelineId: key.id,
        runId: id,
        taskId: task.id,
        kind: "run",
        state: taskState,
        exitCode: taskState === "successful" ? 0 : taskState === "failed" ? 1 : null,
        attempt: took ? 1 : 0,
        reason: taskState === "failed" ? "exited with code 1" : taskState === "skipped" ? "a needed task did not succeed" : taskState === "cancelled" ? "run cancelled" : null,
        startedAt: took ? new Date(clock) : null,
        endedAt: new Date(clock + took),
      });
      clock += took;
    }
    runRows.push({
      namespace: key.namespace,
      pipelineId: key.id,
      id,
      state,
      reason: state === "failed" ? `task ${failing} failed` : state === "cancelled" ? "cancelled by admin" : null,
      trigger: TRIGGERS[Math.floor(random() * TRIGGERS.length)]!,
      version: 1,
      variables: random() < 0.3 ? { BRANCH: "main", VERBOSE: "1" } : {},
      createdAt: new Date(createdAt),
      startedAt: new Date(createdAt + 20),
      endedAt: new Date(clock + 30),
    });
  }
}
// Big transactions of bulk inserts (500 rows a statement keeps under SQLite's variable limit).
const CHUNK = 500;
for (const [table, rows] of [
  [runs, runRows],
  [taskExecutions, taskRows],
] as const) {
  await deps.db.transaction(async (tx) => {
    for (let i = 0; i < rows.length; i += CHUNK) await tx.insert(table).values(rows.slice(i, i + CHUNK) as never);
  });
}
await deps.db.transaction(async (tx) => {
  for (const key of keys) {
    await tx.update(pipelines).set({ lastRunId: RUNS_PER_PIPELINE }).where(and(eq(pipelines.namespace, key.namespace), eq(pipelines.id, key.id)));
  }
});
const seedMs = performance.now() - seedStarted;

// The run to view: the pipeline with 5 tasks, one of its last runs, with a few hundred log lines per task.
const viewed = keys[2]!;
const viewedRun = RUNS_PER_PIPELINE - 3;
for (const task of viewed.tasks) {
  const log = deps.logs.open({ namespace: viewed.namespace, pipeline: viewed.id, run: viewedRun, task: task.id });
  for (let line = 1; line <= 300; line++) {
    log.line(line % 17 === 0 ? "err" : "out", line % 10 === 0 ? `\u001b[32m✓\u001b[0m step ${line} passed in ${line % 7}ms` : `[${task.id}] compiling module ${line} of 300 <src/mod-${line}.ts>`);
  }
  log.close();
}

// Log in like a browser: POST /login with the bootstrap token.
const login = await fetch(`${gantry.url}/login`, {
  method: "POST",
  redirect: "manual",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({ token: gantry.bootstrapToken!, next: "/" }).toString(),
});
const cookie = /gantry_session=([^;]*)/.exec(login.headers.get("set-cookie") ?? "")?.[1];
if (!cookie) throw new Error(`login failed: ${login.status}`);
const headers = { cookie: `gantry_session=${cookie}`, accept: "text/html" };

// The same app over the same deps, called without a socket in between.
const app = createServer(deps);

const PAGES = [
  { label: "dashboard", path: "/" },
  { label: "pipeline page", path: `/pipelines/${viewed.namespace}/${viewed.id}` },
  { label: "run page", path: `/pipelines/${viewed.namespace}/${viewed.id}/runs/${viewedRun}` },
];

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const ms = (value: number) => `${value.toFixed(2)} ms`;

async function overLoopback(path: string): Promise<{ ms: number; status: number; bytes: number }> {
  const started = performance.now();
  const response = await fetch(`${gantry.url}${path}`, { headers, redirect: "manual" });
  const body = await response.text();
  return { ms: performance.now() - started, status: response.status, bytes: body.length };
}

async function inProcess(path: string): Promise<{ ms: number; status: number; bytes: number }> {
  const started = performance.now();
  const response = await app.fetch(new Request(`${gantry.url}${path}`, { headers }));
  const body = await response.text();
  return { ms: performance.now() - started, status: response.status, bytes: body.length };
}

async function sample(measure: (path: string) => Promise<{ ms: number; status: number; bytes: number }>, path: string) {
  for (let i = 0; i < WARM_UP; i++) await measure(path);
  const times: number[] = [];
  let last = { ms: 0, status: 0, bytes: 0 };
  for (let i = 0; i < SAMPLES; i++) {
    last = await measure(path);
    times.push(last.ms);
  }
  return { times, status: last.status, bytes: last.bytes };
}

console.log(`gantry page benchmark — ${cpus().length} cores, bun ${Bun.version}${quick ? " (quick)" : ""}`);
console.log(`${PIPELINES} pipelines, ${runRows.length} runs, ${taskRows.length} task executions (seeded in ${(seedMs / 1000).toFixed(1)} s)`);
console.log(`${SAMPLES} requests per page after ${WARM_UP} warm-ups; time to the full response body; goal: median < ${GOAL_MS} ms\n`);
console.log(`${"page".padEnd(16)}${"path".padEnd(8)}${"median".padStart(11)}${"p95".padStart(11)}${"max".padStart(11)}  status  bytes`);
for (const page of PAGES) {
  for (const [via, measure] of [
    ["loopback", overLoopback],
    ["in-proc", inProcess],
  ] as const) {
    const { times, status, bytes } = await sample(measure, page.path);
    const median = percentile(times, 50);
    const verdict = status !== 200 ? `(status ${status}: page not there yet?)` : median < GOAL_MS ? "OK" : "MISSED";
    console.log(
      `${page.label.padEnd(16)}${via.padEnd(8)}${ms(median).padStart(11)}${ms(percentile(times, 95)).padStart(11)}${ms(Math.max(...times)).padStart(11)}  ${String(status).padEnd(6)}  ${String(bytes).padStart(6)}  ${verdict}`,
    );
  }
}

// Where the time goes: the queries behind the pages, each timed on its own.
async function timeQuery(label: string, query: () => Promise<unknown>) {
  for (let i = 0; i < WARM_UP; i++) await query();
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now();
    await query();
    times.push(performance.now() - started);
  }
  console.log(`  ${label.padEnd(44)} median ${ms(percentile(times, 50))}   p95 ${ms(percentile(times, 95))}`);
}
console.log("\nqueries on their own");
await timeQuery("recentRuns(db, 25)", () => recentRuns(deps.db, 25));
await timeQuery("recentRuns(db, 25, { pipelines: 1 of 20 })", () => recentRuns(deps.db, 25, { pipelines: [keys[5]!] }));
await timeQuery("lastRunOfEachPipeline(db)", () => lastRunOfEachPipeline(deps.db));
await timeQuery("pipelineOverviews(db)", () => pipelineOverviews(deps.db));
await timeQuery("activeRunsByPipeline(db)", () => activeRunsByPipeline(deps.db));
await timeQuery("listRuns(db, pipeline, { limit: 50 })", () => listRuns(deps.db, viewed, { limit: 50 }));
await timeQuery("getRun(db, run)", () => getRun(deps.db, { ...viewed, run: viewedRun }));

await gantry.stop();
rmSync(root, { recursive: true, force: true });
