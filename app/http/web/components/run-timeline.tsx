// The run's Gantt chart as a server-rendered SVG: a row per task on a shared time axis, each
// stretch of it (waiting for a slot, an attempt, a retry's pause, an approval's wait) a bar
// coloured by what it was, the critical path marked. Bars are placed in percentages of the
// chart's width, so it fills a phone's screen and a wide one alike with text at its own size,
// and it needs no script: the live region's re-render moves it while the run goes on.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { formatDuration } from "../../../domain/duration.ts";
import { axisTicks, runTimeline, type RunTimeline, type TimelineRow, type TimelineSegment, type TimelineTask } from "../../../domain/run-timeline.ts";
import type { RunWithTasks } from "../../../db/repos/runs.ts";
import type { SpecTask } from "./run-live.tsx";
import { STATE_SYMBOL } from "../../../domain/states.ts";
import { truncate } from "./text.ts";

const AXIS_HEIGHT = 22;
const ROW_HEIGHT = 36;
const BAR_TOP = 17;
const BAR_HEIGHT = 13;
// A task's name and facts over its bar; long ids are cut (the bar's title has the whole).
const LABEL_CHARS = 48;
const CRITICAL_MARK = "◆";

const SEGMENT_WORDS: Record<TimelineSegment["kind"], string> = {
  queued: "queued",
  waiting: "waiting for a slot",
  attempt: "attempt",
  retry: "waiting to retry",
  approval: "waiting for approval",
};

const percent = (ms: number, span: number) => `${Number(((ms / span) * 100).toFixed(3))}%`;

/** "+1.2s": a moment as the time since the run was created. */
const offset = (ms: number) => `+${formatDuration(ms)}`;

/** "attempt 2: failed, 1.4s, from +3s": a bar's title. */
function describeSegment(segment: TimelineSegment): string {
  const what = segment.kind === "attempt" ? `attempt ${segment.attempt}` : SEGMENT_WORDS[segment.kind];
  const outcome = segment.open ? "still going" : segment.kind === "attempt" || segment.kind === "approval" ? segment.state : undefined;
  return `${what}${outcome ? `: ${outcome}` : ""}, ${formatDuration(segment.to - segment.from)}, from ${offset(segment.from)}`;
}

/** How long a row's task took, from its first stretch of its own work to its last. */
function rowDuration(row: TimelineRow): number | undefined {
  const work = row.segments.filter((segment) => segment.kind !== "waiting");
  if (work.length === 0) return undefined;
  return work.at(-1)!.to - work[0]!.from;
}

function rowLabel(row: TimelineRow): string {
  const took = rowDuration(row);
  const attempts = row.segments.filter((segment) => segment.kind === "attempt").length;
  const facts = [
    row.reusedFrom !== null ? `reused from run ${row.reusedFrom}` : row.state,
    attempts > 1 ? `${attempts} attempts` : undefined,
    took !== undefined ? formatDuration(took) : undefined,
  ].filter(Boolean);
  return `${row.critical ? `${CRITICAL_MARK} ` : ""}${STATE_SYMBOL[row.state]} ${truncate(row.taskId, LABEL_CHARS)} · ${facts.join(" · ")}`;
}

/** What the row says to a screen reader: its task, its stretches, its place on the critical path. */
function describeRow(row: TimelineRow): string {
  const stretches = row.segments.map(describeSegment).join("; ");
  return `${row.taskId}: ${row.reusedFrom !== null ? `reused from run ${row.reusedFrom}` : row.state}${stretches ? `; ${stretches}` : ""}${row.critical ? "; on the critical path" : ""}`;
}

function Bar({ segment, span, y }: { segment: TimelineSegment; span: number; y: number }) {
  const state = segment.open ? "running" : segment.state;
  const classes = ["tl-bar", `tl-${segment.kind}`, state && `state-${state}`, segment.open && "tl-open"].filter(Boolean).join(" ");
  return (
    <rect class={classes} x={percent(segment.from, span)} width={percent(Math.max(0, segment.to - segment.from), span)} y={y + BAR_TOP} height={BAR_HEIGHT} rx="2" ry="2">
      <title>{describeSegment(segment)}</title>
    </rect>
  );
}

function Row({ row, span, y, href }: { row: TimelineRow; span: number; y: number; href: string }) {
  return (
    <a href={href} class={`tl-row${row.critical ? " tl-critical" : ""}`} aria-label={describeRow(row)}>
      {/* The whole row is the link's target, not only its thin bars. */}
      <rect class="tl-hit" x="0" width="100%" y={y} height={ROW_HEIGHT} />
      <text class={`tl-label state-text-${row.state}`} x="2" y={y + 12}>
        {rowLabel(row)}
      </text>
      {row.segments.map((segment) => (
        <Bar segment={segment} span={span} y={y} />
      ))}
    </a>
  );
}

