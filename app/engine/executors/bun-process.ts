// Executes run() tasks, each in its own Bun process inside a bubblewrap sandbox (or, when
// an admin turned it off, a plain process group), capturing stdout and stderr line by line.
// With the sandbox on, a task usually gets a runner that booted before it (runner-pool.ts).
// An attempt's reference is a marker in the runner's command line, so a restarted server
// can find a runner that outlived it and stop it: its output pipes died with the old server.
import { chownSync, closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync } from "node:fs";
import { readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { AttachResult, Executor, TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import type { LogStream, LogWriter } from "../../stores/logs.ts";
import type { TaskRunnerResult } from "../task-runner/main.ts";
import { goLine, reportedReason, type RunnerAssignment } from "../task-runner/command.ts";
import { OBJECTS_TOKEN_ENV } from "../task-runner/objects-client.ts";
import { buildRunner, taskRunnerCommand } from "../task-runner/runner-command.ts";
import { createLineSplitter } from "../../domain/line-splitter.ts";
import { sandboxRefusal, type RunSandbox } from "./run-sandbox.ts";
import { createRunnerPool, isAlive, repairHandOvers, type WarmRunner } from "./runner-pool.ts";
import { createEndScanner } from "./runner-end-marker.ts";
import { readAtStart, resultDirOf, resultFileOf, runnerBaseEnv, SANDBOX_WORKSPACE } from "./runner-launch.ts";

/** Why a run() attempt cut off by a restart failed. */
export const SERVER_RESTARTED_REASON = "the server restarted during this attempt";

export interface BunProcessExecutorOptions {
  sandbox: RunSandbox;
  /** Warm runners (with the sandbox on): where their folders go (beside the workspaces) and how many spares wait. */
  pool?: { dir: string; size: number };
}

/** How this server's run() tasks got their runners, and its warm runners now (GET /metrics). */
export interface RunnerCounts {
  /** The run() tasks started so far, by the runner they got. */
  started: Record<TaskRunnerKind, number>;
  /**
   * Spares ready now (not counting runners booted ahead for a run); how many the pool keeps
   * (GANTRY_RUN_POOL; 0 when it is off: the sandbox off, or the pool stopped); new runs that
   * found no spare for their first task.
   */
  pool: { ready: number; size: number; misses: number };
}

/**
 * The runner a task got: "warm", booted before the task (a spare, or one booted ahead for
 * its run); "booting", one booted ahead for its run and still booting, which the task waited
 * for; "own", one started for the task (no warm runner for it: the pool empty or off, or
 * tasks beside others of their run beyond those booted ahead; network "none"; a variable
 * only a starting process reads, readAtStart).
 */
export type TaskRunnerKind = "warm" | "booting" | "own";

export type BunProcessExecutor = Executor & { runners(): RunnerCounts };

export function createBunProcessExecutor(options: BunProcessExecutorOptions): BunProcessExecutor {
  const { sandbox } = options;
  const pool = options.pool && options.pool.size > 0 && sandbox.status.state === "on" ? createRunnerPool({ sandbox, ...options.pool }) : undefined;
  const started: Record<TaskRunnerKind, number> = { warm: 0, booting: 0, own: 0 };
  // Tasks start from source until the runner's build is ready (a few tens of ms).
  void buildRunner();
  /**
   * Warm runners given to attempts by reference(), until their start(); an attempt that never
   * starts (its secrets or artifacts missing) leaves its runner here until its run ends.
   */
  const reserved = new Map<string, { runner: WarmRunner; workspace: string }>();
  const dropReserved = (ref: string) => {
    const entry = reserved.get(ref);
    if (!entry) return;
    reserved.delete(ref);
    pool?.discard(entry.runner);
  };
  return {
    kind: "run",
    reference(launch) {
      // A task without the network starts its own runner: the warm ones share the host's.
      const warm = pool && launch.task.runNetwork === undefined ? pool.take(launch.workspace, launch.workspaceAlone === true) : undefined;
      if (warm) {
        reserved.set(warm.ref, { runner: warm, workspace: launch.workspace });
        return warm.ref;
      }
      return `run-${crypto.randomUUID()}`;
    },
    prepareWorkspace: async (workspace, runTasks, slotFree) => (await pool?.adoptWorkspace(workspace, runTasks, slotFree)) ?? false,
    releaseWorkspace(workspace) {
      for (const [ref, entry] of reserved) if (entry.workspace === workspace) dropReserved(ref);
      pool?.releaseWorkspace(workspace);
    },
    repair() {
      if (options.pool) repairHandOvers(options.pool.dir);
    },
    warm() {
      // Warm runners wait for the runner's build.
      void buildRunner().then(() => pool?.warm());
      void sweepResultFolders().catch((error: unknown) => console.error(`run() tasks: sweeping left-over result folders failed: ${(error as Error).message}`));
    },
    close() {
      for (const ref of reserved.keys()) dropReserved(ref);
      pool?.close();
    },
    runners: () => ({ started: { ...started }, pool: pool?.state() ?? { ready: 0, size: 0, misses: 0 } }),
    start(launch: TaskLaunch): TaskHandle {
      const failed = (reason: string): TaskHandle => ({ exited: Promise.resolve({ exitCode: null, reason }), stop() {}, detach() {} });
      const sandboxed = sandbox.status.state === "on";
      // In the sandbox the workspace is at one path for every task (a warm runner bound it before it knew the run).
      const env: Record<string, string> = { ...runnerBaseEnv(sandboxed), ...launch.env, ...(sandboxed && { GANTRY_WORKSPACE: SANDBOX_WORKSPACE }) };
      let warm = reserved.get(launch.ref)?.runner;
      reserved.delete(launch.ref);
      // One that died while it waited, or a task whose variables only a starting process reads: a runner of its own, under the same reference.
      if (warm && (!isAlive(warm) || Object.keys(launch.env).some(readAtStart))) {
        signalGroup(warm.child.pid, "SIGKILL");
        warm = undefined;
      }
      const resultDir = resultDirOf(launch.ref);
      const resultFile = resultFileOf(launch.ref);
      let child: Bun.Subprocess<"pipe", "pipe", "pipe">;
      // A runner started for a gated task gets the objects token with "go" (goLine), not in
      // the environment it starts with: what the task starts could read that in /proc.
      let objectsOnStdin: string | undefined;
      if (warm) {
        child = warm.child;
        child.ref();
        try {
          const assignment: RunnerAssignment = {
            bundle: { name: basename(launch.bundlePath), code: bundleCode(launch.bundlePath) },
            task: launch.task.id,
            attempt: launch.attempt,
            ...(launch.task.workdir && { workdir: launch.task.workdir }),
            env,
          };
          child.stdin.write(`${JSON.stringify(assignment)}\n`);
          child.stdin.flush();
        } catch (error) {
          signalGroup(child.pid, "SIGKILL");
          rmSync(resultDir, { recursive: true, force: true });
          return failed(`could not start the task process: ${(error as Error).message}`);
        }
      } else {
        if (sandbox.status.state === "unavailable") return failed(sandboxRefusal(sandbox.status.reason));
        const runner = [
          ...taskRunnerCommand(),
          ...(launch.gate ? ["--gated"] : []),
          launch.bundlePath,
          launch.task.id,
          String(launch.attempt),
          resultFile,
          ...(launch.task.workdir ? [launch.task.workdir] : []),
        ];
        try {
          mkdirSync(resultDir, { recursive: true, mode: 0o700 });
          if (sandboxed && sandbox.status.state === "on" && sandbox.status.user) {
            chownSync(resultDir, sandbox.status.user.uid, sandbox.status.user.gid);
          }
          const command = sandboxed
            ? sandbox.wrap(runner, {
                // Not the workspace: Bun reads bunfig.toml (preloads) and .env from where it
                // starts, and a container may have written those there. The runner changes
                // into the workspace itself once it has started.
                cwd: "/",
                readOnly: [launch.bundlePath],
                writable: [resultDir],
                binds: [{ source: launch.workspace, target: SANDBOX_WORKSPACE, writable: true }],
                ...(launch.task.runNetwork && { network: launch.task.runNetwork }),
              })
            : { cmd: runner };
          objectsOnStdin = launch.gate ? env[OBJECTS_TOKEN_ENV] : undefined;
          const startEnv = { ...env };
          if (objectsOnStdin) delete startEnv[OBJECTS_TOKEN_ENV];
          child = Bun.spawn({
            ...command,
            cwd: "/",
            env: startEnv,
            // The runner boots and imports the bundle while the claim commits, then waits for "go".
            stdin: "pipe",
            stdout: "pipe",
            stderr: "pipe",
            // Own process group: signals reach the sandbox (or, unsandboxed, all the task started).
            detached: true,
          });
        } catch (error) {
          rmSync(resultDir, { recursive: true, force: true });
          return failed(`could not start the task process: ${(error as Error).message}`);
        }
      }
      started[warm ? (warm.ready ? "warm" : "booting") : "own"]++;
      const pid = child.pid;
      const gate = launch.gate ?? Promise.resolve(true);
      // Told with "go", a sandboxed runner ends its output with a marker and its exit code
      // (END_MARKER) when nothing else is left in its sandbox. Unsandboxed, what the task left
      // running is in no sandbox it could look into: the server waits for the runner's exit.
      const endKey = sandboxed ? crypto.randomUUID().replaceAll("-", "") : undefined;
      const open = (go: boolean) => {
        if (!go) signalGroup(pid, "SIGKILL");
        try {
          if (go) child.stdin.write(`${goLine({ end: endKey, objects: objectsOnStdin })}\n`);
          child.stdin.end();
        } catch {
          // the runner has ended already (its bundle did not import): its exit says why
        }
      };
      void gate.then(open, () => open(false));
      const pumps = Promise.all([pump(warm?.stdout ?? child.stdout, "out", launch.log, endKey), pump(child.stderr, "err", launch.log, endKey)]);
      // The same code at the end of both streams: the runner is on its way out with it.
      const marked = pumps.then(([out, err]) => (out !== undefined && out === err ? out : undefined));
      let killTimer: ReturnType<typeof setTimeout> | undefined;

      const exited = (async (): Promise<TaskExit> => {
        // The end marker usually comes first: the process's own end follows ~2 ms later, and
        // nothing else is left in its sandbox (the runner looked before writing it).
        const markedCode = await Promise.race([marked, child.exited.then(() => undefined)]);
        const code = markedCode ?? (await child.exited);
        clearTimeout(killTimer);
        // Whatever the task left running goes too, before draining the pipes: a leftover
        // process holding stdout/stderr would otherwise keep the task "running". (In the
        // sandbox its pid namespace ends with the runner; after a marker this only hurries
        // the runner's end.)
        signalGroup(pid, "SIGKILL");
        await pumps;
        const reported = readResult(resultFile);
        // Off the event loop (behind the database's fsyncs a removal can wait on the journal),
        // and not waited for: cleanup() removes it again, after the attempt's end is stored.
        void rm(resultDir, { recursive: true, force: true }).catch(() => undefined);
        if (code === 0) return { exitCode: 0 };
        if (reported) return { exitCode: code, reason: reportedReason(reported) };
        // (After a marker the runner ended as it says: a signal now would be the SIGKILL above.)
        if (markedCode === undefined && child.signalCode) return { exitCode: null, reason: `killed by ${child.signalCode}` };
        // bwrap reports a runner killed by a signal as 128 + its number (the runner itself
        // only ever exits 0, 1 or 75).
        const signal = sandboxed ? signalOfExit(code) : undefined;
        if (signal) return { exitCode: null, reason: `killed by ${signal}` };
        return { exitCode: code, reason: `exited with code ${code}` };
      })();

      const stop = (graceMs: number) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        terminate(pid, launch.ref, sandboxed);
        clearTimeout(killTimer);
        killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
      };
      // Its output pipes end with the server: it cannot be followed again, so it stops.
      return { exited, stop, detach: stop };
    },
    async attach({ launch }): Promise<AttachResult> {
      // A runner left by the old server died with it (the sandbox's --die-with-parent, or the
      // runner watching its parent); one still there is stopped now. Its output is lost.
      for (const pid of processesOf(launch.ref)) signalGroup(pid, "SIGKILL");
      rmSync(resultDirOf(launch.ref), { recursive: true, force: true });
      return { status: "lost", reason: SERVER_RESTARTED_REASON };
    },
    async stop(ref, graceMs) {
      const pids = processesOf(ref);
      for (const pid of pids) if (!isSandboxProcess(pid)) signalGroup(pid, "SIGTERM");
      if (pids.length > 0) setTimeout(() => pids.forEach((pid) => signalGroup(pid, "SIGKILL")), graceMs).unref();
    },
    async cleanup(ref) {
      await rm(resultDirOf(ref), { recursive: true, force: true });
    },
  };
}

/**
 * SIGTERM to the runner and what it started, so ctx.signal aborts. In the sandbox that is
 * the session bwrap made inside (bwrap outside would die at once and take the task along
 * without its grace period; bwrap's init inside ignores it).
 */
function terminate(pid: number, ref: string, sandboxed: boolean): void {
  if (!sandboxed) return signalGroup(pid, "SIGTERM");
  for (const inner of processesOf(ref)) {
    if (isSandboxProcess(inner)) continue;
    const group = processGroupOf(inner);
    if (group !== undefined) signalGroup(group, "SIGTERM");
  }
}

/** The process group of a process, from /proc/<pid>/stat (its fifth field). */
function processGroupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (second field) may hold spaces: count from its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const group = Number(fields[2]);
    return Number.isInteger(group) && group > 0 ? group : undefined;
  } catch {
    return undefined;
  }
}

