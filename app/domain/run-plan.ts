// The planner: from a run's task states alone, what the engine does next — tasks to skip
// (with why), pending tasks a cancel ends, tasks that may start within the run's
// parallelism, and, once nothing is left, how the run ends. The verb files apply it.
import { conditionMet, nextStep, runOutcome, type DagTask } from "./dag.ts";
import { isFinalTaskState, type TaskState } from "./states.ts";

export interface PlanInput {
  tasks: readonly DagTask[];
  states: ReadonlyMap<string, TaskState>;
  /** Tasks this run is executing or about to (their slot is taken). */
  inFlight: ReadonlySet<string>;
  parallelism: number;
  /** Approval gates: they start without a slot of the run's parallelism and hold none while they wait. */
  gates?: ReadonlySet<string>;
  /** Set when a cancel was acted on, with the reason the run ends with ("cancelled by alice"): nothing new starts and pending tasks end cancelled. */
  cancelled?: string;
}

export interface RunEnd {
  state: "successful" | "failed" | "cancelled";
  reason: string | null;
}

export interface RunPlan {
  skip: { task: string; reason: string }[];
  /** Pending tasks that end cancelled (the run was cancelled). */
  cancel: string[];
  /** Ready tasks to start now, in the pipeline's order. */
  start: string[];
  /** Set when every task is final and none is in flight. */
  end?: RunEnd;
}

/** Why a pending task can never run: the first upstream that ended the wrong way. */
export function skipReason(task: DagTask, states: ReadonlyMap<string, TaskState>): string {
  for (const [upstream, condition] of Object.entries(task.needs)) {
    const state = states.get(upstream);
    if (state && isFinalTaskState(state) && !conditionMet(condition, state)) {
      return `needs ${upstream} to be ${condition === "success" ? "successful" : "failed"}, but it was ${state}`;
    }
  }
  return "its conditions can no longer be met";
}

/** The run's final state and reason once all its tasks are final; `cancelled` is the reason of a cancel acted on. */
export function runEnd(states: ReadonlyMap<string, TaskState>, cancelled?: string): RunEnd {
  const state = cancelled !== undefined ? "cancelled" : runOutcome(states.values());
  if (state === "cancelled") return { state, reason: cancelled ?? "tasks were cancelled" };
  if (state === "successful") return { state, reason: null };
  const failed = [...states].filter(([, task]) => task === "failed").map(([id]) => id);
  return { state, reason: `task${failed.length > 1 ? "s" : ""} ${failed.join(", ")} failed` };
}

export function planRun(input: PlanInput): RunPlan {
  const states = new Map(input.states);
  const plan: RunPlan = { skip: [], cancel: [], start: [] };
  if (input.cancelled !== undefined) {
    for (const [task, state] of states) {
      if (state === "pending" && !input.inFlight.has(task)) {
        plan.cancel.push(task);
        states.set(task, "cancelled");
      }
    }
  } else {
    // Skipping can make further tasks skippable: apply and ask again until nothing moves.
    for (;;) {
      const step = nextStep(input.tasks as DagTask[], states);
      if (step.skip.length === 0) break;
      for (const id of step.skip) {
        plan.skip.push({ task: id, reason: skipReason(input.tasks.find((task) => task.id === id)!, states) });
        states.set(id, "skipped");
      }
    }
    const gates = input.gates ?? new Set<string>();
    let slots = input.parallelism - [...input.inFlight].filter((id) => !gates.has(id)).length;
    for (const id of nextStep(input.tasks as DagTask[], states).ready) {
      if (input.inFlight.has(id)) continue;
      if (gates.has(id)) {
        plan.start.push(id);
        continue;
      }
      if (slots <= 0) continue;
      plan.start.push(id);
      slots--;
    }
  }
  if (input.inFlight.size === 0 && plan.start.length === 0 && [...states.values()].every(isFinalTaskState)) {
    plan.end = runEnd(states, input.cancelled);
  }
  return plan;
}
