// The server's side of a task's files: before it starts, the artifacts it takes in and its
// cache are put in the workspace; after it succeeds, its artifacts and cache are stored and
// its SARIF report is read into findings. Each may fail the task, saying why.
import type { Db } from "../../db/client.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import type { RunKey } from "../../domain/run-key.ts";

/** One line in the task's log, from the server (masked like the task's own). */
export type TaskLogLine = (line: string) => void;

export type StepResult = { ok: true } | { ok: false; reason: string };

export interface TaskFilesContext {
  key: RunKey;
  task: TaskSpec;
  /** The run's workspace (absolute). */
  workspace: string;
  /** The task's environment (for `${VAR}` in a cache key). */
  env: Readonly<Record<string, string>>;
  /** Secret values in `env`: never stored in a cache key. */
  secrets?: readonly string[];
  log: TaskLogLine;
}

/** What the engine calls around a task's attempts; built by deps.ts from the stores. */
export interface TaskFiles {
  /** Before an attempt starts: artifacts in, cache restored. */
  before(context: TaskFilesContext): Promise<StepResult>;
  /** After an attempt succeeded: artifacts out, cache saved, SARIF read (a finding at or above failOn fails it). */
  after(context: TaskFilesContext): Promise<StepResult>;
}

/** Whether the task has anything for the server to do around it. */
export function hasTaskFiles(task: TaskSpec): boolean {
  return task.artifacts !== undefined || task.cache !== undefined || task.sarif !== undefined;
}

export interface TaskFilesParts {
  db: Db;
  /** Artifacts in and out (helper: artifacts.ts). */
  artifacts?: { takeIn(context: TaskFilesContext): Promise<StepResult>; storeOut(context: TaskFilesContext): Promise<StepResult> };
  /** Cache restore and save (helper: caches.ts); failures are logged, never fail the task. */
  caches?: { restore(context: TaskFilesContext): Promise<void>; save(context: TaskFilesContext): Promise<void> };
  /** SARIF into findings (helper: findings.ts). */
  findings?: { clear(context: TaskFilesContext): Promise<void>; collect(context: TaskFilesContext): Promise<StepResult> };
}

export function createTaskFiles(parts: TaskFilesParts): TaskFiles {
  return {
    async before(context) {
      if (context.task.artifacts?.in.length && parts.artifacts) {
        const taken = await parts.artifacts.takeIn(context);
        if (!taken.ok) return taken;
      }
      if (context.task.cache && parts.caches) await parts.caches.restore(context);
      // A report left from before (an earlier attempt, a re-run's copied workspace) is never read as this attempt's.
      if (context.task.sarif && parts.findings) await parts.findings.clear(context);
      return { ok: true };
    },
    async after(context) {
      // Findings first: a failing scan stores what it found, and then nothing else.
      if (context.task.sarif && parts.findings) {
        const read = await parts.findings.collect(context);
        if (!read.ok) return read;
      }
      if (context.task.artifacts?.out.length && parts.artifacts) {
        const stored = await parts.artifacts.storeOut(context);
        if (!stored.ok) return stored;
      }
      if (context.task.cache && parts.caches) await parts.caches.save(context);
      return { ok: true };
    },
  };
}
