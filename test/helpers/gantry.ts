// Starts real Gantry servers for tests: in this process (fast, with access to deps) or as
// a child process (for the CLI, kill -9 and restart tests). Both use a temp data dir and
// a random port.
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { loadConfig, type LoadConfigOptions } from "../../app/config.ts";
import { startGantry, type RunningGantry } from "../../app/start.ts";
import { REPO_ROOT, SHARED_ROOT, sharedRoot, tempDir, writeFile } from "./temp.ts";
import { readSse as readSseBody, type SseMessage } from "../../app/cli/sse-reader.ts";

export type { SseMessage };

/** What every test server gets: random ports and a short kill grace. */
export const TEST_ENV: Readonly<Record<string, string>> = {
  GANTRY_PORT: "0",
  GANTRY_HOOKS_PORT: "0",
  GANTRY_KILL_GRACE: "2s",
  GANTRY_RUN_SANDBOX_PATHS: `${SHARED_ROOT}:rw`,
  // Tests never reach the internet: an extension registry is a stub a test starts, or nothing.
  GANTRY_NPM_REGISTRY: "http://127.0.0.1:9",
  // The suite runs the files that do not use Docker beside the swarm's with no engine
  // (scripts/test-suite.ts): their servers must not find the real one either.
  ...(process.env.GANTRY_TEST_DOCKER_HOST && { GANTRY_DOCKER_HOST: process.env.GANTRY_TEST_DOCKER_HOST }),
};

export interface TestGantry extends RunningGantry {
  token: string;
  dataDir: string;
  pipelinesDir: string;
  /** fetch against the API with the admin token. */
  api: Api;
}

/** A fetch against the API with a token, as TestGantry.api. */
type Api = (path: string, init?: RequestInit) => Promise<Response>;

export interface TestGantryOptions {
  pipelinesDir?: string;
  dataDir?: string;
  env?: Record<string, string>;
  now?: () => Date;
}

/**
 * How an in-process test server loads its config: from the test env alone. The data dir is
 * the working directory, so a developer's gantry.toml in the repository is never read, and
 * the repository's built-in extensions are named explicitly.
 */
