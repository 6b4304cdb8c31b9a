// A run laid out in time, for its Gantt chart: one row per task with what it did when (waiting
// for its turn, each attempt, the pauses between retries, an approval's wait), the run's own
// time in its queue, and the critical path: the chain of tasks that decided when the run ended.
// Pure: the run page renders it, and a run still going is laid out up to `now`.
import type { NeedCondition } from "./dag.ts";
import type { AttemptState, TaskState } from "./states.ts";

export interface TimelineAttempt {
  attempt: number;
  state: AttemptState;
  startedAt: Date;
  endedAt: Date | null;
}

export interface TimelineTask {
  taskId: string;
  kind: "run" | "container" | "approval";
  state: TaskState;
  needs: Record<string, NeedCondition>;
  startedAt: Date | null;
  endedAt: Date | null;
  reusedFrom: number | null;
  attempts: TimelineAttempt[];
}

export interface TimelineRunInput {
  state: string;
  createdAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  tasks: TimelineTask[];
}

/**
 * What a stretch of a row shows: "waiting" (its needs were met, it had no slot yet), "attempt"
 * (one attempt, coloured by its outcome), "retry" (the pause before the next attempt),
 * "approval" (a gate waiting for a person), "queued" (the run waiting for admission).
 */
export type SegmentKind = "queued" | "waiting" | "attempt" | "retry" | "approval";

export interface TimelineSegment {
  kind: SegmentKind;
  /** Milliseconds from the run's creation. */
  from: number;
  to: number;
  /** An attempt's or a gate's outcome; "running" while it goes on. */
  state?: AttemptState | TaskState;
  attempt?: number;
  /** Whether it is still going (it ends at `now`). */
  open?: boolean;
}

export interface TimelineRow {
  taskId: string;
  kind: TimelineTask["kind"];
  state: TaskState;
  segments: TimelineSegment[];
  critical: boolean;
  reusedFrom: number | null;
}

export interface RunTimeline {
  /** The whole span drawn, in ms (at least 1, so a scale never divides by zero). */
  span: number;
  /** The run's time waiting for admission, when it waited. */
  queued?: TimelineSegment;
  rows: TimelineRow[];
  /** The critical path's tasks, first to last. */
  criticalPath: string[];
}

// A task counts as waiting for its turn only past this: the hand-over from a finished need
// to the next task's claim takes a few milliseconds that are not worth a bar.
const WAIT_WORTH_SHOWING_MS = 100;

/** When a task's needs were all met: the last need's end, or the run's start. */
function readyAt(task: TimelineTask, byId: Map<string, TimelineTask>, runStart: number): number | undefined {
  let ready = runStart;
  for (const need of Object.keys(task.needs)) {
    const ended = byId.get(need)?.endedAt;
    if (!ended) return undefined;
    ready = Math.max(ready, ended.getTime());
  }
  return ready;
}

function rowOf(task: TimelineTask, byId: Map<string, TimelineTask>, origin: number, runStart: number | undefined, now: number, runFinal: boolean): TimelineSegment[] {
  const at = (date: Date) => date.getTime() - origin;
  const segments: TimelineSegment[] = [];
  if (task.reusedFrom !== null) return segments;
  const ready = runStart === undefined ? undefined : readyAt(task, byId, runStart);
  const firstStart = task.kind === "approval" ? task.startedAt : (task.attempts[0]?.startedAt ?? null);
  // Ready and not started: it waits for a slot (drawn while the run goes on).
  if (ready !== undefined && (task.state === "pending" || firstStart)) {
    const until = firstStart ? firstStart.getTime() : runFinal ? undefined : now;
    if (until !== undefined && until - ready >= WAIT_WORTH_SHOWING_MS) {
      segments.push({ kind: "waiting", from: ready - origin, to: until - origin, ...(!firstStart && { open: true }) });
    }
  }
  if (task.kind === "approval") {
    if (task.startedAt) {
      const open = task.endedAt === null && !runFinal;
      segments.push({ kind: "approval", from: at(task.startedAt), to: task.endedAt ? at(task.endedAt) : now - origin, state: task.state, ...(open && { open }) });
    }
    return segments;
  }
  task.attempts.forEach((attempt, index) => {
    const previous = task.attempts[index - 1];
    if (previous?.endedAt && attempt.startedAt.getTime() > previous.endedAt.getTime()) {
      segments.push({ kind: "retry", from: at(previous.endedAt), to: at(attempt.startedAt) });
    }
    const open = attempt.endedAt === null && !runFinal;
    const end = attempt.endedAt ?? (runFinal && task.endedAt ? task.endedAt : null);
    segments.push({ kind: "attempt", from: at(attempt.startedAt), to: end ? at(end) : now - origin, state: attempt.state, attempt: attempt.attempt, ...(open && { open }) });
  });
  // Between a failed attempt and its retry, the pause is drawn up to now.
  const last = task.attempts.at(-1);
  if (last?.endedAt && !task.endedAt && !runFinal) segments.push({ kind: "retry", from: at(last.endedAt), to: now - origin, open: true });
  return segments;
}

