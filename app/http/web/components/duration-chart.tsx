// How long a pipeline's recent runs took, as SVG bars oldest to newest, coloured and titled
// by state; each bar links to its run.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { formatDuration } from "../../../domain/duration.ts";
import type { RunState } from "../../../domain/states.ts";
import { elapsed } from "./time.tsx";

export interface ChartRun {
  id: number;
  state: RunState;
  startedAt: Date | null;
  endedAt: Date | null;
}

export interface DurationChartProps {
  /** Oldest first. */
  runs: ChartRun[];
  now: Date;
  href: (run: number) => string;
}

const BAR = 14;
const GAP = 4;
const PLOT_HEIGHT = 96;
const TOP = 18;
const LEFT = 4;
const MIN_BAR = 2;

function barTitle(run: ChartRun, duration: number | undefined): string {
  if (duration === undefined) return `run ${run.id}: ${run.state}, not started`;
  return `run ${run.id}: ${run.state}, ${formatDuration(duration)}${run.endedAt ? "" : " so far"}`;
}

export function DurationChart({ runs, now, href }: DurationChartProps) {
  if (runs.length === 0) return <p class="muted">No runs yet, so nothing to chart.</p>;
  const durations = runs.map((run) => elapsed(run.startedAt, run.endedAt, now));
  const known = durations.filter((duration): duration is number => duration !== undefined);
  const longest = Math.max(1, ...known);
  const sorted = [...known].sort((a, b) => a - b);
  const median = sorted.length > 0 ? sorted[Math.floor((sorted.length - 1) / 2)]! : undefined;
  const failed = runs.filter((run) => run.state === "failed").length;
  const summary =
    `Durations of the last ${runs.length} run${runs.length === 1 ? "" : "s"}, oldest first` +
    (median !== undefined ? `: median ${formatDuration(median)}, longest ${formatDuration(longest)}` : "") +
    `; ${failed} failed.`;
  const width = LEFT * 2 + runs.length * (BAR + GAP) - GAP;
  // Room under the axis for the marks under failed runs.
  const height = TOP + PLOT_HEIGHT + 16;
  const baseline = TOP + PLOT_HEIGHT;
  return (
    // The bars repeat the history table below (which has the same links in keyboard order), so
    // their links stay out of the tab order; a group (not an image: it holds links) with a summary.
    <svg
      class="duration-chart"
      viewBox={`0 0 ${Math.max(width, 120)} ${height}`}
      width={Math.max(width, 120)}
      height={height}
      role="group"
      aria-label={summary}
      xmlns="http://www.w3.org/2000/svg"
    >
      <title>{summary}</title>
      <line class="chart-axis" x1="0" x2={Math.max(width, 120)} y1={baseline + 0.5} y2={baseline + 0.5} />
      <line class="chart-grid" x1="0" x2={Math.max(width, 120)} y1={TOP + 0.5} y2={TOP + 0.5} />
      <text class="chart-label" x="2" y={TOP - 5}>
        {formatDuration(longest)}
      </text>
      {runs.map((run, index) => {
        const duration = durations[index];
        const barHeight = duration === undefined ? MIN_BAR : Math.max(MIN_BAR, Math.round((duration / longest) * PLOT_HEIGHT));
        const title = barTitle(run, duration);
        return (
          <a href={href(run.id)} tabindex={-1} class={`chart-bar state-${run.state}`}>
            <title>{title}</title>
            <rect x={LEFT + index * (BAR + GAP)} y={baseline - barHeight} width={BAR} height={barHeight} rx="2" />
            {/* A mark under failed runs, so failure does not rest on colour alone. */}
            {run.state === "failed" && (
              <text class="chart-mark" x={LEFT + index * (BAR + GAP) + BAR / 2} y={baseline + 13} text-anchor="middle">
                ✗
              </text>
            )}
          </a>
        );
      })}
    </svg>
  );
}
