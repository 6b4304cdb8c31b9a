// Executes run() tasks, each in its own Bun process and process group, capturing stdout
// and stderr line by line into the task's log.
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Executor, TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import type { LogStream, LogWriter } from "../../stores/logs.ts";
import type { TaskRunnerResult } from "../task-runner/main.ts";
import { taskRunnerCommand } from "../task-runner/command.ts";
import { createLineSplitter } from "./line-splitter.ts";

/** Variables of the server's own environment that tasks may see; nothing else leaks. */
const INHERITED_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"];

export function createBunProcessExecutor(): Executor {
  return {
    kind: "run",
    start(launch: TaskLaunch): TaskHandle {
      // Where the runner reports a thrown error; outside the workspace so tasks cannot fake it.
      const resultFile = join(tmpdir(), `gantry-result-${crypto.randomUUID()}.json`);
      const env: Record<string, string> = {};
      for (const name of INHERITED_ENV) {
        const value = process.env[name];
        if (value !== undefined) env[name] = value;
      }
      Object.assign(env, launch.env);
      const argv = [
        ...taskRunnerCommand(),
        launch.bundlePath,
        launch.task.id,
        String(launch.attempt),
        resultFile,
        ...(launch.task.workdir ? [launch.task.workdir] : []),
      ];
      let child: Bun.Subprocess<"ignore", "pipe", "pipe">;
      try {
        child = Bun.spawn(argv, {
          cwd: launch.workspace,
          env,
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
          // Own process group: cancel signals reach everything the task started.
          detached: true,
        });
      } catch (error) {
        return {
          exited: Promise.resolve({ exitCode: null, reason: `could not start the task process: ${(error as Error).message}` }),
          stop() {},
        };
      }
      const pid = child.pid;
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

      return {
        pid,
        exited,
        stop(graceMs) {
          if (child.exitCode !== null || child.signalCode !== null) return;
          signalGroup(pid, "SIGTERM");
          clearTimeout(killTimer);
          killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
        },
      };
    },
  };
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
