// Executes run() tasks, each in its own Bun process and process group, capturing stdout
// and stderr line by line into the task's log. An attempt's reference is a marker in the
// runner's command line, so a restarted server can find a runner that outlived it and
// stop it: its output pipes died with the old server, so it cannot be followed.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AttachResult, Executor, TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import type { LogStream, LogWriter } from "../../stores/logs.ts";
import type { TaskRunnerResult } from "../task-runner/main.ts";
import { GO, taskRunnerCommand } from "../task-runner/command.ts";
import { createLineSplitter } from "./line-splitter.ts";

/** Variables of the server's own environment that tasks may see; nothing else leaks. */
const INHERITED_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"];

/** Why a run() attempt cut off by a restart failed. */
export const SERVER_RESTARTED_REASON = "the server restarted during this attempt";

/** Where the runner reports a thrown error; outside the workspace so tasks cannot fake it. Its name carries the reference. */
const resultFileOf = (ref: string) => join(tmpdir(), `gantry-result-${ref}.json`);

export function createBunProcessExecutor(): Executor {
  return {
    kind: "run",
    reference: () => `run-${crypto.randomUUID()}`,
    start(launch: TaskLaunch): TaskHandle {
      const resultFile = resultFileOf(launch.ref);
      const env: Record<string, string> = {};
      for (const name of INHERITED_ENV) {
        const value = process.env[name];
        if (value !== undefined) env[name] = value;
      }
      Object.assign(env, launch.env);
      const argv = [
        ...taskRunnerCommand(),
        ...(launch.gate ? ["--gated"] : []),
        launch.bundlePath,
        launch.task.id,
        String(launch.attempt),
        resultFile,
        ...(launch.task.workdir ? [launch.task.workdir] : []),
      ];
      let child: Bun.Subprocess<"pipe", "pipe", "pipe">;
      try {
        child = Bun.spawn(argv, {
          cwd: launch.workspace,
          env,
          // A gated runner boots and imports the bundle while the claim commits, then waits for "go".
          stdin: "pipe",
          stdout: "pipe",
          stderr: "pipe",
          // Own process group: cancel signals reach everything the task started.
          detached: true,
        });
      } catch (error) {
        return {
          exited: Promise.resolve({ exitCode: null, reason: `could not start the task process: ${(error as Error).message}` }),
          stop() {},
          detach() {},
        };
      }
      const pid = child.pid;
      const gate = launch.gate ?? Promise.resolve(true);
      const open = (go: boolean) => {
        if (!go) signalGroup(pid, "SIGKILL");
        try {
          if (go) child.stdin.write(`${GO}\n`);
          child.stdin.end();
        } catch {
          // the runner has ended already (its bundle did not import): its exit says why
        }
      };
      void gate.then(open, () => open(false));
      const pumps = Promise.all([pump(child.stdout, "out", launch.log), pump(child.stderr, "err", launch.log)]);
      let killTimer: ReturnType<typeof setTimeout> | undefined;

      const exited = (async (): Promise<TaskExit> => {
        const code = await child.exited;
        clearTimeout(killTimer);
        // Whatever the task left running in its group goes too, before draining the pipes:
        // a leftover process holding stdout/stderr would otherwise keep the task "running".
        signalGroup(pid, "SIGKILL");
        await pumps;
        let thrown: string | undefined;
        try {
          thrown = (JSON.parse(readFileSync(resultFile, "utf8")) as TaskRunnerResult).error;
        } catch {
          thrown = undefined;
        }
        rmSync(resultFile, { force: true });
        if (code === 0) return { exitCode: 0 };
        if (thrown !== undefined) return { exitCode: code, reason: `threw: ${thrown}` };
        if (child.signalCode) return { exitCode: null, reason: `killed by ${child.signalCode}` };
        return { exitCode: code, reason: `exited with code ${code}` };
      })();

      const stop = (graceMs: number) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        signalGroup(pid, "SIGTERM");
        clearTimeout(killTimer);
        killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
      };
      // Its output pipes end with the server: it cannot be followed again, so it stops.
      return { exited, stop, detach: stop };
    },
    async attach({ launch }): Promise<AttachResult> {
      // A runner left by the old server stops itself within a second (it watches its
      // parent); one still there is stopped now. Either way its output is lost.
      for (const pid of runnersOf(launch.ref)) signalGroup(pid, "SIGKILL");
      rmSync(resultFileOf(launch.ref), { force: true });
      return { status: "lost", reason: SERVER_RESTARTED_REASON };
    },
    async stop(ref, graceMs) {
      const pids = runnersOf(ref);
      for (const pid of pids) signalGroup(pid, "SIGTERM");
      if (pids.length > 0) setTimeout(() => pids.forEach((pid) => signalGroup(pid, "SIGKILL")), graceMs).unref();
    },
    async cleanup(ref) {
      rmSync(resultFileOf(ref), { force: true });
    },
  };
}

/** Task runner processes (group leaders) whose command line carries the reference. */
function runnersOf(ref: string): number[] {
  const marker = `gantry-result-${ref}.json`;
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(marker)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Writes each line of a byte stream, timestamped, to the log. */
async function pump(stream: ReadableStream<Uint8Array>, name: LogStream, log: LogWriter): Promise<void> {
  const lines = createLineSplitter((line) => log.line(name, line));
  for await (const chunk of stream) lines.push(chunk);
  lines.end();
}
