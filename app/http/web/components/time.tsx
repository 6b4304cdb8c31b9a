// Times and durations as people read them, with the exact value in a <time> element.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { formatDuration } from "../../../domain/duration.ts";

/** "12s ago", "3h ago", or the date for anything older than a week. */
export function relativeTime(date: Date, now: Date): string {
  const ms = now.getTime() - date.getTime();
  if (ms < 5_000) return "just now";
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h ago`;
  if (seconds < 604_800) return `${Math.floor(seconds / 86_400)}d ago`;
  return date.toISOString().slice(0, 10);
}

export function When({ date, now }: { date: Date | null | undefined; now: Date }) {
  if (!date) return <span class="muted">—</span>;
  return (
    <time datetime={date.toISOString()} title={date.toISOString()}>
      {relativeTime(date, now)}
    </time>
  );
}

/** Milliseconds from `start` to `end`, or to `now` while it runs; undefined before it started. */
export function elapsed(start: Date | null | undefined, end: Date | null | undefined, now: Date): number | undefined {
  if (!start) return undefined;
  // Never negative: clocks of different processes may disagree by a little.
  return Math.max(0, (end ?? now).getTime() - start.getTime());
}

/** How long something took, or has taken so far while it runs. */
export function Took({ start, end, now }: { start: Date | null | undefined; end: Date | null | undefined; now: Date }) {
  const ms = elapsed(start, end, now);
  if (ms === undefined) return <span class="muted">—</span>;
  return <span class={end ? "duration" : "duration running"}>{formatDuration(ms)}</span>;
}

/** "in 23h", "in 5m", "any moment now" for a time still ahead; the date past a week. */
export function timeUntil(date: Date, now: Date): string {
  const seconds = Math.floor((date.getTime() - now.getTime()) / 1000);
  // A deadline just passed is decided by the engine within moments.
  if (seconds < 5) return "any moment now";
  if (seconds < 60) return `in ${seconds}s`;
  if (seconds < 3600) return `in ${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `in ${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  if (seconds < 604_800) return `in ${Math.floor(seconds / 86_400)}d`;
  return `on ${date.toISOString().slice(0, 10)}`;
}

/** A deadline: how far ahead it is, with the exact time in a <time> element. */
export function Until({ date, now }: { date: Date; now: Date }) {
  return (
    <time datetime={date.toISOString()} title={date.toISOString()}>
      {timeUntil(date, now)}
    </time>
  );
}
