// A run's identity: its pipeline and its number, counting 1, 2, 3... per pipeline.
import type { PipelineKey } from "./pipeline-key.ts";

export interface RunKey extends PipelineKey {
  run: number;
}

/** "namespace/id#run": for messages, and as the key of maps and sets of runs. */
export const runKeyString = (key: RunKey): string => `${key.namespace}/${key.id}#${key.run}`;

/** The key of a stored run row. */
export const runKeyOf = (row: { namespace: string; pipelineId: string; id: number }): RunKey => ({
  namespace: row.namespace,
  id: row.pipelineId,
  run: row.id,
});

/** runKeyString of a stored run row. */
export const runRowKeyString = (row: { namespace: string; pipelineId: string; id: number }): string => runKeyString(runKeyOf(row));
