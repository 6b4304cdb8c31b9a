// Runs the `gantry` CLI from source as a child process, as a person would from a shell:
// against a test server (its URL and token in the environment), with optional stdin.
import { REPO_ROOT } from "./temp.ts";

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The server the CLI talks to (GANTRY_URL, GANTRY_TOKEN). */
  server?: { url: string; token: string };
  /** More environment; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** Piped to the CLI's stdin; nothing when absent. */
  stdin?: string;
}

/** The environment a CLI child gets: this process's, the server's URL and token, then `extra`. */
export function cliEnv(server: CliOptions["server"], extra: CliOptions["env"] = {}): Record<string, string> {
  const env: Record<string, string> = {};
  const merged = { ...process.env, ...(server && { GANTRY_URL: server.url, GANTRY_TOKEN: server.token }), ...extra };
  for (const [name, value] of Object.entries(merged)) if (value !== undefined) env[name] = value;
  return env;
}

/** Runs `gantry <args>` and waits for it; the command line is `bun app/main.ts <args>` in the repository. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, "app/main.ts", ...args], {
    cwd: REPO_ROOT,
    env: cliEnv(options.server, options.env),
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

/** The run number in "started run default/greet #3". */
export function startedRun(output: string): number {
  const match = /started run \S+ #(\d+)/.exec(output);
  if (!match) throw new Error(`no run number in: ${output}`);
  return Number(match[1]);
}

/** Starts `gantry <args>` in the background; its stdout can be read while it runs, and it can be sent a signal. */
export function cliInBackground(args: string[], options: CliOptions = {}): { stdout: () => string; done: Promise<CliResult>; kill: (signal: NodeJS.Signals) => void } {
  const proc = Bun.spawn([process.execPath, "app/main.ts", ...args], { cwd: REPO_ROOT, env: cliEnv(options.server, options.env), stdout: "pipe", stderr: "pipe" });
  let stdout = "";
  const decoder = new TextDecoder();
  const read = (async () => {
    for await (const chunk of proc.stdout) stdout += decoder.decode(chunk);
  })();
  const done = (async () => {
    const [stderr, exitCode] = await Promise.all([new Response(proc.stderr).text(), proc.exited, read]);
    return { exitCode, stdout, stderr };
  })();
  return { stdout: () => stdout, done, kill: (signal) => proc.kill(signal) };
}
