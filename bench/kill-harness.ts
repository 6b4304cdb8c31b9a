// The kill -9 harness (issue 10): a real `gantry serve` child process on one data dir is
// killed with SIGKILL at random moments while a driver starts runs, sends webhook deliveries
// and cancels runs over HTTP, and restarted on the same data, again and again. Afterwards it
// checks through the API, Docker, /proc and marker files that nothing acknowledged was lost,
// every run ended, no container or task process was left behind and no task ran more often
// than its retries allow. Shared by bench/kill-restart.ts and test/kill-restart.test.ts.
import Docker from "dockerode";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export interface KillHarnessOptions {
  /** SIGKILLs to deliver (the server is restarted after each). */
  kills: number;
  /** How long the server is up before a kill, in ms: uniformly within [min, max]. */
  upMs?: [number, number];
  /** Share of kills (after the first start) that land during start-up, before the server says it listens. */
  startupKillShare?: number;
  /** Runs acknowledged but not yet seen final above which the driver stops starting more. */
  maxOutstanding?: number;
  /** Driver loops sending requests at once. */
  driverLoops?: number;
  /** How long the final server may take to end every run. */
  drainTimeoutMs?: number;
  /** Called every `progressEvery` kills with a line of progress. */
  progress?: (line: string) => void;
  progressEvery?: number;
  /** Keep the temp folder (data, pipelines, markers, server output) for a look afterwards. */
  keep?: boolean;
}

export interface KillReport {
  wallMs: number;
  kills: number;
  killsDuringStartup: number;
  /** Kills after which the server came back and answered GET /api/v1/health. */
  survived: number;
  /** Every run of the harness's pipelines found at the end (acknowledged or not). */
  runsChecked: number;
  runsAcknowledged: number;
  /** Runs that exist although their request got no answer (the server died mid-request). */
  runsUnacknowledged: number;
  deliveriesSent: number;
  deliveriesChecked: number;
  cancelsSent: number;
  cancelsChecked: number;
  /** (run, task) pairs whose attempts and markers were compared. */
  executionsChecked: number;
  /** Attempts the API reports, and task bodies that actually started (marker lines). */
  attempts: number;
  markers: number;
  /** Successful attempts of the streaming container task whose log was read line by line. */
  logsChecked: number;
  runStates: Record<string, number>;
  /** Why tasks ended failed or cancelled, and how often. */
  taskReasons: Record<string, number>;
  /** Containers of this server, and its task processes, alive right after each kill (summed): work the next start had to find again. */
  containersAtKills: number;
  processesAtKills: number;
  /** Containers still there once every run had ended, before the janitor's next pass (not a violation by itself). */
  containersBeforeJanitor: number;
  violations: string[];
  /** Server output that looks like an engine error (not counted as violations). */
  serverErrors: string[];
  root: string;
}

// ---------------------------------------------------------------------------------------
// The pipelines: each task appends a marker when its body starts, one line per execution.

type Need = "success" | "failure" | "any";
interface TaskDef {
  kind: "run" | "container";
  retries: number;
  needs?: Record<string, Need>;
  /** run(): statements after the marker, with `ctx` and `pause(min, max)` in scope. */
  body?: string;
  /** container(): a sh script after the marker. */
  sh?: string;
}
interface PipelineDef {
  name: string;
  /** Extra top-level fields of definePipeline, as source. */
  extra?: string;
  tasks: Record<string, TaskDef>;
}

const IMAGE = "local/busybox:latest";
const STREAM_LINES = 8;
const HOOK_SECRET = "kill-harness-hook-secret";

const PIPELINES: PipelineDef[] = [
  {
    // run() tasks with and without retries; the first attempt of `first` fails now and then by itself.
    name: "flaky",
    tasks: {
      first: { kind: "run", retries: 2, body: `await pause(100, 500); if (ctx.attempt === 1 && Math.random() < 0.3) throw new Error("first attempt fails on purpose");` },
      second: { kind: "run", retries: 0, needs: { first: "success" }, body: "await pause(50, 300);" },
      third: { kind: "run", retries: 1, needs: { first: "success" }, body: "await pause(100, 400);" },
    },
  },
  {
    // A DAG with conditions: the run's OUTCOME variable decides which branch runs.
    name: "dag",
    extra: `variables: { OUTCOME: "ok" },`,
    tasks: {
      decide: { kind: "run", retries: 0, body: `await pause(100, 300); if (ctx.env.OUTCOME === "fail") throw new Error("told to fail");` },
      passed: { kind: "run", retries: 0, needs: { decide: "success" }, body: "await pause(50, 200);" },
      recover: { kind: "container", retries: 0, needs: { decide: "failure" }, sh: "sleep 0.2; echo handled" },
      wrapup: { kind: "run", retries: 0, needs: { passed: "any", recover: "any" }, body: "await pause(20, 100);" },
    },
  },
  {
    // Containers: one streams numbered lines (its log is checked line by line), one fails its first attempt on purpose.
    name: "box",
    tasks: {
      stream: { kind: "container", retries: 0, sh: `i=1; while [ $i -le ${STREAM_LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done` },
      again: { kind: "container", retries: 1, sh: `if [ -f /workspace/.again-failed ]; then echo ok; else touch /workspace/.again-failed; echo "failing once"; exit 3; fi` },
      after: { kind: "run", retries: 0, needs: { stream: "success", again: "success" }, body: "await pause(20, 100);" },
    },
  },
  {
    // One run at a time: the rest wait queued, across kills.
    name: "queue",
    extra: "concurrency: { limit: 1 },",
    tasks: {
      hold: { kind: "run", retries: 1, body: "await pause(200, 600);" },
      tail: { kind: "container", retries: 0, needs: { hold: "success" }, sh: "echo tail" },
    },
  },
  {
    // Started by signed webhook deliveries; the delivery id comes along as a variable.
    name: "hook",
    extra: `triggers: [webhook({ secret: secret("hook_secret"), variables: { DELIVERY: "delivery", NONCE: "nonce" } })],`,
    tasks: {
      receive: { kind: "run", retries: 0, body: "await pause(50, 250);" },
      ack: { kind: "container", retries: 0, needs: { receive: "success" }, sh: `echo "delivery $DELIVERY"` },
    },
  },
];

