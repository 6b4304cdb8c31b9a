// Runs one short-lived helper (a pipeline's build or import) in a fresh sandbox and reads
// its last line of output: bounded in time and in how much it may print, since what runs
// there is a pipeline author's code.
import type { RunSandbox, SandboxOptions } from "../executors/run-sandbox.ts";

export interface SandboxedOutcome {
  /** The last non-empty line of stdout: the helper's report. */
  report: string;
  /** The end of stderr, for a crash's message. */
  said: string;
  code: number;
  timedOut: boolean;
}

export async function runSandboxed(
  sandbox: RunSandbox,
  argv: string[],
  options: SandboxOptions & { timeoutMs: number; maxOutputBytes: number; env?: Record<string, string> },
): Promise<SandboxedOutcome> {
  const child = Bun.spawn({
    ...sandbox.wrap(argv, options),
    cwd: "/",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", TMPDIR: "/tmp", ...options.env },
    detached: true,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // ended meanwhile
    }
  }, options.timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    readCapped(child.stdout, options.maxOutputBytes),
    readCapped(child.stderr, 64 * 1024),
    child.exited,
  ]);
  clearTimeout(timer);
  return {
    report: stdout.trimEnd().split("\n").at(-1) ?? "",
    said: stderr.trim().split("\n").slice(-3).join(" ").slice(0, 500),
    code,
    timedOut,
  };
}

/** Past the cap only the newest output is kept: the report is the last line. */
async function readCapped(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    size += chunk.length;
    while (size > maxBytes && chunks.length > 1) size -= chunks.shift()!.length;
  }
  return Buffer.concat(chunks).toString("utf8");
}
