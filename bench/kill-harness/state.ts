// What the driver did and what the server acknowledged, kept across kills: the checks at the
// end compare it with what the restarted server reports. Also the run JSON as the harness reads it.

export interface RunRecord {
  pipeline: string;
  id: number;
  via: "api" | "hook";
  /** Last state seen over the API. */
  state: string;
}

export interface Delivery {
  id: string;
  body: string;
  run: number;
}

export interface HarnessState {
  prefix: string;
  token: string;
  acked: Map<string, RunRecord>;
  deliveries: Delivery[];
  deliveriesSent: number;
  cancelsSent: Set<string>;
  cancelsAcked: Set<string>;
  violations: string[];
  counter: number;
}

export function createState(prefix: string): HarnessState {
  return {
    prefix,
    token: "",
    acked: new Map(),
    deliveries: [],
    deliveriesSent: 0,
    cancelsSent: new Set(),
    cancelsAcked: new Set(),
    violations: [],
    counter: 0,
  };
}

/** The fields of GET /api/v1/.../runs/:run that the harness reads. */
export interface RunJson {
  id: number;
  state: string;
  reason?: string;
  variables: Record<string, string>;
  trigger: { kind: string };
  tasks: { id: string; kind: string; state: string; attempt: number; reason?: string; attempts: { attempt: number; state: string; reason?: string }[] }[];
}

export const FINAL_RUN_STATES = new Set(["successful", "failed", "cancelled"]);
export const FINAL_TASK_STATES = new Set(["successful", "failed", "skipped", "cancelled", "reused"]);

export const runKey = (pipeline: string, id: number) => `${pipeline}#${id}`;