/** The pipelines the driver starts over the API, with their weights. */
const API_PIPELINES: [string, number][] = [
  ["flaky", 3],
  ["dag", 3],
  ["box", 3],
  ["queue", 2],
];
/** Queued runs pile up behind the limit: keep at most this many of them unfinished. */
const MAX_QUEUE_OUTSTANDING = 3;

function pipelineSource(prefix: string, def: PipelineDef, marksFile: string): string {
  const tasks = Object.entries(def.tasks).map(([id, task]) => {
    const options = [`retries: ${task.retries}`, ...(task.needs ? [`needs: ${JSON.stringify(task.needs)}`] : [])];
    if (task.kind === "run") {
      return `    ${id}: run(async (ctx) => { mark(ctx); ${task.body ?? ""} }, { ${options.join(", ")} }),`;
    }
    const script = `echo "$GANTRY_TASK_ID" >> /workspace/.marks; ${task.sh ?? ""}`;
    return `    ${id}: container({ image: "${IMAGE}", command: ["sh", "-c", ${JSON.stringify(script)}], network: "none", pull: "never", ${options.join(", ")} }),`;
  });
  return `import { definePipeline, container, run, secret, webhook } from "gantry";
import { appendFileSync } from "node:fs";
// One line per execution of a run() task body, in a file outside the data dir: "<pipeline> <run> <task> <attempt>".
const mark = (ctx: { env: Record<string, string | undefined>; attempt: number }) =>
  appendFileSync(${JSON.stringify(marksFile)}, \`\${ctx.env.GANTRY_PIPELINE_ID} \${ctx.env.GANTRY_RUN_ID} \${ctx.env.GANTRY_TASK_ID} \${ctx.attempt}\\n\`);
const pause = (min: number, max: number) => Bun.sleep(min + Math.random() * (max - min));
export default definePipeline({
  id: "${prefix}${def.name}",
  ${def.extra ?? ""}
  tasks: {
${tasks.join("\n")}
  },
});
`;
}

// ---------------------------------------------------------------------------------------
// The server process.

interface ServerProcess {
  proc: Bun.Subprocess;
  url?: string;
  hooksUrl?: string;
  /** Resolves once the server printed its URLs; rejects if it exits first or takes too long. */
  ready: Promise<void>;
}

const FINAL_RUN_STATES = new Set(["successful", "failed", "cancelled"]);
const FINAL_TASK_STATES = new Set(["successful", "failed", "skipped", "cancelled", "reused"]);
/** Server output worth a look: the engine saying something went wrong inside it. */
const ERROR_LINE = /failed internally|internal error|recording its end failed|node loop:|unhandled|uncaught|TypeError|ReferenceError|SQLITE_|database is locked/i;

interface Paths {
  root: string;
  dataDir: string;
  pipelinesDir: string;
  marksFile: string;
  outputFile: string;
}

