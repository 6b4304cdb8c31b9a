// Warm run() task runners: sandboxed Bun processes that have booted and loaded the SDK and
// wait on stdin for their task, so a task does not wait for a process, a sandbox and the
// runner's imports (~12 ms of a ~16 ms start on a 2-core machine). A sandbox's binds are
// fixed when it starts, so the pool keeps two kinds:
//  - spare runners, each with an empty folder of its own bound at /workspace: a run that
//    starts takes one and renames the folder into place as its workspace (a bind follows the
//    folder, not its path), and the run's first run() task gets that runner (finding them all
//    still booting, it waits a moment for one rather than boot another beside them);
//  - a later run() task of the run, when no other task of it uses the workspace (the tasks
//    before it have ended), also takes a spare: the workspace's entries move into the
//    spare's folder, which then takes the workspace's path (handOver);
//  - runners booted ahead for a run's later run() tasks, bound to its workspace, only when
//    the spares cannot cover them (tasks that run side by side share the workspace, so they
//    cannot take a spare's folder); killed when the run ends.
// Spares are booted again once runs stop taking them for a moment: a sandbox booting beside
// a run's tasks takes the CPU they wait for (a 3-step chain took 56 ms with an immediate
// refill, 32 ms with this; bench/README.md).
// The task comes as one line on stdin with its bundle's code (task-runner/main.ts, runRunner).
// Folders are few: every create, chmod and remove here joins the file system's journal,
// which the database's next fsync waits for.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { processAlive } from "../process-alive.ts";
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
   * `runTasks - 1` more. With no spare ready but one booting (and not awaited by another
   * run), waits for it a moment, while `slotFree` says the run could start its task. False
   * when none came: the caller makes the folder.
   */
  adoptWorkspace(workspace: string, runTasks: number, slotFree?: () => boolean): Promise<boolean>;
  /**
   * A warm runner for a task of the run whose workspace this is, if there is one; a task of
   * its run starts either way (one fewer to boot ahead). `alone`: no other task of the run
   * uses the workspace now, so a spare may take it over (handOver).
   */
  take(workspace: string, alone: boolean): WarmRunner | undefined;
  /** The run ended: its runners booted ahead (and never used) are killed. */
  releaseWorkspace(workspace: string): void;
  /** Starts filling the pool, after removing what an earlier process left in its folder. */
  warm(): void;
  /** Kills every waiting runner; nothing is booted again. */
  close(): void;
  /** Kills a runner taken from the pool and not used, and removes its folders once it has ended. */
  discard(runner: WarmRunner): void;
  /**
   * Spares ready now; how many it keeps (0 once stopped: closed, or after runners kept
   * failing); and the new runs so far that found no spare for their first task, even after
   * waiting for one booting.
   */
  state(): { ready: number; size: number; misses: number };
}

/**
 * The runner's process has not ended (nor been killed): as the event loop heard it, and as
 * the kernel sees it, so a spare killed a moment ago (by the OOM killer, say) is not handed
 * to a task, which would fail with it.
 */
export const isAlive = (runner: WarmRunner) => runner.child.exitCode === null && runner.child.signalCode === null && processAlive(runner.child.pid);

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
/** Spares are booted again once no run has taken one for this long, or at once when none is ready. */
const REFILL_QUIET_MS = 30;
/** Beside a spare's folder while it takes over a workspace: the workspace's path, until the hand-over is done. */
const HANDOVER_JOURNAL = ".handover";
/**
 * How long a new run waits at most for a spare still booting. It is usually ready in well
 * under this (a boot takes ~10–20 ms), and sooner than a runner the task would boot for itself,
 * which would also take the CPU from the spares booting beside it.
 */
const SPARE_WAIT_MS = 100;
/** A workspace with more entries at its top than this is not handed over: the renames are synchronous. */
const HANDOVER_MAX_ENTRIES = 10_000;

interface Kept {
  runners: WarmRunner[];
  /** Runners being started for it. */
  booting: number;
  /** run() tasks of the run that have not started yet. */
  remaining: number;
  /** Hand-overs so far: a runner booted for an earlier folder of the workspace is of no use. */
  folder: number;
}

