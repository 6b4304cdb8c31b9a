// A test run started as a trigger would start it: a webhook body mapped through the pipeline's
// webhook() trigger, or a GitHub delivery matched against its github() triggers and read into
// GANTRY_GITHUB_* variables, with the very functions the built-in extensions use.
import type { PipelineSpec } from "../domain/pipeline-spec.ts";
import { githubTriggerMatches, readGithubEvent, webhookVariables } from "../sdk/trigger-events.ts";

/** What started a test run. */
export type TestTrigger =
  /** A JSON body posted to the pipeline's webhook (its `variables` map picks the values). */
  | { webhook: unknown }
  /** A GitHub delivery: the event ("push", "pull_request", "release") and its payload. */
  | { github: { event: string; payload: unknown; delivery?: string } };

/** The run variables the trigger sets, and whether its run gets no secrets (a fork's pull request); throws when the pipeline would not start for it. */
export function triggerVariables(spec: PipelineSpec, trigger: TestTrigger | undefined): { variables: Record<string, string>; fromFork: boolean } {
  if (trigger === undefined) return { variables: {}, fromFork: false };
  if ("webhook" in trigger) {
    const hook = spec.triggers.find((candidate) => candidate.kind === "webhook");
    if (!hook || hook.kind !== "webhook") throw new Error(`${spec.id} has no webhook() trigger, so no webhook body starts it`);
    const mapped = webhookVariables(trigger.webhook, hook.variables ?? {});
    if (!mapped.ok) throw new Error(`the webhook would refuse this body: ${mapped.problem}`);
    return { variables: mapped.variables, fromFork: false };
  }
  const { event, payload, delivery } = trigger.github;
  const found = readGithubEvent(event, payload, delivery);
  if (!found) throw new Error(`a GitHub "${event}" delivery with this payload starts no run (only push, pull_request and release with repository.full_name do; a deleted branch does not)`);
  const triggers = spec.triggers.filter((candidate) => candidate.kind === "github");
  if (triggers.length === 0) throw new Error(`${spec.id} has no github() trigger`);
  if (!triggers.some((candidate) => candidate.kind === "github" && githubTriggerMatches(candidate, found))) {
    const listens = triggers.map((candidate) => (candidate.kind === "github" ? `${candidate.repo} ${candidate.events.join("/")}${candidate.branches ? ` on ${candidate.branches.join(", ")}` : ""}` : "")).join("; ");
    throw new Error(`${spec.id}'s github() trigger would not start a run for this ${found.event}${found.branch ? ` to ${found.branch}` : ""} of ${found.repo} (it listens to ${listens})`);
  }
  return { variables: found.variables, fromFork: found.fromFork };
}
