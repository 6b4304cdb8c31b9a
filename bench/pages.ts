// Page benchmark: server render time of the dashboard, a pipeline page and a run page with
// 10,000 finished runs in the database. Prints figures; the goal is in bench/README.md.
// Usage: bun bench/pages.ts [--quick]
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { eq, and } from "drizzle-orm";
import { pipelines, runs, taskExecutions } from "../app/db/schema/index.ts";
import type { RunState, TaskState } from "../app/domain/states.ts";
import { createServer } from "../app/server.ts";
import { startGantry } from "../app/start.ts";
import { listPipelines } from "../app/db/repos/pipelines.ts";
import { activeRunsByPipeline, pipelineOverviews, recentRuns } from "../app/db/repos/run-summaries.ts";
import { getRun, listRuns } from "../app/db/repos/runs.ts";
import { webLogin } from "../test/helpers/web.ts";
import { benchConfig, benchRoot, median, ms, percentile, printFigures } from "./shared.ts";
import type { RunTrigger } from "../app/domain/run-trigger.ts";

const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 60 : 300;
const WARM_UP = quick ? 10 : 30;
const PIPELINES = 100;
const RUNS = 10_000;
const RUNS_PER_PIPELINE = RUNS / PIPELINES;
const GOAL_MS = 10;
const LABEL = 21;

const { root, pipelinesDir } = benchRoot("pages");
mkdirSync(join(pipelinesDir, "team"));

// 100 pipelines of 3-5 tasks, 20 of them in a second namespace.
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
  namespace: i < 80 ? "default" : "team",
  id: `service-${String(i + 1).padStart(3, "0")}`,
  tasks: SHAPES[i % SHAPES.length]!,
}));
for (const key of keys) {
  const tasks = key.tasks
    .map((task) => `    ${task.id}: run(() => {}${Object.keys(task.needs).length ? `, { needs: ${JSON.stringify(task.needs)} }` : ""}),`)
    .join("\n");
  writeFileSync(
    join(pipelinesDir, key.namespace === "default" ? "" : key.namespace, `${key.id}.ts`),
    `import { definePipeline, run } from "gantry";\nexport default definePipeline({\n  id: "${key.id}",\n  name: "Service ${key.id.slice(-3)}",\n  description: "Builds, tests and ships service ${key.id.slice(-3)}",\n  tasks: {\n${tasks}\n  },\n});\n`,
  );
}

const gantry = await startGantry(benchConfig(root, pipelinesDir));
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

// The run before it: its build task wrote 100,000 lines (a chatty build), with a line to find
// every 1,000th line and a stderr line every 97th.
const bigRun = viewedRun - 1;
const BIG_LOG_LINES = 100_000;
{
  const log = deps.logs.open({ namespace: viewed.namespace, pipeline: viewed.id, run: bigRun, task: "build" });
  for (let line = 1; line <= BIG_LOG_LINES; line++) {
    log.line(line % 97 === 0 ? "err" : "out", line % 1000 === 0 ? `\u001b[31mwarning\u001b[0m: deprecated call in src/mod-${line}.ts` : `[build] compiling module ${line} of ${BIG_LOG_LINES} <src/mod-${line}.ts>`);
  }
  log.close();
}
const bigRunPath = `/pipelines/${viewed.namespace}/${viewed.id}/runs/${bigRun}`;

// Log in like a browser: POST /login with the bootstrap token.
const { cookie } = await webLogin(gantry.url, gantry.bootstrapToken!);
const headers = { cookie: `gantry_session=${cookie}`, accept: "text/html" };

// The same app over the same deps, called without a socket in between.
const app = createServer(deps);

// The log pages read a 100,000-line file on each request: fewer samples, their own goal.
const LOG_GOAL_MS = 100;
const PAGES = [
  { label: "dashboard", path: "/", goal: GOAL_MS },
  { label: "pipeline page", path: `/pipelines/${viewed.namespace}/${viewed.id}`, goal: GOAL_MS },
  { label: "run page", path: `/pipelines/${viewed.namespace}/${viewed.id}/runs/${viewedRun}`, goal: GOAL_MS },
  { label: "run, 100k-line log", path: bigRunPath, goal: LOG_GOAL_MS, samples: 40 },
  { label: "search 100k lines", path: `${bigRunPath}/logs/search?q=deprecated`, goal: LOG_GOAL_MS, samples: 40 },
  { label: "errors of 100k", path: `${bigRunPath}/logs/search?only=errors&task=build`, goal: LOG_GOAL_MS, samples: 40 },
  { label: "lines around 50,000", path: `${bigRunPath}/tasks/build/lines?around=50000&q=deprecated`, goal: LOG_GOAL_MS, samples: 40 },
];

