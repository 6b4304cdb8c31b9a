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

/**
 * How rows are drawn: roomy, a task's name over its bar across the whole width; compact (a
 * run of many tasks), the name in a column of its own beside the bar, so 100 tasks stay
 * readable in 2,000 px instead of 3,600.
 */
interface Geometry {
  rowHeight: number;
  barTop: number;
  barHeight: number;
  labelY: number;
  /** Where the bars' area begins and how wide it is (of the chart's width). */
  chartX: string;
  chartWidth: string;
}
const ROOMY: Geometry = { rowHeight: 36, barTop: 17, barHeight: 13, labelY: 12, chartX: "0", chartWidth: "100%" };
const COMPACT: Geometry = { rowHeight: 20, barTop: 4, barHeight: 12, labelY: 14, chartX: "31%", chartWidth: "69%" };
const COMPACT_FROM_ROWS = 24;
const LABEL_COLUMN = "30%";
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

function Bar({ segment, span, geometry }: { segment: TimelineSegment; span: number; geometry: Geometry }) {
  const state = segment.open ? "running" : segment.state;
  const classes = ["tl-bar", `tl-${segment.kind}`, state && `state-${state}`, segment.open && "tl-open"].filter(Boolean).join(" ");
  return (
    <rect class={classes} x={percent(segment.from, span)} width={percent(Math.max(0, segment.to - segment.from), span)} y={geometry.barTop} height={geometry.barHeight} rx="2" ry="2">
      <title>{describeSegment(segment)}</title>
    </rect>
  );
}

/**
 * A row: its label, and its bars in the bars' area (a nested svg, so percentages are of that
 * area and a compact row's label is clipped to its column).
 */
function RowParts({ label, segments, span, y, geometry }: { label: string; segments: TimelineSegment[]; span: number; y: number; geometry: Geometry }) {
  const compact = geometry !== ROOMY;
  return (
    <>
      <svg x="0" y={y} width={compact ? LABEL_COLUMN : "100%"} height={geometry.rowHeight} class="tl-label-box">
        {/* A compact label ends at its column's edge: a long name loses its start, not the end that tells shards apart. */}
        <text class="tl-label" x={compact ? "100%" : "2"} dx={compact ? "-4" : undefined} text-anchor={compact ? "end" : undefined} y={geometry.labelY}>
          {label}
        </text>
      </svg>
      <svg x={geometry.chartX} y={y} width={geometry.chartWidth} height={geometry.rowHeight} overflow="visible">
        {segments.map((segment) => (
          <Bar segment={segment} span={span} geometry={geometry} />
        ))}
      </svg>
    </>
  );
}

/** A compact row's label: the name, its state's symbol, the critical path's mark (the facts are in its title). */
function compactLabel(row: TimelineRow): string {
  return `${truncate(row.taskId, LABEL_CHARS)} ${STATE_SYMBOL[row.state]}${row.critical ? ` ${CRITICAL_MARK}` : ""}`;
}

function Row({ row, span, y, href, geometry }: { row: TimelineRow; span: number; y: number; href: string; geometry: Geometry }) {
  return (
    <a href={href} class={`tl-row${row.critical ? " tl-critical" : ""}`} aria-label={describeRow(row)}>
      {/* The whole row is the link's target, not only its thin bars. */}
      <rect class="tl-hit" x="0" width="100%" y={y} height={geometry.rowHeight} />
      <RowParts label={geometry === ROOMY ? rowLabel(row) : compactLabel(row)} segments={row.segments} span={span} y={y} geometry={geometry} />
    </a>
  );
}

function Axis({ timeline, height, geometry }: { timeline: RunTimeline; height: number; geometry: Geometry }) {
  const ticks = axisTicks(timeline.span, 6);
  return (
    <svg class="tl-axis" aria-hidden="true" x={geometry.chartX} width={geometry.chartWidth} height={height} overflow="visible">
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
    </svg>
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
  const geometry = timeline.rows.length + queuedRows >= COMPACT_FROM_ROWS ? COMPACT : ROOMY;
  const height = AXIS_HEIGHT + (timeline.rows.length + queuedRows) * geometry.rowHeight;
  return (
    <>
      <svg class={`timeline${geometry === COMPACT ? " timeline-compact" : ""}`} width="100%" height={height} role="group" aria-label={label} xmlns="http://www.w3.org/2000/svg">
        <title>{label}</title>
        <Axis timeline={timeline} height={height} geometry={geometry} />
        {timeline.queued && (
          <g class="tl-row tl-run-queued" aria-label={`The run: ${describeSegment(timeline.queued)}`} role="img">
            <RowParts label={`run queued · ${formatDuration(timeline.queued.to - timeline.queued.from)}`} segments={[timeline.queued]} span={timeline.span} y={AXIS_HEIGHT} geometry={geometry} />
          </g>
        )}
        {timeline.rows.map((row, index) => (
          <Row row={row} span={timeline.span} y={AXIS_HEIGHT + (index + queuedRows) * geometry.rowHeight} href={href(row.taskId)} geometry={geometry} />
        ))}
      </svg>
      <Legend timeline={timeline} />
    </>
  );
}
