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

/**
 * The branch a run is for, as the system knows it: the branch a GitHub push delivered
 * (GANTRY_GITHUB_REF refs/heads/<branch>). Never a variable whoever starts the run could set, and
 * never a pull request's or a tag's ref: a branch rule is a control, not a label.
 */
export function runBranch(env: Readonly<Record<string, string>>): string | undefined {
  const ref = env.GANTRY_GITHUB_REF;
  return ref?.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined;
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

/** A gate's end that counts for an environment: approved by a person, not automatically, not by the run's starter. */
export function approvedByAnother(
  gate: { state: string; decision: { outcome: string; auto?: string; userId?: string; tokenId?: string } | null } | undefined,
  starter: { userId?: string; tokenId?: string } | null,
): boolean {
  if (!gate || gate.state !== "successful" || gate.decision?.outcome !== "approved" || gate.decision.auto !== undefined) return false;
  const { userId, tokenId } = gate.decision;
  if (starter?.userId !== undefined && userId === starter.userId) return false;
  if (starter?.tokenId !== undefined && tokenId === starter.tokenId) return false;
  return true;
}

export interface DeployFacts {
  environment: string;
  pipeline: string;
  branch: string | undefined;
  /** The approval gates the deploy needs, with whether each was approved by a person other than the run's starter. */
  gates: { id: string; approved: boolean }[];
}

/** Why the deploy may not go ahead, or undefined when every rule passes (the wait timer aside). */
export function protectionRefusal(protection: Protection, facts: DeployFacts): string | undefined {
  if (protection.pipelines && !protection.pipelines.some((pattern) => matchesPattern(pattern, facts.pipeline))) {
    return `pipeline ${facts.pipeline} may not deploy to environment ${facts.environment} (its protection allows ${protection.pipelines.join(", ")})`;
  }
  if (protection.branches) {
    if (facts.branch === undefined) {
      return `environment ${facts.environment} takes deploys only from branches ${protection.branches.join(", ")}, and this run was not started by a push to a branch (GANTRY_GITHUB_REF)`;
    }
    if (!protection.branches.some((pattern) => matchesPattern(pattern, facts.branch!))) {
      return `environment ${facts.environment} takes deploys only from branches ${protection.branches.join(", ")}, not ${facts.branch}`;
    }
  }
  if (protection.approval && !facts.gates.some((gate) => gate.approved)) {
    return facts.gates.length === 0
      ? `environment ${facts.environment} needs an approval: the deploy task must need an approval gate (approval(...) in its needs)`
      : `environment ${facts.environment} needs an approval by a person other than the run's starter, and none of ${facts.gates.map((gate) => gate.id).join(", ")} was (an automatic or self-approval does not count)`;
  }
  return undefined;
}