interface Timed {
  ms: number;
  bytes: number;
}

/** Times a response to its full body; anything but 200 (a redirect to /login, an error page) stops the bench. */
async function timed(path: string, request: () => Promise<Response>): Promise<Timed> {
  const started = performance.now();
  const response = await request();
  const body = await response.text();
  const elapsed = performance.now() - started;
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}, not the page: ${body.slice(0, 200)}`);
  return { ms: elapsed, bytes: body.length };
}

const overLoopback = (path: string) => timed(path, () => fetch(`${gantry.url}${path}`, { headers, redirect: "manual" }));
const inProcess = (path: string) => timed(path, async () => app.fetch(new Request(`${gantry.url}${path}`, { headers })));

async function sample(measure: (path: string) => Promise<Timed>, path: string, samples = SAMPLES) {
  for (let i = 0; i < Math.min(WARM_UP, samples); i++) await measure(path);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < samples; i++) {
    const one = await measure(path);
    times.push(one.ms);
    bytes = one.bytes;
  }
  return { times, bytes };
}

console.log(`gantry page benchmark — ${cpus().length} cores, bun ${Bun.version}${quick ? " (quick)" : ""}`);
console.log(`${PIPELINES} pipelines, ${runRows.length} runs, ${taskRows.length} task executions (seeded in ${(seedMs / 1000).toFixed(1)} s)`);
console.log(`${SAMPLES} requests per page after ${WARM_UP} warm-ups (the log pages: 40); time to the full response body; goal: median < ${GOAL_MS} ms (log pages of ${BIG_LOG_LINES.toLocaleString("en-US")} lines: < ${LOG_GOAL_MS} ms)\n`);
console.log(`${"page".padEnd(LABEL)}${"via".padEnd(8)}${"median".padStart(11)}${"p95".padStart(11)}${"max".padStart(11)}   bytes`);
const figures: Record<string, number> = {};
for (const page of PAGES) {
  const samples = quick ? Math.min(SAMPLES, page.samples ?? SAMPLES) : (page.samples ?? SAMPLES);
  // The floor: a bare Bun server sending this page's bytes over loopback, timed the same way.
  const html = await (await fetch(`${gantry.url}${page.path}`, { headers })).text();
  const bare = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }) });
  const floor = await sample((path) => timed(path, () => fetch(`http://127.0.0.1:${bare.port}${path}`)), page.path, samples);
  await bare.stop(true);
  figures[`${page.label}BareMs`] = median(floor.times);
  console.log(`${page.label.padEnd(LABEL)}${"bare".padEnd(8)}${ms(median(floor.times), 2).padStart(11)}${ms(percentile(floor.times, 95), 2).padStart(11)}${ms(Math.max(...floor.times), 2).padStart(11)}  ${String(floor.bytes).padStart(6)}`);
  for (const [via, measure] of [
    ["loopback", overLoopback],
    ["in-proc", inProcess],
  ] as const) {
    const { times, bytes } = await sample(measure, page.path, samples);
    const middle = median(times);
    if (via === "loopback") figures[`${page.label}Ms`] = middle;
    console.log(
      `${page.label.padEnd(LABEL)}${via.padEnd(8)}${ms(middle, 2).padStart(11)}${ms(percentile(times, 95), 2).padStart(11)}${ms(Math.max(...times), 2).padStart(11)}  ${String(bytes).padStart(6)}  ${middle < page.goal ? "OK" : "MISSED"}`,
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
  console.log(`  ${label.padEnd(44)} median ${ms(median(times), 2)}   p95 ${ms(percentile(times, 95), 2)}`);
}
console.log("\nqueries on their own");
await timeQuery("recentRuns(db, 25)", () => recentRuns(deps.db, 25));
await timeQuery(`recentRuns(db, 25, { pipelines: 1 of ${PIPELINES} })`, () => recentRuns(deps.db, 25, { pipelines: [keys[5]!] }));
await timeQuery("pipelineOverviews(db)", () => pipelineOverviews(deps.db));
await timeQuery("activeRunsByPipeline(db)", () => activeRunsByPipeline(deps.db));
await timeQuery("listRuns(db, pipeline, { limit: 50 })", () => listRuns(deps.db, viewed, { limit: 50 }));
await timeQuery("getRun(db, run)", () => getRun(deps.db, { ...viewed, run: viewedRun }));

printFigures(figures);

await gantry.stop();
rmSync(root, { recursive: true, force: true });