/** Where a task's work ended on the chart: its last segment's end. */
function endOf(segments: TimelineSegment[]): number | undefined {
  return segments.length === 0 ? undefined : Math.max(...segments.map((segment) => segment.to));
}

/**
 * The critical path: from the task that ended last, back through the need that ended last
 * before it (the one it waited for), to a task that needed nothing that ran.
 */
function criticalPathOf(tasks: TimelineTask[], ends: Map<string, number>): string[] {
  let current: TimelineTask | undefined;
  for (const task of tasks) {
    const end = ends.get(task.taskId);
    if (end !== undefined && (!current || end > ends.get(current.taskId)!)) current = task;
  }
  const byId = new Map(tasks.map((task) => [task.taskId, task]));
  const path: string[] = [];
  const seen = new Set<string>();
  while (current && !seen.has(current.taskId)) {
    seen.add(current.taskId);
    path.unshift(current.taskId);
    let next: TimelineTask | undefined;
    for (const need of Object.keys(current.needs)) {
      const end = ends.get(need);
      if (end !== undefined && (!next || end > ends.get(next.taskId)!)) next = byId.get(need);
    }
    current = next;
  }
  return path;
}

/**
 * The run laid out from its creation to its end (or `now` while it goes on).
 * @example runTimeline(run, new Date()).rows[0].segments // [{ kind: "attempt", from: 12, to: 840, state: "successful", attempt: 1 }]
 */
export function runTimeline(run: TimelineRunInput, now: Date): RunTimeline {
  const origin = run.createdAt.getTime();
  const runFinal = run.endedAt !== null;
  const end = (run.endedAt ?? now).getTime();
  const runStart = run.startedAt?.getTime();
  const byId = new Map(run.tasks.map((task) => [task.taskId, task]));
  const laid: TimelineRow[] = run.tasks.map((task) => ({
    taskId: task.taskId,
    kind: task.kind,
    state: task.state,
    segments: rowOf(task, byId, origin, runStart, end, runFinal),
    critical: false,
    reusedFrom: task.reusedFrom,
  }));
  // In the order their work started (as a Gantt chart reads; a wait for a slot is not work);
  // those that never started go last.
  const firstAt = (row: TimelineRow) => (row.segments.find((segment) => segment.kind !== "waiting") ?? row.segments[0])?.from ?? Infinity;
  const rows = laid.toSorted((a, b) => firstAt(a) - firstAt(b));
  const ends = new Map<string, number>();
  for (const row of rows) {
    // Only work done counts for the path: a task's wait for its slot is not its own work.
    const end = endOf(row.segments.filter((segment) => segment.kind !== "waiting"));
    if (end !== undefined) ends.set(row.taskId, end);
  }
  const criticalPath = criticalPathOf(run.tasks, ends);
  const onPath = new Set(criticalPath);
  for (const row of rows) row.critical = onPath.has(row.taskId);
  // A run cancelled in its queue waited there until it ended.
  const queuedUntil = runStart ?? end;
  const queued =
    queuedUntil - origin >= WAIT_WORTH_SHOWING_MS ? { kind: "queued" as const, from: 0, to: queuedUntil - origin, ...(runStart === undefined && !runFinal && { open: true }) } : undefined;
  const drawn = Math.max(end - origin, ...rows.flatMap((row) => row.segments.map((segment) => segment.to)));
  return { span: Math.max(1, drawn), ...(queued && { queued }), rows, criticalPath };
}

/** Round steps for a time axis: 1, 2 and 5 times a power of ten ms, then minutes and hours. */
const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000];

/**
 * Tick positions for an axis of `span` ms: the smallest round step giving at most `most` ticks.
 * @example axisTicks(9000, 5) // [0, 2000, 4000, 6000, 8000]
 */
export function axisTicks(span: number, most: number): number[] {
  const step = STEPS.find((candidate) => span / candidate < most) ?? Math.ceil(span / most);
  const ticks: number[] = [];
  for (let at = 0; at <= span; at += step) ticks.push(at);
  return ticks;
}
