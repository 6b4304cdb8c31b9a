import { describe, expect, it } from "bun:test";
import { decideAdmission, describeQueuePlace, type AdmissionState, type QueuedRun, type RunningRun } from "./admission.ts";
import type { RunConcurrency } from "./concurrency.ts";

const limit = (n: number | null, more: Partial<RunConcurrency> = {}): RunConcurrency => ({ limit: n, queue: "all", cancelInProgress: false, ...more });
const queued = (run: number, order: number, key: string | null, concurrency: RunConcurrency | null = null, pipeline = "deploy"): QueuedRun => ({
  key: { namespace: "default", id: pipeline, run },
  order,
  concurrencyKey: key,
  concurrency,
});
const running = (run: number, order: number, key: string | null, cancelRequested = false, pipeline = "deploy"): RunningRun => ({
  key: { namespace: "default", id: pipeline, run },
  order,
  concurrencyKey: key,
  cancelRequested,
});
const state = (partial: Partial<AdmissionState>): AdmissionState => ({ paused: false, queued: [], running: [], ...partial });
const runs = (keys: { run: number }[]) => keys.map((key) => key.run);

describe("decideAdmission", () => {
  it("admits queued runs up to the limit, oldest first, and no more", () => {
    const decision = decideAdmission(
      state({ queued: [queued(4, 40, "default/deploy", limit(2)), queued(3, 30, "default/deploy", limit(2)), queued(5, 50, "default/deploy", limit(2))], running: [running(2, 20, "default/deploy")] }),
    );
    expect(runs(decision.admit)).toEqual([3]);
    expect(decision.supersede).toEqual([]);
    expect(decision.cancel).toEqual([]);
  });

  it("counts runs asked to cancel as holding their place until they end", () => {
    const decision = decideAdmission(state({ queued: [queued(3, 30, "k", limit(1))], running: [running(2, 20, "k", true)] }));
    expect(decision.admit).toEqual([]);
  });

  it("never lets a run overtake an older one of its key", () => {
    // The older run's own limit is reached; a newer one with a higher limit still waits behind it.
    const decision = decideAdmission(state({ queued: [queued(3, 30, "k", limit(1)), queued(4, 40, "k", limit(5))], running: [running(2, 20, "k")] }));
    expect(decision.admit).toEqual([]);
  });

  it("keeps keys apart: a full group does not hold another", () => {
    const decision = decideAdmission(
      state({
        queued: [queued(3, 30, "default:deploy-main", limit(1)), queued(4, 40, "default:deploy-dev", limit(1))],
        running: [running(2, 20, "default:deploy-main")],
      }),
    );
    expect(runs(decision.admit)).toEqual([4]);
  });

  it("admits every run without a key at once, in order, unless paused", () => {
    const open = state({ queued: [queued(2, 20, null), queued(1, 10, null)] });
    expect(runs(decideAdmission(open).admit)).toEqual([1, 2]);
    expect(decideAdmission({ ...open, paused: true }).admit).toEqual([]);
  });

  it("with queue latest keeps only the newest queued run and supersedes the others by it", () => {
    const latest = limit(1, { queue: "latest" });
    const decision = decideAdmission(state({ queued: [queued(3, 30, "k", latest), queued(5, 50, "k", latest), queued(4, 40, "k", latest)], running: [running(2, 20, "k")] }));
    expect(decision.supersede.map(({ run, by }) => [run.run, by.run])).toEqual([
      [3, 5],
      [4, 5],
    ]);
    expect(decision.admit).toEqual([]);
  });

  it("supersedes while paused too, but admits nothing", () => {
    const latest = limit(null, { queue: "latest" });
    const decision = decideAdmission(state({ paused: true, queued: [queued(1, 10, "k", latest), queued(2, 20, "k", latest)] }));
    expect(decision.supersede.map(({ run }) => run.run)).toEqual([1]);
    expect(decision.admit).toEqual([]);
  });

  it("with cancelInProgress asks the group's older running runs to cancel, and waits for them under a limit", () => {
    const cancelling = limit(1, { cancelInProgress: true });
    const decision = decideAdmission(state({ queued: [queued(4, 40, "k", cancelling)], running: [running(2, 20, "k"), running(3, 30, "k", true)] }));
    expect(decision.cancel.map(({ run, by }) => [run.run, by.run])).toEqual([[2, 4]]);
    expect(decision.admit).toEqual([]);
  });

  it("does not cancel running runs while paused", () => {
    const decision = decideAdmission(state({ paused: true, queued: [queued(4, 40, "k", limit(1, { cancelInProgress: true }))], running: [running(2, 20, "k")] }));
    expect(decision.cancel).toEqual([]);
  });

  it("shares a group across pipelines of the namespace", () => {
    const decision = decideAdmission(
      state({ queued: [queued(7, 70, "default:shared", limit(1), "b")], running: [running(3, 30, "default:shared", false, "a")] }),
    );
    expect(decision.admit).toEqual([]);
  });
});

describe("describeQueuePlace", () => {
  it("says which running runs of the group a run waits for", () => {
    const head = queued(13, 130, "default:deploy-main", limit(1));
    const place = describeQueuePlace(head, state({ queued: [head], running: [running(12, 120, "default:deploy-main")] }));
    expect(place).toEqual({ position: 1, waitingFor: "waiting for run 12 of group deploy-main" });
  });

  it("names runs of other pipelines with their pipeline, and several at once", () => {
    const head = queued(9, 90, "default:shared", limit(2));
    const place = describeQueuePlace(
      head,
      state({ queued: [head], running: [running(3, 30, "default:shared", false, "other"), running(8, 80, "default:shared")] }),
    );
    expect(place.waitingFor).toBe("waiting for runs 3 of default/other and 8, in group shared");
  });

  it("gives a later run its position behind the one ahead of it", () => {
    const first = queued(13, 130, "default/deploy", limit(1));
    const second = queued(14, 140, "default/deploy", limit(1));
    const place = describeQueuePlace(second, state({ queued: [second, first], running: [running(12, 120, "default/deploy")] }));
    expect(place).toEqual({ position: 2, waitingFor: "queued behind run 13" });
  });

  it("says the pipeline's own limit when there is no group", () => {
    const head = queued(2, 20, "default/deploy", limit(1));
    expect(describeQueuePlace(head, state({ queued: [head], running: [running(1, 10, "default/deploy")] })).waitingFor).toBe(
      "waiting for run 1 (this pipeline runs at most 1 at once)",
    );
  });

  it("says when Gantry is paused", () => {
    const head = queued(2, 20, null);
    expect(describeQueuePlace(head, state({ paused: true, queued: [head] })).waitingFor).toContain("paused");
  });
});