function spawnServer(paths: Paths, start: number, serverErrors: string[]): ServerProcess {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "app", "main.ts"), "serve"], {
    cwd: paths.root,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      GANTRY_DATA_DIR: paths.dataDir,
      GANTRY_PIPELINES_DIR: paths.pipelinesDir,
      GANTRY_EXTENSIONS_DIR: join(import.meta.dir, "..", "extensions"),
      GANTRY_HOST: "127.0.0.1",
      GANTRY_PORT: "0",
      GANTRY_HOOKS_PORT: "0",
      GANTRY_KILL_GRACE: "1s",
      // Workspaces hold the container tasks' markers: none may be pruned.
      GANTRY_PRUNE_KEEP_LAST: "1000000",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  appendFileSync(paths.outputFile, `\n===== start ${start} (pid ${proc.pid}) =====\n`);
  const server: ServerProcess = { proc, ready: Promise.resolve() };
  let out = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      appendFileSync(paths.outputFile, text);
      if (!server.hooksUrl) out += text;
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (ERROR_LINE.test(line) && serverErrors.length < 50) serverErrors.push(`start ${start}: ${line.trim()}`);
    }
  };
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  server.ready = (async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const hooksUrl = /hooks:\s+(http:\/\/\S+?)\/hooks\//.exec(out)?.[1];
      if (url && hooksUrl) {
        server.url = url;
        server.hooksUrl = hooksUrl;
        return;
      }
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`gantry exited during start-up (${proc.exitCode ?? proc.signalCode}); see ${paths.outputFile}`);
      if (Date.now() > deadline) throw new Error(`gantry did not start within 60 s; see ${paths.outputFile}`);
      await Bun.sleep(20);
    }
  })();
  server.ready.catch(() => undefined);
  return server;
}

async function kill9(server: ServerProcess): Promise<void> {
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill("SIGKILL");
  await server.proc.exited;
}

// ---------------------------------------------------------------------------------------
// What the driver did, and what the server acknowledged.

interface RunRecord {
  pipeline: string;
  id: number;
  via: "api" | "hook";
  /** Last state seen over the API. */
  state: string;
}

interface Delivery {
  id: string;
  body: string;
  run: number;
}

interface HarnessState {
  prefix: string;
  token: string;
  acked: Map<string, RunRecord>;
  deliveries: Delivery[];
  deliveriesSent: number;
  cancelsSent: Set<string>;
  cancelsAcked: Set<string>;
  violations: string[];
  counter: number;
}

const runKey = (pipeline: string, id: number) => `${pipeline}#${id}`;
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (min: number, max: number) => min + Math.random() * (max - min);

function pickWeighted(entries: [string, number][]): string {
  let roll = Math.random() * entries.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [name, weight] of entries) {
    roll -= weight;
    if (roll <= 0) return name;
  }
  return entries[entries.length - 1]![0];
}

function hmac(secret: string, body: string): string {
  return `sha256=${new Bun.CryptoHasher("sha256", secret).update(body).digest("hex")}`;
}

interface RunJson {
  id: number;
  state: string;
  reason?: string;
  variables: Record<string, string>;
  trigger: { kind: string };
  tasks: { id: string; kind: string; state: string; attempt: number; reason?: string; attempts: { attempt: number; state: string; reason?: string }[] }[];
}

