import { describe, expect, it } from "bun:test";
import type { DagTask } from "./dag.ts";
import { planRun, runEnd } from "./run-plan.ts";
import type { TaskState } from "./states.ts";

const task = (id: string, needs: DagTask["needs"] = {}): DagTask => ({ id, needs });
const states = (entries: Record<string, TaskState>) => new Map(Object.entries(entries));

describe("planRun", () => {
  const tasks = [task("build"), task("test", { build: "success" }), task("page", { build: "failure" }), task("report", { test: "any", page: "any" })];

  it("starts the ready tasks within the parallelism, minus those in flight", () => {
    const wide = [task("a"), task("b"), task("c"), task("d")];
    const plan = planRun({ tasks: wide, states: states({ a: "running", b: "pending", c: "pending", d: "pending" }), inFlight: new Set(["a"]), parallelism: 3 });
    expect(plan.start).toEqual(["b", "c"]);
    expect(plan.end).toBeUndefined();
  });

  it("skips what can no longer run, with the reason, transitively", () => {
    const plan = planRun({
      tasks: [...tasks, task("deploy", { test: "success" })],
      states: states({ build: "failed", test: "pending", page: "pending", report: "pending", deploy: "pending" }),
      inFlight: new Set(),
      parallelism: 4,
    });
    expect(plan.skip).toEqual([
      { task: "test", reason: "needs build to be successful, but it was failed" },
      { task: "deploy", reason: "needs test to be successful, but it was skipped" },
    ]);
    expect(plan.start).toEqual(["page"]);
  });

  it("counts a reused task as successful", () => {
    const plan = planRun({ tasks, states: states({ build: "reused", test: "pending", page: "pending", report: "pending" }), inFlight: new Set(), parallelism: 4 });
    expect(plan.start).toEqual(["test"]);
    expect(plan.skip.map((skip) => skip.task)).toEqual(["page"]);
  });

  it("on cancel starts nothing and ends the pending tasks, then the run with the cancel's reason", () => {
    const running = planRun({
      tasks,
      states: states({ build: "running", test: "pending", page: "pending", report: "pending" }),
      inFlight: new Set(["build"]),
      parallelism: 4,
      cancelled: "cancelled by alice",
    });
    expect(running.start).toEqual([]);
    expect(running.cancel).toEqual(["test", "page", "report"]);
    expect(running.end).toBeUndefined();
    const ended = planRun({
      tasks,
      states: states({ build: "cancelled", test: "cancelled", page: "cancelled", report: "cancelled" }),
      inFlight: new Set(),
      parallelism: 4,
      cancelled: "superseded by run 7",
    });
    expect(ended.end).toEqual({ state: "cancelled", reason: "superseded by run 7" });
  });

  it("ends the run once every task is final and nothing is in flight", () => {
    const plan = planRun({ tasks, states: states({ build: "successful", test: "failed", page: "skipped", report: "successful" }), inFlight: new Set(), parallelism: 4 });
    expect(plan.end).toEqual({ state: "failed", reason: "task test failed" });
  });
});

describe("runEnd", () => {
  it("names every failed task", () => {
    expect(runEnd(states({ a: "failed", b: "failed", c: "successful" }))).toEqual({ state: "failed", reason: "tasks a, b failed" });
  });
  it("is successful with reused and skipped tasks", () => {
    expect(runEnd(states({ a: "reused", b: "skipped", c: "successful" }))).toEqual({ state: "successful", reason: null });
  });
});
