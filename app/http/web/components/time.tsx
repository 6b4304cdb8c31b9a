// Times and durations as people read them, with the exact value in a <time> element.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { formatDuration } from "../../../domain/duration.ts";

/** "12s ago", "3h ago", or the date for anything older than a week. */
export function relativeTime(date: Date, now: Date): string {
  const ms = now.getTime() - date.getTime();
  if (ms < 5_000) return "just now";
  if (ms < 604_800_000) return `${formatDuration(ms).replace(/(\d+)(\D+)\d+\D+$/, "$1$2")} ago`;
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

/** How long something took, or has taken so far while it runs. */
export function Took({ start, end, now }: { start: Date | null | undefined; end: Date | null | undefined; now: Date }) {
  if (!start) return <span class="muted">—</span>;
  const ms = (end ?? now).getTime() - start.getTime();
  return <span class={end ? "duration" : "duration running"}>{formatDuration(Math.max(0, ms))}</span>;
}
