// Warm run() task runners: sandboxed Bun processes that have booted and loaded the SDK and
// wait on stdin for their task, so a task does not wait for a process, a sandbox and the
// runner's imports (~12 ms of a ~16 ms start on a 2-core machine). A sandbox's binds are
// fixed when it starts, so the pool keeps two kinds:
//  - spare runners, each with an empty folder of its own bound at /workspace: a run that
//    starts takes one and renames the folder into place as its workspace (a bind follows the
//    folder, not its path), and the run's first run() task gets that runner;
//  - runners booted ahead for a run's later run() tasks, bound to its workspace (a few per
//    run, booting while earlier tasks run; killed when the run ends).
// The task comes as one line on stdin with its bundle's code (task-runner/main.ts, runRunner).
// Folders are few: every create, chmod and remove here joins the file system's journal,
// which the database's next fsync waits for.
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { POOL_READY, POOLED } from "../task-runner/command.ts";
import { taskRunnerCommand } from "../task-runner/runner-command.ts";
import { resultDirOf, resultFileOf, runnerBaseEnv, SANDBOX_WORKSPACE } from "./runner-launch.ts";
import type { RunSandbox } from "./run-sandbox.ts";

export interface WarmRunner {
  /** Its reference: the marker in its command line that a restarted server finds it by. */
  readonly ref: string;
  readonly child: Bun.Subprocess<"pipe", "pipe", "pipe">;
  /** Its stdout after its ready line: the task's own output. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** It said it is ready: its sandbox is set up (a spare's folder may be moved), its imports done. */
  ready: boolean;
}

export interface RunnerPool {
  /**
   * Makes `workspace` (which must not exist yet) from a spare runner's folder, and keeps
   * that runner for the run's first run() task; then boots runners ahead for up to
   * `runTasks - 1` more. False when no spare was ready: the caller makes the folder.
   */
  adoptWorkspace(workspace: string, runTasks: number): boolean;
  /** A warm runner bound to this workspace, if one is ready for it; a task of its run starts either way (one fewer to boot ahead). */
  take(workspace: string): WarmRunner | undefined;
  /** The run ended: its runners booted ahead (and never used) are killed. */
  releaseWorkspace(workspace: string): void;
  /** Starts filling the pool, after removing what an earlier process left in its folder. */
  warm(): void;
  /** Kills every waiting runner; nothing is booted again. */
  close(): void;
  /** Kills a runner taken from the pool and not used, and removes its folders once it has ended. */
  discard(runner: WarmRunner): void;
}

/** The runner's process has not ended (nor been killed). */
export const isAlive = (runner: WarmRunner) => runner.child.exitCode === null && runner.child.signalCode === null;

export interface RunnerPoolOptions {
  sandbox: RunSandbox;
  /** Where the runners' own folders go (this node's alone): on the workspaces' file system, so a rename can move a spare's folder into place. */
  dir: string;
  /** How many spare runners wait for new runs (0: none). */
  size: number;
}

/** Runners booted ahead per run (one: on 2 cores a second one booting slows the task before it more than it saves), and in all; each waiting runner holds ~30 MB. */
const AHEAD_PER_RUN = 1;
const AHEAD_IN_ALL = 16;
/** Spares that end on their own this many times in a row: the pool stops, saying why. */
const FAILURES_TO_STOP = 3;

interface Kept {
  runners: WarmRunner[];
  /** Runners being started for it. */
  booting: number;
  /** run() tasks of the run that have not started yet. */
  remaining: number;
}

