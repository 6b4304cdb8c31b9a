// Which queued runs may start, which are superseded and which running runs a new one
// cancels: a pure decision from the queue, the running runs and the pause switch.
// Runs share a limit under their concurrency key; each key's queue starts in order.
import { groupName, type RunConcurrency } from "./concurrency.ts";
import type { RunKey } from "./run-key.ts";

export interface QueuedRun {
  key: RunKey;
  /** Queue order across all pipelines: lower waited longer. */
  order: number;
  concurrencyKey: string | null;
  concurrency: RunConcurrency | null;
}

export interface RunningRun {
  key: RunKey;
  order: number;
  concurrencyKey: string | null;
  /** A cancel was asked for; the run still holds its place until it ends. */
  cancelRequested: boolean;
}

export interface AdmissionState {
  paused: boolean;
  queued: readonly QueuedRun[];
  /** The running runs of the queued runs' concurrency keys (others do not matter). */
  running: readonly RunningRun[];
}

export interface AdmissionDecision {
  /** Queued runs that may start now, in queue order. */
  admit: RunKey[];
  /** Queued runs a newer one of their key replaces (queue: "latest"). */
  supersede: { run: RunKey; by: RunKey }[];
  /** Running runs a newer one of their key cancels (cancelInProgress). */
  cancel: { run: RunKey; by: RunKey }[];
}

const byOrder = <T extends { order: number }>(runs: readonly T[]) => [...runs].sort((a, b) => a.order - b.order);

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list) list.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/** Runs without a key queue only while paused; each gets a queue of its own. */
const queueKey = (run: { key: RunKey; concurrencyKey: string | null }) =>
  run.concurrencyKey ?? `\u0000${run.key.namespace}/${run.key.id}#${run.key.run}`;

export function decideAdmission(state: AdmissionState): AdmissionDecision {
  const decision: AdmissionDecision = { admit: [], supersede: [], cancel: [] };
  const admitted: QueuedRun[] = [];
  const queues = groupBy(byOrder(state.queued), queueKey);
  const running = groupBy(
    state.running.filter((run) => run.concurrencyKey !== null),
    (run) => run.concurrencyKey!,
  );
  for (const [key, queue] of queues) {
    const newest = queue[queue.length - 1]!;
    let waiting = queue;
    if (newest.concurrency?.queue === "latest" && queue.length > 1) {
      for (const older of queue.slice(0, -1)) decision.supersede.push({ run: older.key, by: newest.key });
      waiting = [newest];
    }
    const members = running.get(key) ?? [];
    // Cancelling while paused would leave the group with nothing running and nothing starting.
    const canceller = state.paused ? undefined : [...waiting].reverse().find((run) => run.concurrency?.cancelInProgress);
    if (canceller) {
      for (const member of members) {
        if (!member.cancelRequested && member.order < canceller.order) decision.cancel.push({ run: member.key, by: canceller.key });
      }
    }
    if (state.paused) continue;
    let occupied = members.length;
    for (const run of waiting) {
      const limit = run.concurrency?.limit ?? Infinity;
      // In order: a run never overtakes an older one of its key.
      if (occupied >= limit) break;
      admitted.push(run);
      occupied++;
    }
  }
  decision.admit = byOrder(admitted).map((run) => run.key);
  return decision;
}

export interface QueuePlace {
  /** 1 for the next run of its queue to start. */
  position: number;
  /** Why it waits, in a sentence ("waiting for run 12 of group deploy-main"). */
  waitingFor: string;
}

/** Where a queued run stands and why it has not started, for pages and the API. */
export function describeQueuePlace(run: QueuedRun, state: AdmissionState): QueuePlace {
  const queue = byOrder(state.queued.filter((other) => queueKey(other) === queueKey(run)));
  const position = Math.max(1, queue.findIndex((other) => other.order === run.order) + 1);
  const group = groupName(run.concurrencyKey);
  const where = group !== undefined ? ` of group ${group}` : "";
  const name = (key: RunKey) => (key.namespace === run.key.namespace && key.id === run.key.id ? `run ${key.run}` : `run ${key.run} of ${key.namespace}/${key.id}`);
  if (state.paused) return { position, waitingFor: "Gantry is paused: new runs wait until it is resumed" };
  if (position > 1) return { position, waitingFor: `queued behind ${name(queue[position - 2]!.key)}${where}` };
  const members = byOrder(state.running.filter((other) => other.concurrencyKey !== null && other.concurrencyKey === run.concurrencyKey));
  const limit = run.concurrency?.limit;
  if (limit !== null && limit !== undefined && members.length >= limit) {
    const names = members.map((member) => name(member.key));
    const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]!.replace(/^run /, "")}`;
    const runs = names.length === 1 ? list : list.replace(/^run /, "runs ");
    // "run 3 of ns/other of group x" would read badly: another pipeline's run is named apart.
    const groupPart = group === undefined ? ` (this pipeline runs at most ${limit} at once)` : names.some((text) => text.includes(" of ")) ? `, in group ${group}` : where;
    return { position, waitingFor: `waiting for ${runs}${groupPart}` };
  }
  return { position, waitingFor: "about to start" };
}