const SIGNALS: Record<number, string> = { 1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM" };

/** The signal an exit code 128 + n stands for (a shell's, an init's), or undefined. */
export function signalOfExit(code: number): string | undefined {
  return code > 128 ? SIGNALS[code - 128] : undefined;
}

/**
 * The runner's report. The task can write its folder, so the file is read without following
 * a link it planted, without waiting on a fifo it made (that would block the server), and
 * only if it is a plain file.
 */
function readResult(file: string): TaskRunnerResult | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buffer = Buffer.alloc(64 * 1024);
    const size = readSync(fd, buffer, 0, buffer.length, 0);
    const result = JSON.parse(buffer.subarray(0, size).toString("utf8")) as TaskRunnerResult;
    return typeof result?.error === "string" ? result : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** A result folder no process names is removed only once older than this (its runner may be about to start). */
const LEFT_OVER_AFTER_MS = 60 * 60 * 1000;

/**
 * Removes the result folders of attempts no process runs any more: what a server killed with
 * -9 (or a process that exited without stopping its engine) left in the temp folder. Several
 * servers may share it, so a folder stays while any process's command line names its runner.
 */
export async function sweepResultFolders(root = tmpdir()): Promise<number> {
  const prefix = "gantry-attempt-";
  const folders = (await readdir(root)).filter((name) => name.startsWith(prefix));
  if (folders.length === 0) return 0;
  const running = new Set<string>();
  for (const { commandLine } of commandLines()) {
    for (const match of commandLine.matchAll(/gantry-result-(run-[\w-]+)\.json/g)) running.add(match[1]!);
  }
  let removed = 0;
  for (const name of folders) {
    if (running.has(name.slice(prefix.length))) continue;
    const path = join(root, name);
    try {
      if (Date.now() - (await stat(path)).mtimeMs < LEFT_OVER_AFTER_MS) continue;
      await rm(path, { recursive: true, force: true });
      removed++;
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

/** Every process's command line (what /proc lets this user read; none off Linux). */
function* commandLines(): Generator<{ pid: number; commandLine: string }> {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      yield { pid: Number(entry), commandLine: readFileSync(`/proc/${entry}/cmdline`, "utf8") };
    } catch {
      // gone meanwhile
    }
  }
}

/** Processes whose command line carries the reference: the runner, and bwrap around it. */
function processesOf(ref: string): number[] {
  const marker = `gantry-result-${ref}.json`;
  return [...commandLines()].filter(({ commandLine }) => commandLine.includes(marker)).map(({ pid }) => pid);
}

/** bwrap, as opposed to the runner it starts. */
function isSandboxProcess(pid: number): boolean {
  try {
    const name = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    return name === "bwrap";
  } catch {
    return true;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Bundles recently handed to warm runners (a bundle's file never changes: its name is its hash). */
const bundleCodes = new Map<string, string>();
const BUNDLES_KEPT = 32;

function bundleCode(path: string): string {
  let code = bundleCodes.get(path);
  if (code === undefined) {
    code = readFileSync(path, "utf8");
    if (bundleCodes.size >= BUNDLES_KEPT) bundleCodes.delete(bundleCodes.keys().next().value!);
  } else bundleCodes.delete(path);
  bundleCodes.set(path, code);
  return code;
}

/**
 * Writes each line of a byte stream, timestamped, to the log, until its end or the runner's
 * end marker (whose exit code it resolves with; what follows is read and dropped); an
 * over-long line is cut where no secret is split.
 */
function pump(stream: ReadableStream<Uint8Array>, name: LogStream, log: LogWriter, endKey: string | undefined): Promise<number | undefined> {
  const lines = createLineSplitter(
    (line) => log.line(name, line),
    (text) => log.cutPoint?.(text) ?? text.length,
  );
  const scanner = endKey ? createEndScanner(endKey) : undefined;
  return new Promise((resolve) => {
    let code: number | undefined;
    void (async () => {
      try {
        for await (const chunk of stream) {
          if (code !== undefined) continue;
          const found = scanner ? scanner.push(chunk) : { output: chunk };
          lines.push(found.output);
          if (found.code === undefined) continue;
          code = found.code;
          lines.end();
          resolve(code);
        }
      } catch {
        // the pipe broke: what came is logged
      } finally {
        if (code === undefined) {
          if (scanner) lines.push(scanner.flush());
          lines.end();
          resolve(undefined);
        }
      }
    })();
  });
}