export function createRunnerPool(options: RunnerPoolOptions): RunnerPool {
  const { sandbox, dir, size } = options;
  const spares: WarmRunner[] = [];
  const byWorkspace = new Map<string, Kept>();
  let booting = 0;
  let ahead = 0;
  let misses = 0;
  let failures = 0;
  let closed = size <= 0 || sandbox.status.state !== "on";
  let refillTimer: ReturnType<typeof setTimeout> | undefined;
  let filling = false;
  /** A spare whose sandbox is set up (until it is, moving its folder would fail its bind). */
  const isReadySpare = (each: WarmRunner) => each.ready && isAlive(each);
  const readySpare = () => spares.find(isReadySpare);
  /** Runs waiting for a spare to get ready: one is woken for each spare that does (or fails to). */
  const waiters: (() => void)[] = [];
  const wakeOne = () => waiters.shift()?.();
  /** Spares spawned that have not said whether they are ready. */
  const pendingReady = new Set<WarmRunner>();
  /** Waits until a spare got ready (or failed to), the pool closed, or `ms` passed. */
  const spareSettled = (ms: number) =>
    new Promise<void>((resolve) => {
      const woken = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const index = waiters.indexOf(woken);
        if (index !== -1) waiters.splice(index, 1);
        resolve();
      }, ms);
      waiters.push(woken);
    });
  /** Off after a hand-over failed (it should not): later tasks boot ahead or start their own. */
  let handOvers = true;
  const user = sandbox.status.state === "on" ? sandbox.status.user : undefined;

  /** A spare's unused workspace folder (gone once a run took it), and its result folder. */
  const removeFolders = (runner: WarmRunner) =>
    Promise.all([rm(join(dir, runner.ref), { recursive: true, force: true }), rm(resultDirOf(runner.ref), { recursive: true, force: true })]).catch(() => undefined);
  /** The folders above the spares' workspaces, passable by the sandbox's user: set once. */
  let passable = false;
  const discard = (runner: WarmRunner) => {
    signalGroup(runner, "SIGKILL");
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
      const command = sandbox.wrap([...taskRunnerCommand(), POOLED, resultFileOf(ref)], {
        cwd: "/",
        readOnly: [],
        writable: [resultDir],
        binds: [{ source: slot, target: SANDBOX_WORKSPACE, writable: true }],
      });
      const child = Bun.spawn({ ...command, cwd: "/", env: runnerBaseEnv(true), stdin: "pipe", stdout: "pipe", stderr: "pipe", detached: true });
      // A waiting runner does not keep the server's process alive (a task that takes it does: bun-process.ts).
      child.unref();
      const output = afterReadyLine(child.stdout);
      const runner: WarmRunner = { ref, child, stdout: output.rest, ready: false };
      if (!workspace) pendingReady.add(runner);
      void output.ready.then((ready) => {
        runner.ready = ready;
        if (workspace) return;
        pendingReady.delete(runner);
        // One that ended its output without saying so, or said something else, never will: it goes (watchSpare drops it).
        if (!ready) signalGroup(runner, "SIGKILL");
        wakeOne();
      });
      return runner;
    } catch (error) {
      if (!workspace) await rm(slot, { recursive: true, force: true });
      await rm(resultDir, { recursive: true, force: true });
      // A pool closing meanwhile (the server stopping) may have taken its folders: nothing to report.
      if (!closed) console.error(`run() runner pool: could not start a warm runner: ${(error as Error).message}`);
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

  /** Boots spares again: at once when none is ready, else once runs stop taking them for REFILL_QUIET_MS. */
  function refill(): void {
    if (closed) return;
    clearTimeout(refillTimer);
    refillTimer = setTimeout(fill, spares.some((each) => each.ready) ? REFILL_QUIET_MS : 0);
  }

  async function fill(): Promise<void> {
    refillTimer = undefined;
    if (filling) return;
    filling = true;
    try {
      while (!closed && spares.length + booting < size) {
        booting++;
        const runner = await boot().finally(() => booting--);
        if (!runner) {
          // A run waiting for this one would wait in vain.
          wakeOne();
          return;
        }
        if (closed) {
          discard(runner);
          return;
        }
        spares.push(runner);
        watchSpare(runner);
      }
    } finally {
      filling = false;
    }
  }

  /** A ready spare that has taken over the workspace (its entries, then its path), or undefined. */
  function handOverSpare(workspace: string): WarmRunner | undefined {
    if (!handOvers || closed) return undefined;
    const spare = readySpare();
    if (!spare) return undefined;
    const slot = join(dir, spare.ref);
    try {
      if (!handOver(slot, workspace)) return undefined;
    } catch (error) {
      spares.splice(spares.indexOf(spare), 1);
      // Its folder may hold the run's files still (then the journal is there): only its process goes.
      if (existsSync(`${slot}${HANDOVER_JOURNAL}`)) signalGroup(spare, "SIGKILL");
      else discard(spare);
      handOvers = false;
      console.error(`run() runner pool: a spare could not take over the workspace ${workspace}, so later tasks start runners of their own: ${(error as Error).message}`);
      return undefined;
    }
    spares.splice(spares.indexOf(spare), 1);
    failures = 0;
    refill();
    return spare;
  }

  /** Boots runners for the run's tasks to come, up to the limits. */
  function bootAhead(workspace: string, kept: Kept): void {
    // The spares ready now will likely take over the workspace for the tasks to come (a chain's).
    if (handOvers && spares.filter((each) => each.ready).length >= kept.remaining) return;
    let wanted = Math.min(kept.remaining, AHEAD_PER_RUN) - kept.runners.length - kept.booting;
    while (!closed && wanted-- > 0 && ahead < AHEAD_IN_ALL) {
      ahead++;
      kept.booting++;
      const folder = kept.folder;
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
        if (closed || byWorkspace.get(workspace) !== kept || kept.folder !== folder) {
          discard(runner);
          return;
        }
        kept.runners.push(runner);
      });
    }
  }

  return {
    async adoptWorkspace(workspace, runTasks, slotFree = () => true) {
      if (closed || runTasks <= 0 || existsSync(workspace)) return false;
      let spare = readySpare();
      if (!spare) refill();
      const deadline = performance.now() + SPARE_WAIT_MS;
      // A spare coming for each run waiting; another run (or a later task's hand-over) may take the one that woke it.
      while (!spare) {
        const left = deadline - performance.now();
        if (left <= 0 || booting + pendingReady.size <= waiters.length) {
          misses++;
          return false;
        }
        await spareSettled(left);
        if (closed || !slotFree() || existsSync(workspace)) return false;
        spare = readySpare();
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
      const kept: Kept = { runners: [spare], booting: 0, remaining: runTasks, folder: 0 };
      byWorkspace.set(workspace, kept);
      refill();
      bootAhead(workspace, kept);
      return true;
    },
    take(workspace, alone) {
      const kept = byWorkspace.get(workspace);
      if (kept) kept.remaining = Math.max(0, kept.remaining - 1);
      // The run's own if ready (its first task's spare, or one booted ahead), else a spare
      // taking over the workspace, else one of its own still booting.
      let runner = kept?.runners.find((each) => each.ready && isAlive(each));
      if (!runner && alone) {
        runner = handOverSpare(workspace);
        // Those booting for the run are bound to the folder the workspace had: of no use now.
        if (runner && kept) {
          kept.folder++;
          kept.runners.splice(0).forEach(discard);
        }
      }
      runner ??= kept?.runners.find(isAlive);
      if (kept) {
        const index = runner ? kept.runners.indexOf(runner) : -1;
        if (index !== -1) kept.runners.splice(index, 1);
        bootAhead(workspace, kept);
      }
      return runner;
    },
    state: () => ({ ready: spares.filter(isReadySpare).length, size: closed ? 0 : size, misses }),
    releaseWorkspace(workspace) {
      const kept = byWorkspace.get(workspace);
      if (!kept) return;
      byWorkspace.delete(workspace);
      kept.runners.forEach(discard);
    },
    warm() {
      // What a killed server of this node left (the folder is this node's alone; its engine
      // holds the node now). A spare's folder is empty: one that is not holds a run's files
      // from a hand-over repairHandOvers could not finish, and stays, as does its journal.
      for (const name of existsSync(dir) ? readdirSync(dir) : []) {
        const path = join(dir, name);
        if (name.endsWith(HANDOVER_JOURNAL) || existsSync(`${path}${HANDOVER_JOURNAL}`)) continue;
        try {
          if (statSync(path).isDirectory()) rmdirSync(path);
          else rmSync(path, { force: true });
        } catch (error) {
          console.error(`run() runner pool: left ${path} as it is: ${(error as Error).message}`);
        }
      }
      passable = false;
      refill();
    },
    close() {
      closed = true;
      clearTimeout(refillTimer);
      waiters.splice(0).forEach((wake) => wake());
      // Taken runners belong to their tasks, which the engine stops itself; those booting see `closed`.
      // Their folders go now, not once they have ended: the server may be gone by then, and
      // each left its result folder in /tmp (a spare's own folder goes with the pool's at start).
      for (const runner of [...spares, ...[...byWorkspace.values()].flatMap((kept) => kept.runners)]) {
        signalGroup(runner, "SIGKILL");
        rmSync(resultDirOf(runner.ref), { recursive: true, force: true });
      }
      spares.length = 0;
      byWorkspace.clear();
    },
    discard,
  };
}