function Axis({ timeline, height }: { timeline: RunTimeline; height: number }) {
  const ticks = axisTicks(timeline.span, 6);
  return (
    <g class="tl-axis" aria-hidden="true">
      {ticks.map((tick) => {
        const x = percent(tick, timeline.span);
        // The first label starts at its line, the others end there, so none leaves the chart.
        return (
          <g>
            <line x1={x} x2={x} y1={AXIS_HEIGHT - 6} y2={height} />
            <text x={x} y="12" text-anchor={tick === 0 ? "start" : "end"} dx={tick === 0 ? "0" : "-3"}>
              {tick === 0 ? "0s" : formatDuration(tick)}
            </text>
          </g>
        );
      })}
    </g>
  );
}

/** The run's rows from its executions and its version's needs. */
export function timelineOf(run: RunWithTasks, specTasks: SpecTask[], now: Date): RunTimeline {
  const needs = new Map(specTasks.map((task) => [task.id, task.needs]));
  const tasks: TimelineTask[] = run.tasks.map((execution) => ({
    taskId: execution.taskId,
    kind: execution.kind,
    state: execution.state,
    needs: needs.get(execution.taskId) ?? {},
    startedAt: execution.startedAt,
    endedAt: execution.endedAt,
    reusedFrom: execution.reusedFrom,
    attempts: execution.attempts,
  }));
  return runTimeline({ state: run.state, createdAt: run.createdAt, startedAt: run.startedAt, endedAt: run.endedAt, tasks }, now);
}

function Legend({ timeline }: { timeline: RunTimeline }) {
  const segments = timeline.rows.flatMap((row) => row.segments);
  const kinds = new Set(segments.map((segment) => segment.kind));
  if (timeline.queued) kinds.add("queued");
  const states = new Set(segments.filter((segment) => segment.kind === "attempt").map((segment) => (segment.open ? "running" : segment.state)));
  const item = (swatch: string, words: string) => (
    <li>
      <svg class="tl-swatch" width="18" height="12" aria-hidden="true">
        <rect class={swatch} x="1" y="1" width="16" height="10" rx="2" ry="2" />
      </svg>
      {words}
    </li>
  );
  return (
    <ul class="tl-legend">
      {kinds.has("queued") && item("tl-bar tl-queued", "run queued")}
      {kinds.has("waiting") && item("tl-bar tl-waiting", "waiting for a slot")}
      {states.has("successful") && item("tl-bar tl-attempt state-successful", "succeeded")}
      {states.has("failed") && item("tl-bar tl-attempt state-failed", "failed")}
      {states.has("running") && item("tl-bar tl-attempt state-running", "running")}
      {states.has("cancelled") && item("tl-bar tl-attempt state-cancelled", "cancelled")}
      {kinds.has("retry") && item("tl-bar tl-retry", "waiting to retry")}
      {kinds.has("approval") && item("tl-bar tl-approval", "waiting for approval")}
      {timeline.criticalPath.length > 1 && (
        <li>
          <span class="tl-critical-mark" aria-hidden="true">
            {CRITICAL_MARK}
          </span>{" "}
          {`critical path: ${timeline.criticalPath.join(" → ")}`}
        </li>
      )}
    </ul>
  );
}

export interface RunTimelineChartProps {
  timeline: RunTimeline;
  /** The run, for the chart's name. */
  label: string;
  /** Where a task's row links to (its log). */
  href: (taskId: string) => string;
}

/** The chart with its legend; a run with no tasks says so instead. */
export function RunTimelineChart({ timeline, label, href }: RunTimelineChartProps) {
  if (timeline.rows.length === 0) return <p class="muted">This run has no tasks.</p>;
  const queuedRows = timeline.queued ? 1 : 0;
  const height = AXIS_HEIGHT + (timeline.rows.length + queuedRows) * ROW_HEIGHT;
  return (
    <>
      <svg class="timeline" width="100%" height={height} role="group" aria-label={label} xmlns="http://www.w3.org/2000/svg">
        <title>{label}</title>
        <Axis timeline={timeline} height={height} />
        {timeline.queued && (
          <g class="tl-row tl-run-queued" aria-label={`The run: ${describeSegment(timeline.queued)}`} role="img">
            <text class="tl-label" x="2" y={AXIS_HEIGHT + 12}>
              {`run queued · ${formatDuration(timeline.queued.to - timeline.queued.from)}`}
            </text>
            <Bar segment={timeline.queued} span={timeline.span} y={AXIS_HEIGHT} />
          </g>
        )}
        {timeline.rows.map((row, index) => (
          <Row row={row} span={timeline.span} y={AXIS_HEIGHT + (index + queuedRows) * ROW_HEIGHT} href={href(row.taskId)} />
        ))}
      </svg>
      <Legend timeline={timeline} />
    </>
  );
}