export function createRunnerPool(options: RunnerPoolOptions): RunnerPool {
  const { sandbox, dir, size } = options;
  const spares: WarmRunner[] = [];
  const byWorkspace = new Map<string, Kept>();
  let booting = 0;
  let ahead = 0;
  let failures = 0;
  let closed = size <= 0 || sandbox.status.state !== "on";
  let refillQueued = false;
  const user = sandbox.status.state === "on" ? sandbox.status.user : undefined;

  /** A spare's unused workspace folder (gone once a run took it), and its result folder. */
  const removeFolders = (runner: WarmRunner) =>
    Promise.all([rm(join(dir, runner.ref), { recursive: true, force: true }), rm(resultDirOf(runner.ref), { recursive: true, force: true })]).catch(() => undefined);
  /** The folders above the spares' workspaces, passable by the sandbox's user: set once. */
  let passable = false;
  const discard = (runner: WarmRunner) => {
    try {
      process.kill(-runner.child.pid, "SIGKILL");
    } catch {
      // gone already
    }
    void runner.child.exited.then(() => removeFolders(runner));
  };

  /** Starts a runner: a spare with its own empty workspace folder, or one bound to a run's workspace. */
  async function boot(workspace?: string): Promise<WarmRunner | undefined> {
    const ref = `run-${crypto.randomUUID()}`;
    const resultDir = resultDirOf(ref);
    const slot = workspace ?? join(dir, ref);
    try {
      // Off the event loop (fs/promises): behind the database's fsyncs these can wait on the journal.
      if (!workspace) {
        if (!passable) {
          await mkdir(dir, { recursive: true });
          // bwrap, as the sandbox's user, passes through them to bind a spare's folder.
          for (const folder of [dirname(dir), dir]) await chmod(folder, 0o711);
          passable = true;
        }
        await mkdir(slot);
        await sandbox.own(slot, slot);
      }
      await mkdir(resultDir, { mode: 0o700 });
      if (user) await chown(resultDir, user.uid, user.gid);
      const argv = sandbox.wrap([...taskRunnerCommand(), POOLED, resultFileOf(ref)], {
        cwd: "/",
        readOnly: [],
        writable: [resultDir],
        binds: [{ source: slot, target: SANDBOX_WORKSPACE, writable: true }],
      });
      const child = Bun.spawn(argv, { cwd: "/", env: runnerBaseEnv(true), stdin: "pipe", stdout: "pipe", stderr: "pipe", detached: true });
      // A waiting runner does not keep the server's process alive (a task that takes it does: bun-process.ts).
      child.unref();
      const output = afterReadyLine(child.stdout);
      const runner: WarmRunner = { ref, child, stdout: output.rest, ready: false };
      void output.ready.then((ready) => (runner.ready = ready));
      return runner;
    } catch (error) {
      if (!workspace) await rm(slot, { recursive: true, force: true });
      await rm(resultDir, { recursive: true, force: true });
      console.error(`run() runner pool: could not start a warm runner: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** A spare that ends while it waits (it should not) is dropped; several in a row stop the pool. */
  function watchSpare(runner: WarmRunner): void {
    void runner.child.exited.then(async (code) => {
      const index = spares.indexOf(runner);
      if (index === -1) return;
      spares.splice(index, 1);
      const stderr = (await new Response(runner.child.stderr).text().catch(() => "")).trim();
      removeFolders(runner);
      if (closed) return;
      if (++failures >= FAILURES_TO_STOP) {
        closed = true;
        console.error(`run() runner pool: stopped after ${failures} warm runners ended on their own (the last with exit code ${code}${stderr ? `: ${stderr.slice(0, 500)}` : ""}); tasks start their own runners`);
        return;
      }
      refill();
    });
  }

  function refill(): void {
    if (closed || refillQueued) return;
    refillQueued = true;
    // After what started this: a task's own start goes first.
    setTimeout(async () => {
      refillQueued = false;
      while (!closed && spares.length + booting < size) {
        booting++;
        const runner = await boot().finally(() => booting--);
        if (!runner) return;
        if (closed) {
          discard(runner);
          return;
        }
        spares.push(runner);
        watchSpare(runner);
      }
    }, 0);
  }

  /** Boots runners for the run's tasks to come, up to the limits. */
  function bootAhead(workspace: string, kept: Kept): void {
    let wanted = Math.min(kept.remaining, AHEAD_PER_RUN) - kept.runners.length - kept.booting;
    while (!closed && wanted-- > 0 && ahead < AHEAD_IN_ALL) {
      ahead++;
      kept.booting++;
      // At once: it boots while the task before it starts and runs (deferring it cost a 3-step chain ~2 ms).
      void boot(workspace).then((runner) => {
        kept.booting--;
        if (!runner) {
          ahead--;
          return;
        }
        void runner.child.exited.then(() => {
          ahead--;
          const index = kept.runners.indexOf(runner);
          if (index !== -1) kept.runners.splice(index, 1);
        });
        if (closed || byWorkspace.get(workspace) !== kept) {
          discard(runner);
          return;
        }
        kept.runners.push(runner);
      });
    }
  }

  return {
    adoptWorkspace(workspace, runTasks) {
      if (closed || runTasks <= 0 || existsSync(workspace)) return false;
      // Only a ready one: until its sandbox is set up, moving its folder would fail its bind.
      const spare = spares.find((each) => each.ready && isAlive(each));
      if (!spare) {
        refill();
        return false;
      }
      spares.splice(spares.indexOf(spare), 1);
      try {
        mkdirSync(dirname(workspace), { recursive: true });
        renameSync(join(dir, spare.ref), workspace);
      } catch (error) {
        // Another file system (EXDEV) or a race: this spare cannot be the run's; the pool stops trying.
        discard(spare);
        closed = true;
        console.error(`run() runner pool: stopped: cannot move a warm runner's folder to ${workspace}: ${(error as Error).message}`);
        return false;
      }
      failures = 0;
      const kept: Kept = { runners: [spare], booting: 0, remaining: runTasks };
      byWorkspace.set(workspace, kept);
      refill();
      bootAhead(workspace, kept);
      return true;
    },
    take(workspace) {
      const kept = byWorkspace.get(workspace);
      if (!kept) return undefined;
      kept.remaining = Math.max(0, kept.remaining - 1);
      const runner = kept.runners.find(isAlive);
      if (runner) kept.runners.splice(kept.runners.indexOf(runner), 1);
      bootAhead(workspace, kept);
      return runner;
    },
    releaseWorkspace(workspace) {
      const kept = byWorkspace.get(workspace);
      if (!kept) return;
      byWorkspace.delete(workspace);
      kept.runners.forEach(discard);
    },
    warm() {
      // What a killed server of this node left (the folder is this node's alone; its engine holds the node now).
      rmSync(dir, { recursive: true, force: true });
      passable = false;
      refill();
    },
    close() {
      closed = true;
      // Taken runners belong to their tasks, which the engine stops itself; those booting see `closed`.
      for (const runner of [...spares, ...[...byWorkspace.values()].flatMap((kept) => kept.runners)]) discard(runner);
      spares.length = 0;
      byWorkspace.clear();
    },
    discard,
  };
}

/**
 * A runner's stdout split at its first line (POOL_READY): `ready` says whether the line came
 * before the end; `rest` is everything after it (or, if it never came, all it wrote).
 */
function afterReadyLine(stream: ReadableStream<Uint8Array>): { ready: Promise<boolean>; rest: ReadableStream<Uint8Array> } {
  const reader = stream.getReader();
  let pending: Uint8Array | undefined;
  const ready = (async () => {
    let seen = new Uint8Array(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        pending = seen;
        return false;
      }
      const joined = new Uint8Array(seen.length + value.length);
      joined.set(seen);
      joined.set(value, seen.length);
      seen = joined;
      const end = seen.indexOf(10);
      if (end !== -1) {
        // Anything else first (it should not happen) is kept as output, and the runner is not ready.
        const said = new TextDecoder().decode(seen.subarray(0, end));
        if (said !== POOL_READY) {
          pending = seen;
          return false;
        }
        pending = seen.subarray(end + 1);
        return true;
      }
    }
  })().catch(() => false);
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await ready;
      if (pending && pending.length > 0) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { ready, rest };
}