/** Signals the runner's process group (its sandbox and all in it). */
function signalGroup(runner: WarmRunner, signal: NodeJS.Signals): void {
  try {
    process.kill(-runner.child.pid, signal);
  } catch {
    // gone already
  }
}

/**
 * Gives `workspace` to the spare whose folder is `slot`: the workspace's entries move into the
 * folder, which takes the workspace's mode and owner, then its path (the spare's sandbox
 * binds the folder, not its path). Renames only, on one file system: no byte is copied. The
 * caller makes sure nothing else uses the workspace meanwhile. A journal beside the folder
 * names the workspace until the last rename: a server killed midway finishes or undoes it as
 * it starts (repairHandOvers), so the run's files are never left split in two. False, with
 * nothing done, when the workspace cannot be read or has more than HANDOVER_MAX_ENTRIES entries.
 */
export function handOver(slot: string, workspace: string): boolean {
  let names: string[];
  try {
    names = readdirSync(workspace);
  } catch {
    return false;
  }
  if (names.length > HANDOVER_MAX_ENTRIES) return false;
  const journal = `${slot}${HANDOVER_JOURNAL}`;
  const before = statSync(workspace);
  writeFileSync(journal, workspace);
  try {
    for (const name of names) renameSync(join(workspace, name), join(slot, name));
    const now = statSync(slot);
    if ((now.mode & 0o7777) !== (before.mode & 0o7777)) chmodSync(slot, before.mode & 0o7777);
    if (now.uid !== before.uid || now.gid !== before.gid) chownSync(slot, before.uid, before.gid);
    rmdirSync(workspace);
    renameSync(slot, workspace);
  } catch (error) {
    // Should putting back fail too, the journal stays for the next start to finish it.
    putBack(slot, workspace);
    rmSync(journal, { force: true });
    throw error;
  }
  rmSync(journal, { force: true });
  return true;
}

