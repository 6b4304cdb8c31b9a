// Concurrency of runs: how many runs of a pipeline, or of a named group of the namespace,
// may run at once, and what happens to queued and running ones when a new run arrives.
// The group key is a template with ${VAR} taken from the run's variables.
import type { PipelineKey } from "./pipeline-key.ts";

export type QueuePolicy = "all" | "latest";

/** A pipeline's concurrency settings as stored with its version. */
export interface ConcurrencySpec {
  /** Runs of the pipeline (or of the group) running at once; unlimited when absent. */
  limit?: number;
  /** A key shared by the namespace's pipelines, e.g. "deploy-${BRANCH}". */
  group?: string;
  /** "latest": only the newest queued run waits; older queued ones are superseded. */
  queue: QueuePolicy;
  /** A new run cancels the running runs of its group. */
  cancelInProgress: boolean;
}

/** What a run carries of its version's settings, so admission needs no version. */
export interface RunConcurrency {
  limit: number | null;
  queue: QueuePolicy;
  cancelInProgress: boolean;
}

const VARIABLE_REFERENCE = /\$\{([^}]*)\}/g;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Problems of a group template: malformed references and variables that no run can have.
 * Known are the pipeline's variables and the system's GANTRY_* ones (an unset one is empty).
 */
export function groupTemplateProblems(template: string, variables: readonly string[]): string[] {
  const problems: string[] = [];
  if (template.trim() === "") problems.push("must not be empty");
  for (const match of template.matchAll(VARIABLE_REFERENCE)) {
    const name = match[1]!;
    if (!VARIABLE_NAME.test(name)) {
      problems.push(`"\${${name}}" is not a variable reference; write \${NAME}`);
    } else if (!name.startsWith("GANTRY_") && !variables.includes(name)) {
      problems.push(
        `unknown variable "${name}"; the group key can use the pipeline's variables${variables.length ? ` (${variables.join(", ")})` : ", and it declares none"} and GANTRY_* ones`,
      );
    }
  }
  if (/\$\{(?![^}]*\})/.test(template)) problems.push('"${" is not closed with "}"');
  return problems;
}

/** The group template with the run's variables filled in (an unknown one is empty). */
export function expandGroup(template: string, variables: Readonly<Record<string, string>>): string {
  return template.replace(VARIABLE_REFERENCE, (_, name: string) => variables[name] ?? "");
}

/**
 * The key runs share a limit under: "<namespace>:<group>" for a group (shared by the
 * namespace's pipelines), "<namespace>/<id>" for the pipeline alone. Pipeline ids hold
 * no ":" so the two never meet. Null when the pipeline sets nothing that needs a queue.
 */
export function concurrencyKey(pipeline: PipelineKey, spec: ConcurrencySpec | undefined, variables: Readonly<Record<string, string>>): string | null {
  if (!spec) return null;
  if (spec.group !== undefined) return `${pipeline.namespace}:${expandGroup(spec.group, variables)}`;
  return `${pipeline.namespace}/${pipeline.id}`;
}

/** The group's name as people wrote it (after expansion), or undefined for a pipeline's own key. */
export function groupName(key: string | null): string | undefined {
  if (!key) return undefined;
  const colon = key.indexOf(":");
  return colon === -1 ? undefined : key.slice(colon + 1);
}

export function runConcurrency(spec: ConcurrencySpec | undefined): RunConcurrency | null {
  if (!spec) return null;
  return { limit: spec.limit ?? null, queue: spec.queue, cancelInProgress: spec.cancelInProgress };
}
