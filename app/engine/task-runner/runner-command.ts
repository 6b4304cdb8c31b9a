// How the server starts the task runner: inside the compiled binary, the binary itself with a
// hidden command; from source, the runner's build, else its TypeScript.
//
// From source, the task runner is built once per server start into one CommonJS file with
// its bytecode, so each task's process skips resolving, transpiling and compiling its ~20
// TypeScript files: 7 ms instead of 11 ms to run a no-op task on a 2-core machine (a bare
// `bun` process takes 4 ms). The build lands in node_modules/.cache, which the sandbox sees
// read-only already, in a folder named by its content (servers of one checkout share it).
// The compiled binary needs none of this: it is its own runner, already bytecode.
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { TASK_RUNNER_COMMAND } from "./command.ts";

const compiled = Bun.isStandaloneExecutable;
let builtRunner: string | undefined;

/** The command line that starts a task runner (its arguments follow). */
export function taskRunnerCommand(): string[] {
  if (compiled) return [process.execPath, TASK_RUNNER_COMMAND];
  // A build another server of this checkout removed (a week unused) leaves the source.
  if (builtRunner && existsSync(builtRunner)) return [process.execPath, builtRunner];
  return [process.execPath, join(import.meta.dir, "main.ts")];
}

const PROJECT_ROOT = join(import.meta.dir, "..", "..", "..");
const CACHE = join(PROJECT_ROOT, "node_modules", ".cache", "gantry-runner");
/** Builds not used for this long (other versions of the source) are removed; a server whose build went runs from source. */
const STALE_MS = 7 * 24 * 60 * 60 * 1000;

let building: Promise<void> | undefined;

/** Builds the runner in the background (once per process); tasks use the TypeScript source until it is ready, and if it fails. */
export function buildRunner(): Promise<void> {
  if (compiled) return Promise.resolve();
  building ??= build().catch((error: unknown) => {
    console.error(`task runner: running it from source, its build failed: ${(error as Error).message}`);
  });
  return building;
}

async function build(): Promise<void> {
  mkdirSync(CACHE, { recursive: true });
  const scratch = join(CACHE, `.building-${process.pid}-${crypto.randomUUID()}`);
  try {
    // In a process of its own: Bun.build in the server would keep its bundler's memory
    // (~4.5 MiB of the idle server's RSS) for as long as the server runs. valibot is loaded
    // from node_modules only when a bundle imports it (sdk-module.ts), hence external.
    const builder = Bun.spawn(
      [process.execPath, "build", join(import.meta.dir, "main.ts"), "--target=bun", "--format=cjs", "--bytecode", "--external", "valibot", "--outdir", scratch],
      { cwd: PROJECT_ROOT, stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    );
    const [exitCode, errors] = await Promise.all([builder.exited, new Response(builder.stderr).text()]);
    if (exitCode !== 0) throw new Error(errors.trim().split("\n").slice(-5).join("; ") || `bun build exited with code ${exitCode}`);
    // Readable by the sandbox's user, whatever the server's (private) umask.
    for (const dir of [join(PROJECT_ROOT, "node_modules", ".cache"), CACHE, scratch]) chmodSync(dir, 0o755);
    for (const file of readdirSync(scratch)) chmodSync(join(scratch, file), 0o644);
    const code = await Bun.file(join(scratch, "main.js")).bytes();
    // Bytecode is Bun's own: another Bun version gets another folder (it would ignore this one's).
    const folder = join(CACHE, new Bun.CryptoHasher("sha256").update(code).update(`${Bun.version} ${Bun.revision}`).digest("hex").slice(0, 16));
    if (!existsSync(folder)) {
      try {
        renameSync(scratch, folder);
      } catch (error) {
        // Another server of this checkout made the same one meanwhile.
        if (!existsSync(join(folder, "main.js"))) throw error;
      }
    }
    // In use: not stale for another week, and touched daily while this server runs.
    const touch = () => {
      const now = new Date();
      utimesSync(folder, now, now);
    };
    touch();
    setInterval(() => {
      try {
        touch();
      } catch {
        // removed meanwhile: tasks start from source (taskRunnerCommand)
      }
    }, 24 * 60 * 60 * 1000).unref();
    builtRunner = join(folder, "main.js");
    removeStale(folder);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function removeStale(current: string): void {
  for (const name of readdirSync(CACHE)) {
    const path = join(CACHE, name);
    if (path === current) continue;
    try {
      // A build a killed process left half done goes after an hour.
      const age = Date.now() - statSync(path).mtimeMs;
      if (age > (name.startsWith(".building-") ? 60 * 60 * 1000 : STALE_MS)) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
  }
}
