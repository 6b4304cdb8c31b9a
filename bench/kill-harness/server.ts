// The `gantry serve` child process the harness kills: started from source on the harness's
// data dir with random ports, its output kept in servers.log and scanned for engine errors.
import { appendFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Paths } from "./workdir.ts";

export interface ServerProcess {
  proc: Bun.Subprocess;
  url?: string;
  hooksUrl?: string;
  /** Resolves once the server printed its URLs; rejects if it exits first or takes too long. */
  ready: Promise<void>;
}

/** Server output worth a look: the engine saying something went wrong inside it. */
const ERROR_LINE = /failed internally|internal error|recording its end failed|node loop:|unhandled|uncaught|TypeError|ReferenceError|SQLITE_|database is locked/i;
const REPO = join(import.meta.dir, "..", "..");

function spawnServer(paths: Paths, start: number, serverErrors: string[]): ServerProcess {
  const proc = Bun.spawn([process.execPath, join(REPO, "app", "main.ts"), "serve"], {
    cwd: paths.root,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      // Under the test suite, its temp folder: what a killed server leaves goes with it.
      ...(process.env.TMPDIR && { TMPDIR: process.env.TMPDIR }),
      GANTRY_DATA_DIR: paths.dataDir,
      GANTRY_PIPELINES_DIR: paths.pipelinesDir,
      GANTRY_EXTENSIONS_DIR: join(REPO, "extensions"),
      GANTRY_HOST: "127.0.0.1",
      GANTRY_PORT: "0",
      GANTRY_HOOKS_PORT: "0",
      GANTRY_KILL_GRACE: "1s",
      GANTRY_RUN_SANDBOX_PATHS: `${dirname(paths.marksFile)}:rw`,
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

export async function kill9(server: ServerProcess): Promise<void> {
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill("SIGKILL");
  await server.proc.exited;
}

/** One server at a time on the same data: each start replaces the last, numbered in the output. */
export class Servers {
  /** The server last started (it may be dead: killed, or exited during start-up). */
  current?: ServerProcess;
  private starts = 0;

  constructor(
    private readonly paths: Paths,
    private readonly serverErrors: string[],
  ) {}

  /** Starts the next server and returns at once; `ready` says when it listens. */
  spawn(): ServerProcess {
    this.current = spawnServer(this.paths, ++this.starts, this.serverErrors);
    return this.current;
  }

  /** Starts the next server and waits until it listens. */
  async boot(): Promise<{ url: string; hooksUrl: string }> {
    const server = this.spawn();
    await server.ready;
    return { url: server.url!, hooksUrl: server.hooksUrl! };
  }
}
