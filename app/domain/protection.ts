// An environment's protection rules checked against a deploy: pure decisions from the run's
// facts (its pipeline, its branch, its tasks' states), so the rule and its message live in
// one place.
import type { Protection } from "./environments.ts";
import type { TaskSpec } from "./pipeline-spec.ts";

/** A "*" pattern (any characters, "/" included) matched against the whole text. */
export function matchesPattern(pattern: string, text: string): boolean {
  const regex = new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join(".*")}$`);
  return regex.test(text);
}

/** The branch a run is for: its GitHub ref's branch, else its BRANCH variable. */
export function runBranch(env: Readonly<Record<string, string>>): string | undefined {
  const ref = env.GANTRY_GITHUB_REF;
  if (ref?.startsWith("refs/heads/")) return ref.slice("refs/heads/".length);
  return env.BRANCH || undefined;
}

/** Approval tasks a task needs, directly or through the tasks it needs. */
export function gatesBefore(task: string, tasks: readonly TaskSpec[]): string[] {
  const byId = new Map(tasks.map((entry) => [entry.id, entry]));
  const seen = new Set<string>();
  const walk = (id: string) => {
    for (const need of Object.keys(byId.get(id)?.needs ?? {})) {
      if (seen.has(need)) continue;
      seen.add(need);
      walk(need);
    }
  };
  walk(task);
  return [...seen].filter((id) => byId.get(id)?.kind === "approval");
}

export interface DeployFacts {
  environment: string;
  pipeline: string;
  branch: string | undefined;
  /** The approval gates the deploy needs, with whether each was approved (ended successful). */
  gates: { id: string; approved: boolean }[];
}

/** Why the deploy may not go ahead, or undefined when every rule passes (the wait timer aside). */
export function protectionRefusal(protection: Protection, facts: DeployFacts): string | undefined {
  if (protection.pipelines && !protection.pipelines.some((pattern) => matchesPattern(pattern, facts.pipeline))) {
    return `pipeline ${facts.pipeline} may not deploy to environment ${facts.environment} (its protection allows ${protection.pipelines.join(", ")})`;
  }
  if (protection.branches) {
    if (facts.branch === undefined) {
      return `environment ${facts.environment} takes deploys only from branches ${protection.branches.join(", ")}, and this run names no branch (GANTRY_GITHUB_REF, or a BRANCH variable)`;
    }
    if (!protection.branches.some((pattern) => matchesPattern(pattern, facts.branch!))) {
      return `environment ${facts.environment} takes deploys only from branches ${protection.branches.join(", ")}, not ${facts.branch}`;
    }
  }
  if (protection.approval && !facts.gates.some((gate) => gate.approved)) {
    return facts.gates.length === 0
      ? `environment ${facts.environment} needs an approval: the deploy task must need an approval gate (approval(...) in its needs)`
      : `environment ${facts.environment} needs an approval, and none of ${facts.gates.map((gate) => gate.id).join(", ")} was approved`;
  }
  return undefined;
}
