// A run's node on a cluster: its tasks share one workspace, so the node that took its first
// task takes them all. The first task to start places the run; tasks starting meanwhile wait
// for its node; the node is stored on the run, so a restarted server keeps placing there.
import type { RunPlacement } from "../executors/executor.ts";

export interface RunPlacementState extends RunPlacement {
  /** The run's node, once known. */
  readonly node: string | undefined;
}

/** The placement of one run, in memory, from the node stored with it (null: not placed yet). */
export function createRunPlacement(stored: string | null): RunPlacementState {
  let node = stored ?? undefined;
  // Set while a task of the run is being placed: the others wait for it to settle.
  let placing: { settled: Promise<void>; settle: () => void } | undefined;
  return {
    get node() {
      return node;
    },
    async claim(signal) {
      for (;;) {
        if (node !== undefined) return node;
        if (!placing) {
          let settle!: () => void;
          const settled = new Promise<void>((resolve) => (settle = resolve));
          placing = { settled, settle };
          return undefined;
        }
        if (signal?.aborted) throw signal.reason;
        const aborted = new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
        await Promise.race([placing.settled, aborted]);
      }
    },
    async placed(at) {
      node ??= at;
      const wait = placing;
      placing = undefined;
      wait?.settle();
    },
    unplaced() {
      const wait = placing;
      placing = undefined;
      wait?.settle();
    },
  };
}

/**
 * The placement as an executor gets it: a node is stored on the run (`record` stores it unless
 * one is stored already, and answers the stored one) before the tasks waiting for it go there.
 */
export function recordingPlacement(placement: RunPlacementState, record: (node: string) => Promise<string>): RunPlacement {
  return {
    claim: (signal) => placement.claim(signal),
    async placed(node) {
      if (placement.node !== undefined) return placement.placed(placement.node);
      // Not stored (the database is away for a moment): this process still keeps the run together.
      const stored = await record(node).catch((error: unknown) => {
        console.error(`recording the run's node ${node} failed:`, error);
        return node;
      });
      await placement.placed(stored);
    },
    unplaced: () => placement.unplaced(),
  };
}

/**
 * A placement whose first claim was made earlier: a re-attached task of a run with no stored
 * node claims as the run is taken back, before any new task can, since its service may be
 * the run's unplaced first task. Its executor's first claim answers that one; `release` gives
 * it up when the executor made none (nothing was found, or it places nothing), so the next
 * task places the run.
 */
export function heldPlacement(placement: RunPlacement, held: Promise<string | undefined>): RunPlacement & { release(): Promise<void> } {
  let pending: Promise<string | undefined> | undefined = held;
  return {
    claim(signal) {
      const first = pending;
      pending = undefined;
      return first ?? placement.claim(signal);
    },
    placed: (node) => placement.placed(node),
    unplaced: () => placement.unplaced(),
    async release() {
      const first = pending;
      pending = undefined;
      if (first !== undefined && (await first.catch(() => "stopped")) === undefined) placement.unplaced();
    },
  };
}
