// Where a container task may run on a cluster: the node labels it asks for (`runsOn`), merged
// from its pipeline's, and the scheduling constraints they become. A run's tasks share one
// workspace, so once its first task has a node every later one is pinned to that node too.
// A run() task's runner service goes where it can reach the API (runnerReach).
import { isLoopbackHost } from "./loopback.ts";

/** A node label key: a letter or digit, then letters, digits and . _ - / (Docker's label keys, without spaces or operators). */
export const NODE_LABEL_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
/** A node label value: 1-128 of letters, digits and . _ -, so no value can add or change a constraint. */
export const NODE_LABEL_VALUE_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

export const NODE_LABEL_KEY_MESSAGE = "must be a node label key: 1-128 of A-Z a-z 0-9 . _ - / (starting with a letter or digit)";
export const NODE_LABEL_VALUE_MESSAGE = "must be a node label value: 1-128 of A-Z a-z 0-9 . _ -";

/** What a task asks of its node. */
export interface RunsOn {
  /** Node labels (`docker node update --label-add key=value`) the node must carry, each with this value. */
  labels: Record<string, string>;
}

/** A task's own labels over its pipeline's: the task wins per key, the others add up. Undefined when neither asks. */
export function mergeRunsOn(pipeline: RunsOn | undefined, task: RunsOn | undefined): RunsOn | undefined {
  if (!pipeline && !task) return undefined;
  return { labels: { ...pipeline?.labels, ...task?.labels } };
}

/** Swarm's placement constraints: one per label, and the run's node once it has one. */
export function placementConstraints(runsOn: RunsOn | undefined, node?: string): string[] {
  return [
    ...Object.entries(runsOn?.labels ?? {}).map(([key, value]) => `node.labels.${key}==${value}`),
    ...(node !== undefined ? [`node.id==${node}`] : []),
  ];
}

/** The labels as people write them: "gpu=true, zone=eu". */
export function describeRunsOn(runsOn: RunsOn | undefined): string {
  return Object.entries(runsOn?.labels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
}

/** How the reason of a task that waits for a node starts (its phase is read from it). */
export const WAITING_FOR_NODE = "waiting for a node";

/** Why a task no node can take waits, for its log and its reason. */
export function waitingForNodeReason(runsOn: RunsOn | undefined, node: string | undefined, schedulerSays: string | undefined): string {
  const wants = [
    ...(runsOn && Object.keys(runsOn.labels).length > 0 ? [`no node matches ${describeRunsOn(runsOn)}`] : []),
    ...(node !== undefined ? [`the run's tasks share its workspace on node ${node}`] : []),
  ];
  const why = wants.length > 0 ? wants.join("; ") : "no node can take it";
  return `${WAITING_FOR_NODE}: ${why}${schedulerSays ? ` (swarm: ${schedulerSays})` : ""}`;
}

/**
 * Where a run() task's runner service can reach the API, which it fetches its bundle from: a
 * loopback URL is the server itself only on the host network of the server's own node (on any
 * other network it is the container itself); any other URL, wherever the network reaches it.
 */
export function runnerReach(apiUrl: string, network: string): { serverNodeOnly: boolean } | { problem: string } {
  let host: string;
  try {
    host = new URL(apiUrl).hostname;
  } catch {
    return { problem: `the runner's API URL ${apiUrl} is not a URL: set GANTRY_RUNNER_API_URL` };
  }
  if (!isLoopbackHost(host)) return { serverNodeOnly: false };
  if (network === "host") return { serverNodeOnly: true };
  return {
    problem: `a runner service on network "${network}" cannot reach the API at ${apiUrl} (a loopback address is the container itself there): set GANTRY_RUNNER_API_URL to an address the nodes reach, or GANTRY_RUNNER_NETWORK=host`,
  };
}
