// What a re-run keeps: with "failed", a task that succeeded in the original run and whose
// upstream tasks are all kept too is reused; everything downstream of a failed, skipped
// or cancelled task runs again. With "all", every task runs. An approval gate is never
// reused: a re-run asks again (an approval was for that run, not for any that follows).
import type { DagTask } from "./dag.ts";
import { isSuccessfulTaskState, type TaskState } from "./states.ts";

export const RERUN_SCOPES = ["all", "failed"] as const;
export type RerunScope = (typeof RERUN_SCOPES)[number];

export type RerunTaskPlan = "reused" | "pending";

export function planRerun(tasks: readonly (DagTask & { kind?: string })[], original: ReadonlyMap<string, TaskState>, only: RerunScope): Map<string, RerunTaskPlan> {
  const plan = new Map<string, RerunTaskPlan>();
  if (only === "all") {
    for (const task of tasks) plan.set(task.id, "pending");
    return plan;
  }
  const byId = new Map(tasks.map((task) => [task.id, task]));
  // Depth-first over the DAG (acyclic: the loader refuses cycles), upstream first.
  const decide = (id: string): RerunTaskPlan => {
    const known = plan.get(id);
    if (known) return known;
    const task = byId.get(id)!;
    const upstreamKept = Object.keys(task.needs).every((upstream) => byId.has(upstream) && decide(upstream) === "reused");
    const state = original.get(id);
    const decision: RerunTaskPlan = upstreamKept && task.kind !== "approval" && state !== undefined && isSuccessfulTaskState(state) ? "reused" : "pending";
    plan.set(id, decision);
    return decision;
  };
  for (const task of tasks) decide(task.id);
  return plan;
}
