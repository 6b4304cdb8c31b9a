// What the run page reads about a run's findings: shown when its version has a scan (a task
// with a SARIF report) or when findings were stored; nothing for other runs.
import { readRunFindings, type RunFindings } from "../../db/repos/findings.ts";
import type { Deps } from "../../deps.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import type { RunKey } from "../../domain/run-key.ts";

/** `specTasks`: the run version's tasks (whole TaskSpecs, though the run page types them narrowly). */
export async function runPageFindings(deps: Deps, key: RunKey, specTasks: readonly Pick<TaskSpec, "id">[]): Promise<RunFindings | undefined> {
  const data = await readRunFindings(deps.db, key);
  const scans = specTasks.some((task) => (task as Partial<TaskSpec>).sarif !== undefined);
  return scans || data.findings.length > 0 ? data : undefined;
}
