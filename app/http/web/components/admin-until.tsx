// A moment that may lie ahead (a token's expiry): "in 6d", "in 3h"; past ones read like When.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { When } from "./time.tsx";

function ahead(ms: number): string {
  if (ms >= 86_400_000) return `in ${Math.floor(ms / 86_400_000)}d`;
  if (ms >= 3_600_000) return `in ${Math.floor(ms / 3_600_000)}h`;
  return `in ${Math.max(1, Math.floor(ms / 60_000))}m`;
}

export function Until({ date, now }: { date: Date; now: Date }) {
  const ms = date.getTime() - now.getTime();
  if (ms <= 0) return <When date={date} now={now} />;
  return (
    <time datetime={date.toISOString()} title={date.toISOString()}>
      {ahead(ms)}
    </time>
  );
}
