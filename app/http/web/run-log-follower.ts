// Follows the logs of a run's tasks for the run page's one live stream: each task from where
// the browser got to, as soon as it starts, gathered into htmx partials for its pane; and the
// positions (per task: byte offset and next line number) that the page and event ids carry.
import * as v from "valibot";
import type { ExecutionRow } from "../../db/repos/runs.ts";
import { ID_PATTERN } from "../../domain/ids.ts";
import { isFinalTaskState } from "../../domain/states.ts";
import type { LogKey, LogStore } from "../../stores/logs.ts";
import { logLinesPartialHtml } from "./components/log-view.tsx";
import type { RunKey } from "../../domain/run-key.ts";

/** Lines of a log a page (or a stream that starts far behind) shows; the raw log has them all. */
export const MAX_LOG_LINES = 2000;

/** Where a reader of a log got to: the byte offset after its last line, and the next line's number. */
export interface LogPosition {
  offset: number;
  line: number;
}

/** Positions by task id; a task not in it is read from its start. */
export type LogPositions = Map<string, LogPosition>;

const START: LogPosition = { offset: 0, line: 1 };

// ---- Positions as the page's query writes them: "<task>:<offset>:<line>,..." ----

const ENTRY = String.raw`[a-z0-9-]{1,64}:\d{1,15}:[1-9]\d{0,14}`;
const QUERY = new RegExp(`^(?:${ENTRY}(?:,${ENTRY})*)?$`);
/** Enough for a few hundred tasks; a longer query is refused, not cut. */
const MAX_QUERY = 40_000;

/** The `from` query of the live stream: the positions of the lines the page already shows. */
export const positionsQuery = v.optional(
  v.pipe(
    v.string(),
    v.maxLength(MAX_QUERY, `must be at most ${MAX_QUERY} characters`),
    v.regex(QUERY, "must be task:offset:line entries separated by commas"),
    v.transform((value): LogPositions => {
      const positions: LogPositions = new Map();
      for (const entry of value.split(",").filter(Boolean)) {
        const [task, offset, line] = entry.split(":");
        positions.set(task!, { offset: Number(offset), line: Number(line) });
      }
      return positions;
    }),
  ),
  "",
);

/** The query value for positions (tasks still at their start are left out). */
export function positionsQueryValue(positions: LogPositions): string {
  return [...positions]
    .filter(([, position]) => position.offset > 0 || position.line > 1)
    .map(([task, position]) => `${task}:${position.offset}:${position.line}`)
    .join(",");
}

// ---- Positions as SSE event ids: base64url of {"<task>": [offset, line]} ----

/** Event ids come back as a request header: refuse anything longer than a sane one. */
const MAX_EVENT_ID = 60_000;
const count = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(Number.MAX_SAFE_INTEGER));
const eventIdSchema = v.record(v.pipe(v.string(), v.regex(ID_PATTERN)), v.strictTuple([count(0), count(1)]));

export function encodePositions(positions: LogPositions): string {
  const compact: Record<string, [number, number]> = {};
  for (const [task, position] of positions) {
    if (position.offset > 0 || position.line > 1) compact[task] = [position.offset, position.line];
  }
  return Buffer.from(JSON.stringify(compact)).toString("base64url");
}

