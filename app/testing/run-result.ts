// What a test run returns: the run's outcome, each task's state, attempts, log and output,
// the order tasks started in, and the run drawn as text (its DAG with states) for failure
// messages that show what happened.
import type { RunEnd } from "../domain/run-plan.ts";
import { STATE_SYMBOL, type TaskState } from "../domain/states.ts";
import type { TaskSpec } from "../domain/pipeline-spec.ts";
import type { CacheResult } from "../domain/task-files.ts";

export type LogStream = "out" | "err" | "gantry";

export interface TestLogLine {
  stream: LogStream;
  text: string;
  attempt: number;
}

export interface TestAttempt {
  attempt: number;
  state: "successful" | "failed" | "cancelled";
  exitCode: number | null;
  reason: string | null;
  /** Milliseconds from the run's start on its clock (virtual: mocks' delays and retry waits take no real time). */
  startedAt: number;
  endedAt: number;
  /** Whether a mock stood in for the task's code. */
  mocked: boolean;
}

export interface TestTask {
  id: string;
  kind: TaskSpec["kind"];
  state: TaskState;
  reason: string | null;
  exitCode: number | null;
  needs: TaskSpec["needs"];
  attempts: TestAttempt[];
  /** The task's log (stdout, stderr and Gantry's own lines, each attempt's), secrets masked. */
  log: string;
  /** Only what the task wrote to stdout / stderr. */
  stdout: string;
  stderr: string;
  lines: TestLogLine[];
  /** What a run() task's function returned (the last attempt's); undefined otherwise. */
  output: unknown;
  /** The names of the artifacts it stored (its `artifacts.out`, each path found in the workspace). */
  artifacts: string[];
  /** What became of its cache (its key filled in, hit or miss, saved), when it has one and ran. */
  cache: CacheResult | undefined;
  startedAt: number | null;
  endedAt: number | null;
}

export interface TestStart {
  task: string;
  attempt: number;
  at: number;
}

export interface TestRun {
  pipeline: string;
  state: RunEnd["state"];
  reason: string | null;
  /** The run's duration on its clock. */
  durationMs: number;
  tasks: TestTask[];
  /** Task ids in the order their first attempts started. */
  order: string[];
  /** Every attempt's start, in order. */
  starts: TestStart[];
  /** Every task's log, each line prefixed with its task: "build │ compiled". */
  log: string;
  /** The shared workspace the tasks used (removed after the run unless `keepWorkspace`). */
  workspace: string;
  /** A task by id; throws, listing the ids, for one the pipeline does not have. */
  task(id: string): TestTask;
  /** The run as text: each task with its state, reason and needs. */
  describe(): string;
}


/** "✗ test  failed  exited with code 1  (needs build: success)", one line per task under the run's outcome. */
export function describeRun(run: Pick<TestRun, "pipeline" | "state" | "reason" | "tasks">): string {
  const width = Math.max(...run.tasks.map((task) => task.id.length), 4);
  const stateWidth = Math.max(...run.tasks.map((task) => task.state.length));
  const lines = run.tasks.map((task) => {
    const needs = Object.entries(task.needs);
    const tries = task.attempts.length > 1 ? ` after ${task.attempts.length} attempts` : "";
    const why = task.reason ? `  ${task.reason}` : "";
    const upstream = needs.length > 0 ? `  (needs ${needs.map(([id, condition]) => `${id}: ${condition}`).join(", ")})` : "";
    return `  ${STATE_SYMBOL[task.state]} ${task.id.padEnd(width)}  ${task.state.padEnd(stateWidth)}${tries}${why}${upstream}`;
  });
  return [`run of ${run.pipeline} ${run.state}${run.reason ? ` (${run.reason})` : ""}`, ...lines].join("\n");
}
