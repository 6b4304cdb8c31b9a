import { describe, expect, it } from "bun:test";
import { axisTicks, runTimeline, type TimelineAttempt, type TimelineTask } from "./run-timeline.ts";

const T0 = Date.parse("2026-12-07T10:00:00Z");
const at = (ms: number) => new Date(T0 + ms);

function attempt(n: number, from: number, to: number | null, state: TimelineAttempt["state"]): TimelineAttempt {
  return { attempt: n, state, startedAt: at(from), endedAt: to === null ? null : at(to) };
}

function task(taskId: string, attempts: TimelineAttempt[], extra: Partial<TimelineTask> = {}): TimelineTask {
  const last = attempts.at(-1);
  return {
    taskId,
    kind: "run",
    state: last ? (last.endedAt ? last.state : "running") : "pending",
    needs: {},
    startedAt: attempts[0]?.startedAt ?? null,
    endedAt: last?.endedAt ?? null,
    reusedFrom: null,
    attempts,
    ...extra,
  };
}

describe("runTimeline", () => {
  it("lays out a finished run: the queue, waits for a slot, retries, and the critical path through the need that ended last", () => {
    const timeline = runTimeline(
      {
        state: "successful",
        createdAt: at(0),
        startedAt: at(500),
        endedAt: at(9_000),
        tasks: [
          task("build", [attempt(1, 510, 2_000, "successful")]),
          task("lint", [attempt(1, 520, 1_000, "successful")]),
          // Ready at 2,000 (build's end) but got its slot at 3,000; failed once and retried after a pause.
          task("test", [attempt(1, 3_000, 4_000, "failed"), attempt(2, 5_000, 7_000, "successful")], { needs: { build: "success", lint: "success" } }),
          task("deploy", [attempt(1, 7_010, 8_900, "successful")], { needs: { test: "success", lint: "success" } }),
        ],
      },
      at(60_000),
    );
    expect(timeline.span).toBe(9_000);
    expect(timeline.queued).toEqual({ kind: "queued", from: 0, to: 500 });
    const test = timeline.rows.find((row) => row.taskId === "test")!;
    expect(test.segments).toEqual([
      { kind: "waiting", from: 2_000, to: 3_000 },
      { kind: "attempt", from: 3_000, to: 4_000, state: "failed", attempt: 1 },
      { kind: "retry", from: 4_000, to: 5_000 },
      { kind: "attempt", from: 5_000, to: 7_000, state: "successful", attempt: 2 },
    ]);
    // deploy waited for test (ended last of its needs), test for build, not lint.
    expect(timeline.criticalPath).toEqual(["build", "test", "deploy"]);
    expect(timeline.rows.filter((row) => row.critical).map((row) => row.taskId)).toEqual(["build", "test", "deploy"]);
    // Rows in the order they started.
    expect(timeline.rows.map((row) => row.taskId)).toEqual(["build", "lint", "test", "deploy"]);
  });

  it("draws a run still going up to now: the running attempt, a ready task waiting for its slot, a pause before a retry", () => {
    const timeline = runTimeline(
      {
        state: "running",
        createdAt: at(0),
        startedAt: at(0),
        endedAt: null,
        tasks: [
          task("one", [attempt(1, 10, null, "running")]),
          task("two", []),
          task("flaky", [attempt(1, 20, 1_000, "failed")], { state: "running", endedAt: null }),
          task("later", [], { needs: { one: "success" } }),
        ],
      },
      at(3_000),
    );
    const row = (id: string) => timeline.rows.find((r) => r.taskId === id)!;
    expect(row("one").segments).toEqual([{ kind: "attempt", from: 10, to: 3_000, state: "running", attempt: 1, open: true }]);
    expect(row("two").segments).toEqual([{ kind: "waiting", from: 0, to: 3_000, open: true }]);
    expect(row("flaky").segments.at(-1)).toEqual({ kind: "retry", from: 1_000, to: 3_000, open: true });
    // Its need is not done: it is not waiting for a slot, it waits for its need.
    expect(row("later").segments).toEqual([]);
    expect(timeline.rows.at(-1)!.taskId).toBe("later");
    expect(timeline.span).toBe(3_000);
  });

  it("shows an approval's wait and a run cancelled in its queue; reused and skipped tasks get no bars", () => {
    const gate = task("approve", [], { kind: "approval", state: "successful", startedAt: at(1_000), endedAt: at(4_000) });
    const approved = runTimeline(
      {
        state: "successful",
        createdAt: at(0),
        startedAt: at(0),
        endedAt: at(4_000),
        tasks: [gate, task("kept", [], { state: "reused", reusedFrom: 3 }), task("never", [], { state: "skipped" })],
      },
      at(10_000),
    );
    expect(approved.rows.find((row) => row.taskId === "approve")!.segments).toEqual([
      { kind: "waiting", from: 0, to: 1_000 },
      { kind: "approval", from: 1_000, to: 4_000, state: "successful" },
    ]);
    expect(approved.rows.find((row) => row.taskId === "kept")!.segments).toEqual([]);
    expect(approved.rows.find((row) => row.taskId === "never")!.segments).toEqual([]);
    const cancelled = runTimeline({ state: "cancelled", createdAt: at(0), startedAt: null, endedAt: at(2_000), tasks: [task("build", [])] }, at(9_000));
    expect(cancelled.queued).toEqual({ kind: "queued", from: 0, to: 2_000 });
    expect(cancelled.rows[0]!.segments).toEqual([]);
    expect(cancelled.criticalPath).toEqual([]);
  });
});

describe("axisTicks", () => {
  it("picks round steps that fit", () => {
    expect(axisTicks(9_000, 6)).toEqual([0, 2_000, 4_000, 6_000, 8_000]);
    expect(axisTicks(45, 6)).toEqual([0, 10, 20, 30, 40]);
    expect(axisTicks(3_600_000, 6).length).toBeLessThanOrEqual(6);
  });
});
