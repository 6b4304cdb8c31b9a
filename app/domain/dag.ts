// The task graph: load-time checks (unknown names, cycles) and the pure decision of
// which tasks may start and which can never run, from task states alone.
import { isFinalTaskState, isSuccessfulTaskState, type TaskState } from "./states.ts";

export type NeedCondition = "success" | "failure" | "any";

export interface DagTask {
  id: string;
  needs: Record<string, NeedCondition>;
}

export interface DagIssue {
  path: string;
  message: string;
}

/** Unknown upstream names, self-dependencies and cycles, each with its path. */
export function findDagProblems(tasks: DagTask[]): DagIssue[] {
  const ids = new Set(tasks.map((task) => task.id));
  const issues: DagIssue[] = [];
  for (const task of tasks) {
    for (const upstream of Object.keys(task.needs)) {
      if (upstream === task.id) {
        issues.push({ path: `tasks.${task.id}.needs.${upstream}`, message: "a task cannot need itself" });
      } else if (!ids.has(upstream)) {
        issues.push({ path: `tasks.${task.id}.needs.${upstream}`, message: `unknown task "${upstream}"` });
      }
    }
  }
  if (issues.length > 0) return issues;
  const cycle = findCycle(tasks);
  if (cycle) {
    issues.push({ path: `tasks.${cycle[0]}.needs`, message: `cycle: ${cycle.join(" needs ")}` });
  }
  return issues;
}

function findCycle(tasks: DagTask[]): string[] | undefined {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const visiting = new Set<string>();
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (done.has(id)) return undefined;
    if (visiting.has(id)) return [...stack.slice(stack.indexOf(id)), id];
    visiting.add(id);
    stack.push(id);
    for (const upstream of Object.keys(byId.get(id)?.needs ?? {})) {
      const cycle = visit(upstream);
      if (cycle) return cycle;
    }
    stack.pop();
    visiting.delete(id);
    done.add(id);
    return undefined;
  };
  for (const task of tasks) {
    const cycle = visit(task.id);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Whether an upstream's final state meets a condition (a reused task counts as successful). */
export function conditionMet(condition: NeedCondition, upstream: TaskState): boolean {
  switch (condition) {
    case "success":
      return isSuccessfulTaskState(upstream);
    case "failure":
      return upstream === "failed";
    case "any":
      return isFinalTaskState(upstream);
  }
}

export interface DagStep {
  /** Pending tasks whose conditions are all met. */
  ready: string[];
  /** Pending tasks with a final upstream that did not meet its condition. */
  skip: string[];
}

/**
 * Decides the next step of a run from states alone. Apply `skip` and ask again:
 * skipping can make further tasks skippable.
 */
export function nextStep(tasks: DagTask[], states: ReadonlyMap<string, TaskState>): DagStep {
  const ready: string[] = [];
  const skip: string[] = [];
  for (const task of tasks) {
    if (states.get(task.id) !== "pending") continue;
    let allMet = true;
    let blocked = false;
    for (const [upstream, condition] of Object.entries(task.needs)) {
      const state = states.get(upstream) ?? "pending";
      if (!isFinalTaskState(state)) {
        allMet = false;
      } else if (!conditionMet(condition, state)) {
        blocked = true;
        break;
      }
    }
    if (blocked) skip.push(task.id);
    else if (allMet) ready.push(task.id);
  }
  return { ready, skip };
}

/** The final state of a run whose tasks are all final. */
export function runOutcome(states: Iterable<TaskState>): "successful" | "failed" | "cancelled" {
  let outcome: "successful" | "failed" | "cancelled" = "successful";
  for (const state of states) {
    if (state === "cancelled") return "cancelled";
    if (state === "failed") outcome = "failed";
  }
  return outcome;
}