/** Sends requests while the server is up: starts, deliveries, cancels, polls and log streams. */
class Driver {
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly server: { url: string; hooksUrl: string },
    private readonly state: HarnessState,
    private readonly maxOutstanding: number,
  ) {}

  start(loops: number): void {
    for (let i = 0; i < loops; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.loops);
  }

  private api(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.server.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${this.state.token}`, "content-type": "application/json" },
      signal: AbortSignal.timeout(15_000),
    });
  }

  private outstanding(): RunRecord[] {
    return [...this.state.acked.values()].filter((run) => !FINAL_RUN_STATES.has(run.state));
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.act();
      } catch {
        // The server died mid-request (or was not answering yet): nothing was acknowledged.
      }
      await Bun.sleep(between(20, 120));
    }
  }

  private async act(): Promise<void> {
    const outstanding = this.outstanding();
    const roll = Math.random();
    if (outstanding.length >= this.maxOutstanding || roll >= 0.9) return this.poll(outstanding);
    if (roll < 0.45) return this.startRun(outstanding);
    if (roll < 0.7) return this.deliver();
    if (roll < 0.8) return this.cancel(outstanding);
    return this.followLog();
  }

  private async startRun(outstanding: RunRecord[]): Promise<void> {
    const queued = outstanding.filter((run) => run.pipeline === `${this.state.prefix}queue`).length;
    const candidates = API_PIPELINES.filter(([name]) => name !== "queue" || queued < MAX_QUEUE_OUTSTANDING);
    const pipeline = `${this.state.prefix}${pickWeighted(candidates)}`;
    const nonce = `n${++this.state.counter}`;
    const variables: Record<string, string> = { NONCE: nonce };
    if (pipeline.endsWith("dag")) variables.OUTCOME = Math.random() < 0.4 ? "fail" : "ok";
    const response = await this.api(`/pipelines/default/${pipeline}/runs`, { method: "POST", body: JSON.stringify({ variables }) });
    if (response.status !== 201) return;
    const { run } = (await response.json()) as { run: RunJson };
    this.state.acked.set(runKey(pipeline, run.id), { pipeline, id: run.id, via: "api", state: run.state });
  }

  private async deliver(): Promise<void> {
    const id = `delivery-${++this.state.counter}`;
    const body = JSON.stringify({ delivery: id, nonce: `n${this.state.counter}`, padding: "x".repeat(Math.floor(between(0, 400))) });
    this.state.deliveriesSent++;
    const response = await fetch(`${this.server.hooksUrl}/hooks/webhook/default/${this.state.prefix}hook`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gantry-signature-256": hmac(HOOK_SECRET, body), "x-gantry-delivery": id },
      body,
      signal: AbortSignal.timeout(15_000),
    });
    if (response.status !== 202) return;
    const answer = (await response.json()) as { run: { pipeline: string; id: number; duplicate: boolean } };
    if (answer.run.duplicate) this.state.violations.push(`delivery ${id} was sent once but answered duplicate (run ${answer.run.id})`);
    const pipeline = `${this.state.prefix}hook`;
    this.state.deliveries.push({ id, body, run: answer.run.id });
    if (!this.state.acked.has(runKey(pipeline, answer.run.id))) this.state.acked.set(runKey(pipeline, answer.run.id), { pipeline, id: answer.run.id, via: "hook", state: "queued" });
  }

  private async cancel(outstanding: RunRecord[]): Promise<void> {
    if (outstanding.length === 0) return;
    const run = pick(outstanding);
    const key = runKey(run.pipeline, run.id);
    this.state.cancelsSent.add(key);
    const response = await this.api(`/pipelines/default/${run.pipeline}/runs/${run.id}/cancel`, { method: "POST" });
    if (response.status === 202) this.state.cancelsAcked.add(key);
    else if (response.status === 404) this.state.violations.push(`run ${key} was acknowledged, but a cancel answered 404`);
  }

  /** Refreshes the states of a few unfinished runs; an acknowledged run answering 404 is lost. */
  private async poll(outstanding: RunRecord[]): Promise<void> {
    for (const run of outstanding.slice(0, 4)) {
      if (this.stopped) return;
      const response = await this.api(`/pipelines/default/${run.pipeline}/runs/${run.id}`);
      if (response.status === 404) this.state.violations.push(`run ${runKey(run.pipeline, run.id)} was acknowledged, but later answered 404`);
      if (response.status !== 200) continue;
      run.state = ((await response.json()) as { run: RunJson }).run.state;
    }
    await Bun.sleep(100);
  }

  /** Follows a container task's log for a while, so kills also land while logs stream. */
  private async followLog(): Promise<void> {
    const boxes = [...this.state.acked.values()].filter((run) => run.pipeline.endsWith("box") && !FINAL_RUN_STATES.has(run.state));
    if (boxes.length === 0) return;
    const run = pick(boxes);
    const response = await fetch(`${this.server.url}/api/v1/pipelines/default/${run.pipeline}/runs/${run.id}/tasks/stream/logs?follow=1`, {
      headers: { authorization: `Bearer ${this.state.token}` },
      signal: AbortSignal.timeout(3_000),
    });
    if (!response.body) return;
    for await (const _chunk of response.body) {
      if (this.stopped) break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// The harness.

export async function runKillHarness(options: KillHarnessOptions): Promise<KillReport> {
  const began = performance.now();
  const upMs = options.upMs ?? [200, 2_000];
  const startupKillShare = options.startupKillShare ?? 0.15;
  const maxOutstanding = options.maxOutstanding ?? 10;
  const drainTimeoutMs = options.drainTimeoutMs ?? 120_000;
  const progressEvery = options.progressEvery ?? 10;
  const root = mkdtempSync(join(tmpdir(), "gantry-kill-"));
  const paths: Paths = {
    root,
    dataDir: join(root, "data"),
    pipelinesDir: join(root, "pipelines"),
    marksFile: join(root, "marks", "run-tasks.txt"),
    outputFile: join(root, "servers.log"),
  };
  mkdirSync(paths.pipelinesDir, { recursive: true });
  mkdirSync(join(root, "marks"));
  writeFileSync(paths.marksFile, "");
  // Unique per harness run, so the containers it looks for (and cleans up) are its own.
  const prefix = `k${crypto.randomUUID().slice(0, 4)}-`;
  for (const def of PIPELINES) writeFileSync(join(paths.pipelinesDir, `${def.name}.ts`), pipelineSource(prefix, def, paths.marksFile));
  // The janitor's own name for this server's containers: a hash of its database URL (app/deps.ts).
  const instance = new Bun.CryptoHasher("sha256").update(`file:${resolve(paths.dataDir, "gantry.db")}`).digest("hex").slice(0, 16);
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const ourContainers = async () => {
    const all = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } });
    return all.filter((info) => info.Labels["gantry.instance"] === instance || info.Labels["gantry.pipeline"]?.startsWith(prefix));
  };

  const state: HarnessState = {
    prefix,
    token: "",
    acked: new Map(),
    deliveries: [],
    deliveriesSent: 0,
    cancelsSent: new Set(),
    cancelsAcked: new Set(),
    violations: [],
    counter: 0,
  };
  const serverErrors: string[] = [];
  const report: KillReport = {
    wallMs: 0,
    kills: 0,
    killsDuringStartup: 0,
    survived: 0,
    runsChecked: 0,
    runsAcknowledged: 0,
    runsUnacknowledged: 0,
    deliveriesSent: 0,
    deliveriesChecked: 0,
    cancelsSent: 0,
    cancelsChecked: 0,
    executionsChecked: 0,
    attempts: 0,
    markers: 0,
    logsChecked: 0,
    runStates: {},
    taskReasons: {},
    containersAtKills: 0,
    processesAtKills: 0,
    containersBeforeJanitor: 0,
    violations: state.violations,
    serverErrors,
    root,
  };
  let starts = 0;
  let server: ServerProcess | undefined;

  const boot = async (): Promise<{ url: string; hooksUrl: string }> => {
    server = spawnServer(paths, ++starts, serverErrors);
    await server.ready;
    return { url: server.url!, hooksUrl: server.hooksUrl! };
  };
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${server!.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${state.token}`, "content-type": "application/json" },
      signal: AbortSignal.timeout(30_000),
    });

  try {
    // First start: the pipelines load, the bootstrap token and the hook secret are made.
    await boot();
    state.token = readFileSync(join(paths.dataDir, "bootstrap-token"), "utf8").trim();
    for (const def of PIPELINES) {
      const response = await api(`/pipelines/default/${prefix}${def.name}`);
      const body = (await response.json()) as { pipeline?: { error?: unknown } };
      if (response.status !== 200 || body.pipeline?.error) throw new Error(`pipeline ${prefix}${def.name} did not load: ${JSON.stringify(body)}`);
    }
    const secret = await api("/secrets/hook_secret", { method: "PUT", body: JSON.stringify({ value: HOOK_SECRET }) });
    if (secret.status >= 300) throw new Error(`setting the hook secret: ${secret.status} ${await secret.text()}`);

    // Kills not yet followed by a start that answered.
    let unanswered = 0;
    const answered = async (url: string) => {
      const response = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
      if (response.status !== 200) throw new Error(`after ${report.kills} kills the server came back but /api/v1/health answered ${response.status}`);
      report.survived += unanswered;
      unanswered = 0;
    };
    const progress = (kill: number) => {
      if (!options.progress || kill % progressEvery !== 0) return;
      const outstanding = [...state.acked.values()].filter((run) => !FINAL_RUN_STATES.has(run.state)).length;
      options.progress(
        `kill ${kill}/${options.kills}: ${((performance.now() - began) / 1000).toFixed(0)} s, runs acknowledged ${state.acked.size}, deliveries ${state.deliveries.length}, cancels ${state.cancelsAcked.size}, unfinished ${outstanding}, violations so far ${state.violations.length}`,
      );
    };
    for (let kill = 1; kill <= options.kills; kill++) {
      if (unanswered > 0) {
        const starting = spawnServer(paths, ++starts, serverErrors);
        server = starting;
        // Now and then the kill lands while the server is still starting (recovering runs, starting extensions).
        if (Math.random() < startupKillShare) {
          await Promise.race([starting.ready.catch(() => undefined), Bun.sleep(between(100, 1_200))]);
          if (!starting.url) {
            await kill9(starting);
            report.kills++;
            report.killsDuringStartup++;
            unanswered++;
            progress(kill);
            continue;
          }
        }
        await starting.ready;
        await answered(starting.url!);
      }
      const driver = new Driver({ url: server!.url!, hooksUrl: server!.hooksUrl! }, state, maxOutstanding);
      driver.start(options.driverLoops ?? 2);
      await Bun.sleep(between(upMs[0], upMs[1]));
      await kill9(server!);
      report.kills++;
      unanswered++;
      await driver.stop();
      const left = await ourContainers();
      report.containersAtKills += left.length;
      for (const info of left) {
        // Found by the pipeline prefix but not by the instance label: the harness's idea of the instance is wrong.
        if (info.Labels["gantry.instance"] !== instance) state.violations.push(`harness: container ${info.Id} carries instance ${info.Labels["gantry.instance"]}, expected ${instance}`);
      }
      report.processesAtKills += taskProcesses(paths.dataDir).length;
      progress(kill);
    }

    // The last start: nothing more is sent; every run must end.
    await answered((await boot()).url);
    const pipelineIds = PIPELINES.map((def) => `${prefix}${def.name}`);
    const listAll = async (): Promise<Map<string, RunJson>> => {
      const found = new Map<string, RunJson>();
      for (const pipeline of pipelineIds) {
        let before: number | undefined;
        for (;;) {
          const response = await api(`/pipelines/default/${pipeline}/runs?limit=500${before !== undefined ? `&before=${before}` : ""}`);
          if (response.status !== 200) throw new Error(`listing runs of ${pipeline}: ${response.status} ${await response.text()}`);
          const { runs } = (await response.json()) as { runs: RunJson[] };
          for (const run of runs) found.set(runKey(pipeline, run.id), run);
          if (runs.length < 500) break;
          before = runs[runs.length - 1]!.id;
        }
      }
      return found;
    };
    const drainDeadline = Date.now() + drainTimeoutMs;
    let runs = await listAll();
    while ([...runs.values()].some((run) => !FINAL_RUN_STATES.has(run.state)) && Date.now() < drainDeadline) {
      await Bun.sleep(500);
      runs = await listAll();
    }
    // A moment for the clean-up that follows a run's end (containers removed, tokens revoked).
    await Bun.sleep(2_000);
    runs = await listAll();

    checkRuns(state, runs, paths, report);
    await checkStreamLogs(api, runs, prefix, report, state.violations);
    await checkDeliveries(state, api, server!.hooksUrl!, report);
    report.containersBeforeJanitor = (await ourContainers()).length;

    // A graceful stop and a start let the janitor run; then nothing of ours may be left.
    server!.proc.kill("SIGTERM");
    const stopped = await Promise.race([server!.proc.exited, Bun.sleep(30_000).then(() => "timeout" as const)]);
    if (stopped !== 0) state.violations.push(`the final graceful stop ended with ${stopped === "timeout" ? "no exit within 30 s" : `exit code ${stopped}`}`);
    await kill9(server!);
    await boot();
    const after = await listAll();
    for (const [key, run] of runs) {
      const again = after.get(key);
      if (again?.state !== run.state) state.violations.push(`run ${key} was ${run.state} before the final restart and ${again?.state ?? "missing"} after it`);
    }
    for (const info of await ourContainers()) {
      state.violations.push(
        `container ${info.Names[0] ?? info.Id} (${info.Labels["gantry.pipeline"]}#${info.Labels["gantry.run"]} ${info.Labels["gantry.task"]}, ${info.State}) is left after every run ended and the janitor ran`,
      );
    }
    server!.proc.kill("SIGTERM");
    await Promise.race([server!.proc.exited, Bun.sleep(30_000)]);
    await kill9(server!);
    // run() task runners are started with their version's bundle from the data dir.
    await Bun.sleep(1_500);
    for (const leftover of taskProcesses(paths.dataDir)) state.violations.push(`a task process is left: pid ${leftover.pid} ${leftover.command}`);
  } finally {
    if (server) await kill9(server);
    for (const leftover of taskProcesses(paths.dataDir)) {
      try {
        process.kill(leftover.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const info of await ourContainers().catch(() => [])) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    if (!options.keep) rmSync(root, { recursive: true, force: true });
  }
  report.deliveriesSent = state.deliveriesSent;
  report.cancelsSent = state.cancelsSent.size;
  report.wallMs = performance.now() - began;
  return report;
}

/** Processes of this data dir's task runners (their command line names the version's bundle). */
function taskProcesses(dataDir: string): { pid: number; command: string }[] {
  const needle = join(dataDir, "bundles");
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      if (command.includes(needle)) found.push({ pid: Number(entry), command });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** run() markers by "pipeline#run" → task → attempt numbers; container markers from each run's workspace. */
function readMarkers(paths: Paths, pipeline: string, run: number, runMarks: Map<string, Map<string, number[]>>): Map<string, number[]> {
  const marks = new Map(runMarks.get(runKey(pipeline, run)) ?? []);
  const workspaceMarks = join(paths.dataDir, "workspaces", "default", pipeline, String(run), ".marks");
  if (existsSync(workspaceMarks)) {
    for (const task of readFileSync(workspaceMarks, "utf8").split("\n").filter(Boolean)) marks.set(task, [...(marks.get(task) ?? []), 0]);
  }
  return marks;
}

function checkRuns(state: HarnessState, runs: Map<string, RunJson>, paths: Paths, report: KillReport): void {
  const violations = state.violations;
  const runMarks = new Map<string, Map<string, number[]>>();
  for (const line of readFileSync(paths.marksFile, "utf8").split("\n").filter(Boolean)) {
    const [pipeline, run, task, attempt] = line.split(" ");
    const key = runKey(pipeline!, Number(run));
    const tasks = runMarks.get(key) ?? new Map<string, number[]>();
    tasks.set(task!, [...(tasks.get(task!) ?? []), Number(attempt)]);
    runMarks.set(key, tasks);
  }
  for (const key of runMarks.keys()) if (!runs.has(key)) violations.push(`run() markers exist for run ${key}, which the API does not know`);

  // Every acknowledged run exists.
  for (const [key, record] of state.acked) {
    if (!runs.has(key)) violations.push(`run ${key} (${record.via}) was acknowledged but does not exist`);
  }
  report.runsAcknowledged = state.acked.size;
  report.runsChecked = runs.size;
  report.runsUnacknowledged = [...runs.keys()].filter((key) => !state.acked.has(key)).length;

  const nonces = new Map<string, string>();
  for (const [key, run] of runs) {
    const pipeline = key.slice(0, key.indexOf("#"));
    const def = PIPELINES.find((candidate) => `${state.prefix}${candidate.name}` === pipeline)!;
    report.runStates[run.state] = (report.runStates[run.state] ?? 0) + 1;
    // Every run reaches a final state, and so do its tasks.
    if (!FINAL_RUN_STATES.has(run.state)) {
      violations.push(`run ${key} is still ${run.state} at the end (tasks: ${run.tasks.map((task) => `${task.id}=${task.state}`).join(", ")})`);
      continue;
    }
    for (const task of run.tasks) if (!FINAL_TASK_STATES.has(task.state)) violations.push(`run ${key} ended ${run.state} with task ${task.id} still ${task.state}`);
    // Cancelled only when asked, and always when a cancel was acknowledged.
    if (state.cancelsAcked.has(key) && run.state !== "cancelled") violations.push(`run ${key}: its cancel was acknowledged (202) but it ended ${run.state}${run.reason ? ` (${run.reason})` : ""}`);
    if (run.state === "cancelled" && !state.cancelsSent.has(key)) violations.push(`run ${key} ended cancelled (${run.reason}) but nobody cancelled it`);
    if (state.cancelsAcked.has(key)) report.cancelsChecked++;
    // One POST or delivery, one run.
    const nonce = run.variables.NONCE;
    if (nonce) {
      if (nonces.has(nonce)) violations.push(`runs ${nonces.get(nonce)} and ${key} both came from request ${nonce}`);
      nonces.set(nonce, key);
    }
    if (run.reason?.startsWith("internal error") || /can no longer be found|could not find this attempt again/.test(run.reason ?? "")) {
      violations.push(`run ${key} ended ${run.state}: ${run.reason}`);
    }

    const marks = readMarkers(paths, pipeline, run.id, runMarks);
    for (const task of run.tasks) {
      const taskDef = def.tasks[task.id];
      if (!taskDef) {
        violations.push(`run ${key} has a task ${task.id} its pipeline does not define`);
        continue;
      }
      report.executionsChecked++;
      const attempts = task.attempts ?? [];
      const taskMarks = marks.get(task.id) ?? [];
      report.attempts += attempts.length;
      report.markers += taskMarks.length;
      if (task.state === "failed" || task.state === "cancelled") {
        const reason = task.reason ?? "(none)";
        report.taskReasons[reason] = (report.taskReasons[reason] ?? 0) + 1;
      }
      const where = `run ${key} task ${task.id}`;
      // No task ran more often than its retries allow, nor more often than its recorded attempts.
      if (taskMarks.length > 1 + taskDef.retries) violations.push(`${where} ran ${taskMarks.length} times with ${taskDef.retries} retries`);
      if (attempts.length > 1 + taskDef.retries) violations.push(`${where} has ${attempts.length} attempts with ${taskDef.retries} retries`);
      if (taskMarks.length > attempts.length) violations.push(`${where} ran ${taskMarks.length} times but ${attempts.length} attempt(s) are recorded`);
      if (taskDef.kind === "run") {
        const seen = new Set<number>();
        for (const attempt of taskMarks) {
          if (seen.has(attempt)) violations.push(`${where} ran attempt ${attempt} twice`);
          seen.add(attempt);
          if (!attempts.some((recorded) => recorded.attempt === attempt)) violations.push(`${where} ran attempt ${attempt}, which is not recorded`);
        }
        if (task.state === "successful" && !seen.has(task.attempt)) violations.push(`${where} is successful in attempt ${task.attempt}, which never ran`);
      } else if (task.state === "successful" && taskMarks.length === 0) {
        violations.push(`${where} is successful but its container never ran`);
      }
      for (const attempt of attempts) if (attempt.state === "running") violations.push(`${where} attempt ${attempt.attempt} is still running in an ended run`);
      if (task.reason?.startsWith("internal error") || /can no longer be found|could not find this attempt again/.test(task.reason ?? "")) {
        violations.push(`${where} ended ${task.state}: ${task.reason}`);
      }
      // A task that started had its conditions met.
      if (attempts.length > 0) {
        for (const [upstream, condition] of Object.entries(taskDef.needs ?? {})) {
          const up = run.tasks.find((candidate) => candidate.id === upstream)?.state ?? "missing";
          const met = condition === "success" ? up === "successful" || up === "reused" : condition === "failure" ? up === "failed" : FINAL_TASK_STATES.has(up);
          if (!met) violations.push(`${where} ran although it needs ${upstream}: ${condition} and ${upstream} is ${up}`);
        }
      }
    }
  }
}

/** The streaming container's successful attempts hold each of its lines exactly once, in order. */
async function checkStreamLogs(api: (path: string) => Promise<Response>, runs: Map<string, RunJson>, prefix: string, report: KillReport, violations: string[]): Promise<void> {
  const expected = Array.from({ length: STREAM_LINES }, (_, i) => `line ${i + 1}`).join("|");
  for (const [key, run] of runs) {
    if (!key.startsWith(`${prefix}box#`)) continue;
    const stream = run.tasks.find((task) => task.id === "stream");
    const success = stream?.attempts?.find((attempt) => attempt.state === "successful");
    if (!success) continue;
    const response = await api(`/pipelines/default/${prefix}box/runs/${run.id}/tasks/stream/logs?attempt=${success.attempt}`);
    const text = await response.text();
    // "<time> [stream] text"; Gantry's own notes are the [gantry] stream.
    const lines = text
      .split("\n")
      .filter(Boolean)
      .map((line) => line.replace(/^\S+ /, ""))
      .filter((line) => !line.startsWith("[gantry]"));
    report.logsChecked++;
    if (lines.join("|") !== expected) violations.push(`run ${key} task stream: its log should hold lines 1 to ${STREAM_LINES} once each, it holds ${JSON.stringify(lines)}`);
  }
}

/** Each acknowledged delivery's run exists, came from it, and sending it again starts nothing. */
async function checkDeliveries(state: HarnessState, api: (path: string) => Promise<Response>, hooksUrl: string, report: KillReport): Promise<void> {
  const pipeline = `${state.prefix}hook`;
  const newestHookRun = async () => {
    const response = await api(`/pipelines/default/${pipeline}/runs?limit=1`);
    return ((await response.json()) as { runs: RunJson[] }).runs[0]?.id ?? 0;
  };
  const newestBefore = await newestHookRun();
  for (const delivery of state.deliveries) {
    const where = `delivery ${delivery.id} (run ${delivery.run})`;
    const response = await api(`/pipelines/default/${pipeline}/runs/${delivery.run}`);
    if (response.status !== 200) {
      state.violations.push(`${where} was acknowledged but its run answers ${response.status}`);
      continue;
    }
    const { run } = (await response.json()) as { run: RunJson };
    if (run.variables.DELIVERY !== delivery.id) state.violations.push(`${where}: the run carries delivery ${run.variables.DELIVERY}`);
    if (run.trigger.kind !== "webhook") state.violations.push(`${where}: the run's trigger is ${run.trigger.kind}`);
    const again = await fetch(`${hooksUrl}/hooks/webhook/default/${pipeline}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gantry-signature-256": hmac(HOOK_SECRET, delivery.body), "x-gantry-delivery": delivery.id },
      body: delivery.body,
      signal: AbortSignal.timeout(15_000),
    });
    const answer = (await again.json().catch(() => ({}))) as { run?: { id: number; duplicate: boolean } };
    if (again.status !== 202 || !answer.run?.duplicate || answer.run.id !== delivery.run) {
      state.violations.push(`${where} sent again answered ${again.status} ${JSON.stringify(answer)}, not a duplicate of run ${delivery.run}`);
    }
    report.deliveriesChecked++;
  }
  const newestAfter = await newestHookRun();
  if (newestAfter !== newestBefore) state.violations.push(`sending the acknowledged deliveries again started runs ${newestBefore + 1} to ${newestAfter}`);
}

/** The summary the bench prints and the test shows when it fails. */
export function formatReport(report: KillReport): string {
  const entries = (record: Record<string, number>) =>
    Object.entries(record)
      .sort((a, b) => b[1] - a[1])
      .map(([name, count]) => `${count} × ${name}`)
      .join("; ") || "none";
  const lines = [
    `wall time:               ${(report.wallMs / 1000).toFixed(1)} s`,
    `kills (SIGKILL):         ${report.kills} (${report.killsDuringStartup} during start-up)`,
    `kills survived:          ${report.survived}`,
    `runs checked:            ${report.runsChecked} (${report.runsAcknowledged} acknowledged, ${report.runsUnacknowledged} created by a request that got no answer)`,
    `run states:              ${entries(report.runStates)}`,
    `deliveries checked:      ${report.deliveriesChecked} acknowledged of ${report.deliveriesSent} sent (each sent again: duplicate, same run)`,
    `cancels checked:         ${report.cancelsChecked} acknowledged of ${report.cancelsSent} runs a cancel was sent for`,
    `task executions checked: ${report.executionsChecked} (attempts recorded ${report.attempts}, task bodies started ${report.markers})`,
    `stream logs checked:     ${report.logsChecked}`,
    `task end reasons:        ${entries(report.taskReasons)}`,
    `at the kills:            ${report.containersAtKills} containers and ${report.processesAtKills} task processes alive (summed over kills)`,
    `containers left once every run had ended (before the janitor's next pass): ${report.containersBeforeJanitor}`,
    `violations:              ${report.violations.length}`,
    ...report.violations.map((violation) => `  - ${violation}`),
  ];
  if (report.serverErrors.length > 0) lines.push(`server output that looks like errors (${report.serverErrors.length}):`, ...report.serverErrors.slice(0, 20).map((line) => `  ! ${line}`));
  return lines.join("\n");
}