/** Ends a hand-over cut off midway: the entries go back to the workspace (or the folder, holding them all, takes its path). */
function putBack(slot: string, workspace: string): void {
  if (!existsSync(slot)) return;
  if (!existsSync(workspace)) {
    mkdirSync(dirname(workspace), { recursive: true });
    renameSync(slot, workspace);
    return;
  }
  for (const name of readdirSync(slot)) renameSync(join(slot, name), join(workspace, name));
  rmdirSync(slot);
}

/**
 * Finishes the hand-overs a killed server left in the pool's folder (their journals), before
 * its runs are taken back and the folder is cleared: each workspace is whole again. Returns
 * the workspaces repaired.
 */
export function repairHandOvers(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const repaired: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(HANDOVER_JOURNAL)) continue;
    const journal = join(dir, name);
    let workspace = "";
    try {
      workspace = readFileSync(journal, "utf8");
      // The journal is written before the first rename: a blank one means none happened.
      if (workspace) putBack(join(dir, name.slice(0, -HANDOVER_JOURNAL.length)), workspace);
      repaired.push(workspace);
    } catch (error) {
      console.error(`run() runner pool: could not put back the entries of workspace ${workspace} (they are in ${join(dir, name.slice(0, -HANDOVER_JOURNAL.length))}): ${(error as Error).message}`);
      continue;
    }
    rmSync(journal, { force: true });
  }
  return repaired;
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
