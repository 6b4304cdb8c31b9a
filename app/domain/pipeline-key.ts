// A pipeline's identity: its namespace (the folder under pipelines/) and its id.

export interface PipelineKey {
  namespace: string;
  id: string;
}
