// A run or task state as a labelled badge: colour for the eye, text and a symbol for
// everyone else (colour alone is never the only signal). A running task's phase (retrying,
// waiting for a node, timing out) takes the place of its state's words.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { STATE_SYMBOL, type RunState, type TaskPhase, type TaskState } from "../../../domain/states.ts";

export const PHASE_SYMBOL: Record<TaskPhase, string> = {
  retrying: "↻",
  "waiting for a node": "○",
  "timing out": "◷",
};

/** `phase`: what a running task is doing instead (see taskPhase); it keeps its state's colour. */
export function StateBadge({ state, phase }: { state: RunState | TaskState; phase?: TaskPhase | undefined }) {
  if (phase) {
    return (
      <span class={`badge state-${state} phase-${phase.replaceAll(" ", "-")}`}>
        <span aria-hidden="true">{PHASE_SYMBOL[phase]}</span> {phase}
      </span>
    );
  }
  return (
    <span class={`badge state-${state}`}>
      <span aria-hidden="true">{STATE_SYMBOL[state]}</span> {state}
    </span>
  );
}