/** The positions in an event id a reconnecting browser sent back, or undefined when it is not one of ours. */
export function decodePositions(id: string | undefined): LogPositions | undefined {
  if (!id || id.length > MAX_EVENT_ID || !/^[A-Za-z0-9_-]+$/.test(id)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(id, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(eventIdSchema, json);
  if (!parsed.success) return undefined;
  return new Map(Object.entries(parsed.output).map(([task, [offset, line]]) => [task, { offset, line }]));
}

// ---- The follower ----

export interface RunLogFollowerOptions {
  logs: LogStore;
  key: RunKey;
  /** Where the browser got to; tasks not in it start at their first line. */
  from: LogPositions;
  /** The raw log of a task, linked from the note about lines left out. */
  rawHref: (taskId: string) => string;
  /** Called whenever new lines are waiting to be taken. */
  onLines: () => void;
  /** Stops all following (the client left). */
  signal: AbortSignal;
}

export interface RunLogFollower {
  /** Starts following the tasks that started, and reads the rest of those that ended. */
  update(executions: ExecutionRow[]): void;
  /** Whether lines are waiting. */
  hasLines(): boolean;
  /** The waiting lines as one htmx partial per task (empty when none); they count as sent. */
  take(): string;
  /** Resolves once the logs of every task seen final so far are read to their end. */
  settled(): Promise<void>;
  /** The positions sent so far, as an event id. */
  eventId(): string;
  /** Stops following and drops what is waiting (the viewer may no longer read logs). */
  close(): void;
}

interface FollowedTask {
  taskId: string;
  logKey: LogKey;
  /** Where the last line taken ends. */
  sent: LogPosition;
  /** Where the last line read ends (lines between `sent` and here are waiting). */
  read: number;
  waiting: string[];
  /** Lines dropped from the waiting ones, before them: too many to send. */
  skipped: number;
  controller: AbortController;
  /** Reading as the log grows, while the task runs. */
  following?: Promise<void>;
  /** The last read, once the task ended. */
  finished?: Promise<void>;
}

export function createRunLogFollower(options: RunLogFollowerOptions): RunLogFollower {
  const { logs, key, signal } = options;
  const tasks = new Map<string, FollowedTask>();
  // What the browser has of every task, including those not followed (yet): the event id.
  const positions: LogPositions = new Map(options.from);
  let closed = false;

  const add = (task: FollowedTask, lines: string[], skipped: number, bytes: number) => {
    if (closed) return;
    task.read += bytes;
    if (lines.length === 0 && skipped === 0) return;
    task.waiting.push(...lines);
    task.skipped += skipped;
    // A reader far behind (or a task writing faster than it is sent) gets the last lines only.
    const excess = task.waiting.length - MAX_LOG_LINES;
    if (excess > 0) {
      task.waiting.splice(0, excess);
      task.skipped += excess;
    }
    options.onLines();
  };

  /** Reads the complete lines written since the last read. */
  const catchUp = async (task: FollowedTask) => {
    const tail = await logs.tail(task.logKey, task.read, MAX_LOG_LINES);
    add(task, tail.lines, tail.skipped, tail.end - task.read);
  };

  const reportError = (task: FollowedTask) => (error: unknown) => {
    if (!task.controller.signal.aborted) console.error(`following the log of ${key.namespace}/${key.id}#${key.run} ${task.taskId} failed:`, error);
  };

  const follow = (task: FollowedTask) => {
    task.following = (async () => {
      await catchUp(task);
      // Never "finished": once the task ends, update() stops this and reads what is left.
      const chunks = logs.follow(task.logKey, async () => false, task.controller.signal, task.read);
      for await (const chunk of chunks) {
        const lines = chunk.split("\n");
        lines.pop(); // chunks are whole lines, each ending with a newline
        add(task, lines, 0, Buffer.byteLength(chunk));
      }
    })().catch(reportError(task));
  };

  const finish = (task: FollowedTask) => {
    task.controller.abort();
    // The orchestrator closes a task's log before it records the end, so this read is the last.
    task.finished = (async () => {
      await task.following;
      if (!signal.aborted && !closed) await catchUp(task);
    })().catch(reportError(task));
  };

  const taskOf = (taskId: string): FollowedTask => {
    let task = tasks.get(taskId);
    if (!task) {
      const from = positions.get(taskId) ?? START;
      const controller = new AbortController();
      signal.addEventListener("abort", () => controller.abort(), { once: true });
      const logKey = { namespace: key.namespace, pipeline: key.id, run: key.run, task: taskId };
      task = { taskId, logKey, sent: { ...from }, read: from.offset, waiting: [], skipped: 0, controller };
      tasks.set(taskId, task);
    }
    return task;
  };

  return {
    update(executions) {
      if (closed) return;
      for (const execution of executions) {
        // A reused task wrote nothing in this run: its pane shows the original run's log.
        if (execution.state === "pending" || execution.state === "reused") continue;
        const task = taskOf(execution.taskId);
        if (isFinalTaskState(execution.state)) {
          if (!task.finished) finish(task);
        } else if (!task.following) {
          follow(task);
        }
      }
    },
    hasLines: () => [...tasks.values()].some((task) => task.waiting.length > 0 || task.skipped > 0),
    take() {
      let html = "";
      for (const task of tasks.values()) {
        if (task.waiting.length === 0 && task.skipped === 0) continue;
        const first = task.sent.line + task.skipped;
        html += logLinesPartialHtml({ taskId: task.taskId, first, lines: task.waiting, skipped: task.skipped, rawHref: options.rawHref(task.taskId) });
        task.sent = { offset: task.read, line: first + task.waiting.length };
        positions.set(task.taskId, task.sent);
        task.waiting = [];
        task.skipped = 0;
      }
      return html;
    },
    async settled() {
      await Promise.all([...tasks.values()].map((task) => task.finished));
    },
    eventId: () => encodePositions(positions),
    close() {
      closed = true;
      for (const task of tasks.values()) {
        task.controller.abort();
        task.waiting = [];
        task.skipped = 0;
      }
    },
  };
}
