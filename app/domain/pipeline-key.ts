// A pipeline's identity: its namespace (the folder under pipelines/) and its id.

export interface PipelineKey {
  namespace: string;
  id: string;
}

/** "namespace/id", as paths, permissions and messages write it. */
export const pipelineKeyString = (key: PipelineKey): string => `${key.namespace}/${key.id}`;
