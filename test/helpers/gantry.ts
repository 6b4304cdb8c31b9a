// Starts real Gantry servers for tests: in this process (fast, with access to deps) or as
// a child process (for the CLI, kill -9 and restart tests). Both use a temp data dir and
// a random port.
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { loadConfig } from "../../app/config.ts";
import { startGantry, type RunningGantry } from "../../app/start.ts";
import { REPO_ROOT, tempDir } from "./temp.ts";

export interface TestGantry extends RunningGantry {
  token: string;
  dataDir: string;
  pipelinesDir: string;
  /** fetch against the API with the admin token. */
  api(path: string, init?: RequestInit): Promise<Response>;
}

export async function startTestGantry(
  options: { pipelinesDir?: string; dataDir?: string; env?: Record<string, string>; now?: () => Date } = {},
): Promise<TestGantry> {
  const dataDir = options.dataDir ?? tempDir("gantry-data-");
  const pipelinesDir = options.pipelinesDir ?? tempDir("gantry-pipelines-");
  const config = loadConfig({
    env: { GANTRY_DATA_DIR: dataDir, GANTRY_PIPELINES_DIR: pipelinesDir, GANTRY_PORT: "0", GANTRY_HOOKS_PORT: "0", GANTRY_KILL_GRACE: "2s", ...options.env },
    cwd: REPO_ROOT,
  });
  const gantry = await startGantry(config, options.now ? { now: options.now } : {});
  const token = gantry.bootstrapToken ?? readFileSync(join(dataDir, "bootstrap-token"), "utf8").trim();
  return {
    ...gantry,
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
  output(): string;
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
  const proc = Bun.spawn(command, {
    cwd: options.cwd ?? dataDir,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      GANTRY_DATA_DIR: dataDir,
      GANTRY_PIPELINES_DIR: pipelinesDir,
      GANTRY_PORT: "0",
      GANTRY_HOOKS_PORT: "0",
      GANTRY_KILL_GRACE: "2s",
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
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!url) {
    const match = /listening on (http:\/\/\S+)/.exec(out);
    if (match) url = match[1];
    else if (proc.exitCode !== null) throw new Error(`gantry exited early (${proc.exitCode}):\n${out}`);
    else if (Date.now() > deadline) throw new Error(`gantry did not start in time:\n${out}`);
    else await Bun.sleep(25);
  }
  const token = readFileSync(join(dataDir, "bootstrap-token"), "utf8").trim();
  return {
    url,
    token,
    dataDir,
    pipelinesDir,
    proc,
    output: () => out,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
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

export interface RunJson {
  namespace: string;
  pipeline: string;
  id: number;
  state: string;
  reason?: string;
  version: number;
  variables: Record<string, string>;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  tasks: { id: string; kind: string; state: string; exitCode: number | null; attempt: number; reason?: string; startedAt: string | null; endedAt: string | null }[];
}

type Api = (path: string, init?: RequestInit) => Promise<Response>;

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

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/** Reads a text/event-stream body message by message (comments skipped). */
export async function* readSse(response: Response): AsyncGenerator<SseMessage> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        const message: SseMessage = { event: "message", data: "" };
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") message.event = value;
          else if (field === "data") data.push(value);
          else if (field === "id") message.id = value;
        }
        if (data.length === 0 && message.event === "message") continue;
        message.data = data.join("\n");
        yield message;
      }
    }
  } finally {
    // Closing the reader ends the HTTP stream, so the server stops following.
    await reader.cancel().catch(() => undefined);
  }
}
