// A run or task state as a labelled badge: colour for the eye, text and a symbol for
// everyone else (colour alone is never the only signal).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunState, TaskState } from "../../../domain/states.ts";

/** A symbol per state, so state never rests on colour alone. */
export const STATE_SYMBOL: Record<RunState | TaskState, string> = {
  queued: "⋯",
  pending: "○",
  running: "◔",
  successful: "✓",
  failed: "✗",
  skipped: "↷",
  cancelled: "■",
  reused: "↺",
};

export function StateBadge({ state }: { state: RunState | TaskState }) {
  return (
    <span class={`badge state-${state}`}>
      <span aria-hidden="true">{STATE_SYMBOL[state]}</span> {state}
    </span>
  );
}