export function testConfigOptions(dataDir: string, pipelinesDir: string, env: Record<string, string> = {}): LoadConfigOptions {
  sharedRoot();
  return {
    env: { ...TEST_ENV, GANTRY_DATA_DIR: dataDir, GANTRY_PIPELINES_DIR: pipelinesDir, GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions"), ...env },
    cwd: dataDir,
  };
}

export async function startTestGantry(options: TestGantryOptions = {}): Promise<TestGantry> {
  const dataDir = options.dataDir ?? tempDir("gantry-data-");
  const pipelinesDir = options.pipelinesDir ?? tempDir("gantry-pipelines-");
  const config = loadConfig(testConfigOptions(dataDir, pipelinesDir, options.env));
  const gantry = await startGantry(config, options.now ? { now: options.now } : {});
  const token = gantry.bootstrapToken ?? readFileSync(join(dataDir, "bootstrap-token"), "utf8").trim();
  return {
    ...gantry,
    // Test servers leave nothing behind: runs still going are cancelled (and their containers removed).
    stop: (stopOptions) => gantry.stop({ cancelRuns: true, ...stopOptions }),
    token,
    dataDir,
    pipelinesDir,
    api: (path, init = {}) =>
      fetch(`${gantry.url}/api/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
      }),
  };
}

export interface GantryProcess {
  url: string;
  token: string;
  dataDir: string;
  pipelinesDir: string;
  proc: Bun.Subprocess;
  /** fetch against the API with the bootstrap token, as TestGantry.api. */
  api: Api;
  output(): string;
  /** The exit code, once the process has exited and all it wrote is in output(). */
  exited: Promise<number>;
  /** The first-start login link the server printed (a one-time code), once it is in the output. */
  loginUrl(): string | undefined;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** kill -9, no clean-up at all. */
  kill9(): Promise<void>;
}

/** Runs `gantry serve` (from source, or a given binary) as a child process. */
export async function startGantryProcess(
  options: { pipelinesDir?: string; dataDir?: string; env?: Record<string, string>; command?: string[]; cwd?: string } = {},
): Promise<GantryProcess> {
  const dataDir = options.dataDir ?? tempDir("gantry-data-");
  const pipelinesDir = options.pipelinesDir ?? tempDir("gantry-pipelines-");
  const command = options.command ?? [process.execPath, join(REPO_ROOT, "app", "main.ts"), "serve"];
  sharedRoot();
  const proc = Bun.spawn(command, {
    cwd: options.cwd ?? dataDir,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      // The suite's own temp folder (scripts/test-suite.ts), so a killed server leaves nothing in /tmp.
      ...(process.env.TMPDIR && { TMPDIR: process.env.TMPDIR }),
      // Its answers are checked against their documented schemas too (route-doc.ts).
      ...(process.env.GANTRY_CHECK_RESPONSES && { GANTRY_CHECK_RESPONSES: process.env.GANTRY_CHECK_RESPONSES }),
      ...TEST_ENV,
      GANTRY_DATA_DIR: dataDir,
      GANTRY_PIPELINES_DIR: pipelinesDir,
      ...options.env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += decoder.decode(chunk);
  };
  // Output still in the pipes when the process exits is read before `exited` resolves; for at
  // most 2 s, should something the server started still hold the pipes open.
  const drained = Promise.all([collect(proc.stdout as ReadableStream<Uint8Array>), collect(proc.stderr as ReadableStream<Uint8Array>)]).catch(() => undefined);
  const exited = proc.exited.then(async (code) => {
    await Promise.race([drained, Bun.sleep(2_000)]);
    return code;
  });
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!url) {
    const match = /listening on (http:\/\/\S+)/.exec(out);
    if (match) url = match[1];
    else if (proc.exitCode !== null) throw new Error(`gantry exited early (${await exited}):\n${out}`);
    else if (Date.now() > deadline) throw new Error(`gantry did not start in time:\n${out}`);
    else await Bun.sleep(25);
  }
  const token = readFileSync(join(dataDir, "bootstrap-token"), "utf8").trim();
  const baseUrl = url;
  return {
    url,
    token,
    dataDir,
    pipelinesDir,
    proc,
    api: (path, init = {}) =>
      fetch(`${baseUrl}/api/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
      }),
    output: () => out,
    exited,
    loginUrl: () => /(http\S+\/login\?code=\S+)/.exec(out)?.[1],
    async stop() {
      proc.kill("SIGTERM");
      await exited;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

/** Polls until `check` returns a value (undefined and false mean "not yet"), or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | false | undefined> | T | false | undefined,
  timeoutMs = 15_000,
  what = "condition",
): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** A pipeline as GET /pipelines answers it (the fields tests look at). */
export interface PipelineJson {
  namespace: string;
  id: string;
  version: number | null;
  error?: unknown;
}

/**
 * Writes `files` (name → source) into a new pipelines folder and starts a server on it;
 * throws if any pipeline failed to load, so a typo in a test pipeline fails loudly.
 */
export async function startWithPipelines(files: Record<string, string>, options: Omit<TestGantryOptions, "pipelinesDir"> = {}): Promise<TestGantry> {
  const pipelinesDir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(files)) writeFile(join(pipelinesDir, name), source);
  const gantry = await startTestGantry({ ...options, pipelinesDir });
  const { pipelines } = (await (await gantry.api("/pipelines")).json()) as { pipelines: PipelineJson[] };
  const broken = pipelines.filter((pipeline) => pipeline.error);
  if (broken.length) {
    await gantry.stop();
    throw new Error(`test pipelines failed to load: ${JSON.stringify(broken)}`);
  }
  return gantry;
}

/** Waits until a pipeline ("ns/id") is loaded without a load error and returns its JSON. */
export async function waitForPipeline(api: Api, pipeline: string, timeoutMs = 20_000): Promise<PipelineJson> {
  let last = "not found";
  try {
    return await waitFor(
      async () => {
        const response = await api(`/pipelines/${pipeline}`);
        if (response.status !== 200) {
          last = `${response.status} ${await response.text()}`;
          return undefined;
        }
        const body = (await response.json()) as { pipeline: PipelineJson };
        if (body.pipeline.error) {
          last = `load error ${JSON.stringify(body.pipeline.error)}`;
          return undefined;
        }
        return body.pipeline;
      },
      timeoutMs,
      `pipeline ${pipeline} to load`,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message} (last answer: ${last})`);
  }
}

/** Waits for a run to reach a final state over the API and returns its JSON. */
export async function waitForRun(
  api: (path: string) => Promise<Response>,
  pipeline: string,
  run: number,
  timeoutMs = 20_000,
): Promise<RunJson> {
  return waitFor(
    async () => {
      const response = await api(`/pipelines/${pipeline}/runs/${run}`);
      const body = (await response.json()) as { run: RunJson };
      return ["successful", "failed", "cancelled"].includes(body.run.state) ? body.run : undefined;
    },
    timeoutMs,
    `run ${pipeline}#${run} to finish`,
  );
}

export interface AttemptJson {
  attempt: number;
  state: string;
  exitCode: number | null;
  reason?: string;
  startedAt: string | null;
  endedAt: string | null;
  node?: string;
}

export interface ExecutionJson {
  id: string;
  kind: string;
  state: string;
  exitCode: number | null;
  attempt: number;
  reason?: string;
  reusedFrom?: number;
  startedAt: string | null;
  endedAt: string | null;
  attempts: AttemptJson[];
}

export interface RunJson {
  namespace: string;
  pipeline: string;
  id: number;
  state: string;
  reason?: string;
  trigger: { kind: string; by?: string };
  version: number;
  variables: Record<string, string>;
  /** While queued: its place in its queue and why it waits. */
  position?: number;
  waitingFor?: string;
  group?: string;
  rerunOf?: number;
  rerunOnly?: string;
  node?: string;
  createdAt: string;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  tasks: ExecutionJson[];
}

/** Starts a run over the API (expects 201) and returns its JSON. */
export async function startRun(api: Api, pipeline: string, variables?: Record<string, string>): Promise<RunJson> {
  const response = await api(`/pipelines/${pipeline}/runs`, { method: "POST", body: JSON.stringify(variables ? { variables } : {}) });
  if (response.status !== 201) throw new Error(`starting ${pipeline}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { run: RunJson }).run;
}

/** A task's log as text over the API. */
export async function readLog(api: Api, pipeline: string, run: number, task: string): Promise<string> {
  const response = await api(`/pipelines/${pipeline}/runs/${run}/tasks/${task}/logs`);
  if (response.status !== 200) throw new Error(`log of ${pipeline}#${run} ${task}: ${response.status} ${await response.text()}`);
  return response.text();
}

/** A log's output lines: without their timestamps, and without Gantry's own notes. */
export const outputLines = (log: string): string[] =>
  log
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^\S+ /, ""))
    .filter((line) => !line.startsWith("[gantry]"));

/** Waits until a task's log matches and returns the match. */
export async function waitForLog(api: Api, pipeline: string, run: number, task: string, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
  return waitFor(
    async () => pattern.exec(await readLog(api, pipeline, run, task)) ?? undefined,
    timeoutMs,
    `${pattern} in the log of ${pipeline}#${run} ${task}`,
  );
}

/** Whether a process exists and is not a zombie waiting to be reaped. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the parenthesised command name, which may itself contain spaces.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Reads a text/event-stream response message by message (the CLI's reader); ending the loop closes the stream. */
export function readSse(response: Response): AsyncGenerator<SseMessage> {
  return readSseBody(response.body!);
}
