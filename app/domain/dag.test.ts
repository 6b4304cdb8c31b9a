import { describe, expect, it } from "bun:test";
import { findDagProblems, nextStep, runOutcome, type DagTask } from "./dag.ts";
import type { TaskState } from "./states.ts";

const task = (id: string, needs: DagTask["needs"] = {}): DagTask => ({ id, needs });

/** Drives a DAG as the orchestrator does: apply skips until none are left, then report. */
function settle(tasks: DagTask[], states: Map<string, TaskState>) {
  for (;;) {
    const step = nextStep(tasks, states);
    if (step.skip.length === 0) return step;
    for (const id of step.skip) states.set(id, "skipped");
  }
}

/** Runs a whole DAG where each started task ends in `outcomes[id]` (successful by default). */
function simulate(tasks: DagTask[], outcomes: Record<string, TaskState> = {}) {
  const states = new Map<string, TaskState>(tasks.map((t) => [t.id, "pending"]));
  const order: string[] = [];
  for (let guard = 0; guard < 100; guard++) {
    const step = settle(tasks, states);
    if (step.ready.length === 0) break;
    for (const id of step.ready) {
      order.push(id);
      states.set(id, outcomes[id] ?? "successful");
    }
  }
  return { states: Object.fromEntries(states), order, outcome: runOutcome(states.values()) };
}

describe("findDagProblems", () => {
  it("accepts a valid graph", () => {
    expect(findDagProblems([task("a"), task("b", { a: "success" }), task("c", { a: "any", b: "failure" })])).toEqual([]);
  });

  it("names an unknown upstream task with its path", () => {
    const issues = findDagProblems([task("build"), task("test", { biuld: "success" })]);
    expect(issues).toEqual([{ path: "tasks.test.needs.biuld", message: 'unknown task "biuld"' }]);
  });

  it("rejects a task that needs itself", () => {
    const issues = findDagProblems([task("loop", { loop: "any" })]);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe("tasks.loop.needs.loop");
    expect(issues[0]!.message).toContain("itself");
  });

  it("reports a cycle with the tasks along it", () => {
    const issues = findDagProblems([
      task("start"),
      task("a", { start: "success", c: "success" }),
      task("b", { a: "success" }),
      task("c", { b: "any" }),
    ]);
    expect(issues).toHaveLength(1);
    const message = issues[0]!.message;
    expect(message).toStartWith("cycle: ");
    // The path starts and ends at the same task and names every task on the cycle, not "start".
    const path = message.slice("cycle: ".length).split(" needs ");
    expect(path[0]).toBe(path.at(-1)!);
    expect(new Set(path)).toEqual(new Set(["a", "b", "c"]));
    expect(issues[0]!.path).toBe(`tasks.${path[0]}.needs`);
  });

  it("reports a two-task cycle", () => {
    const issues = findDagProblems([task("x", { y: "success" }), task("y", { x: "success" })]);
    expect(issues[0]!.message).toMatch(/^cycle: (x needs y needs x|y needs x needs y)$/);
  });
});

describe("nextStep", () => {
  it("starts tasks without needs first, dependents only after their upstream ends", () => {
    const tasks = [task("a"), task("b"), task("c", { a: "success", b: "success" })];
    const states = new Map<string, TaskState>([
      ["a", "pending"],
      ["b", "pending"],
      ["c", "pending"],
    ]);
    expect(nextStep(tasks, states)).toEqual({ ready: ["a", "b"], skip: [] });
    states.set("a", "successful");
    states.set("b", "running");
    expect(nextStep(tasks, states)).toEqual({ ready: [], skip: [] });
    states.set("b", "successful");
    expect(nextStep(tasks, states)).toEqual({ ready: ["c"], skip: [] });
  });

  it("never offers a task that is already running or finished", () => {
    const tasks = [task("a"), task("b")];
    const states = new Map<string, TaskState>([
      ["a", "running"],
      ["b", "successful"],
    ]);
    expect(nextStep(tasks, states)).toEqual({ ready: [], skip: [] });
  });

  it("success: runs after success, skipped after failure", () => {
    const tasks = [task("a"), task("b", { a: "success" })];
    expect(nextStep(tasks, new Map([["a", "successful"], ["b", "pending"]]))).toEqual({ ready: ["b"], skip: [] });
    expect(nextStep(tasks, new Map([["a", "failed"], ["b", "pending"]]))).toEqual({ ready: [], skip: ["b"] });
    expect(nextStep(tasks, new Map([["a", "skipped"], ["b", "pending"]]))).toEqual({ ready: [], skip: ["b"] });
  });

  it("failure: runs after failure, skipped after success", () => {
    const tasks = [task("a"), task("b", { a: "failure" })];
    expect(nextStep(tasks, new Map([["a", "failed"], ["b", "pending"]]))).toEqual({ ready: ["b"], skip: [] });
    expect(nextStep(tasks, new Map([["a", "successful"], ["b", "pending"]]))).toEqual({ ready: [], skip: ["b"] });
  });

  it("any: runs after every final state of its upstream", () => {
    const tasks = [task("a"), task("b", { a: "any" })];
    for (const final of ["successful", "failed", "skipped", "cancelled"] as const) {
      expect(nextStep(tasks, new Map([["a", final], ["b", "pending"]]))).toEqual({ ready: ["b"], skip: [] });
    }
    expect(nextStep(tasks, new Map([["a", "running"], ["b", "pending"]]))).toEqual({ ready: [], skip: [] });
  });

  it("skips as soon as one upstream fails its condition, without waiting for the others", () => {
    const tasks = [task("a"), task("b"), task("c", { a: "success", b: "success" })];
    const states = new Map<string, TaskState>([
      ["a", "failed"],
      ["b", "running"],
      ["c", "pending"],
    ]);
    expect(nextStep(tasks, states)).toEqual({ ready: [], skip: ["c"] });
  });
});

describe("running a whole DAG", () => {
  it("propagates a skip down a chain", () => {
    const tasks = [task("a"), task("b", { a: "success" }), task("c", { b: "success" }), task("d", { c: "success" })];
    const result = simulate(tasks, { a: "failed" });
    expect(result.states).toEqual({ a: "failed", b: "skipped", c: "skipped", d: "skipped" });
    expect(result.order).toEqual(["a"]);
    expect(result.outcome).toBe("failed");
  });

  it("lets an `any` task run after a skipped chain", () => {
    const tasks = [task("a"), task("b", { a: "success" }), task("c", { b: "success" }), task("report", { c: "any" })];
    const result = simulate(tasks, { a: "failed" });
    expect(result.states).toEqual({ a: "failed", b: "skipped", c: "skipped", report: "successful" });
    expect(result.order).toEqual(["a", "report"]);
  });

  it("runs the failure handler only when its upstream fails", () => {
    const tasks = [task("test"), task("deploy", { test: "success" }), task("page", { test: "failure" })];

    const green = simulate(tasks);
    expect(green.states).toEqual({ test: "successful", deploy: "successful", page: "skipped" });
    expect(green.order).not.toContain("page");
    expect(green.outcome).toBe("successful");

    const red = simulate(tasks, { test: "failed" });
    expect(red.states).toEqual({ test: "failed", deploy: "skipped", page: "successful" });
    expect(red.order).toEqual(["test", "page"]);
    expect(red.outcome).toBe("failed");
  });

  it("runs a diamond in dependency order", () => {
    const tasks = [task("d", { b: "success", c: "success" }), task("b", { a: "success" }), task("c", { a: "success" }), task("a")];
    const { order } = simulate(tasks);
    expect(order[0]).toBe("a");
    expect(order.slice(1, 3).sort()).toEqual(["b", "c"]);
    expect(order[3]).toBe("d");
  });
});

describe("runOutcome", () => {
  it("is successful when nothing failed (skips included)", () => {
    expect(runOutcome(["successful", "skipped", "successful"])).toBe("successful");
  });

  it("is failed when any task failed", () => {
    expect(runOutcome(["successful", "failed", "skipped"])).toBe("failed");
  });

  it("is cancelled when any task was cancelled, even if another failed", () => {
    expect(runOutcome(["failed", "cancelled", "successful"])).toBe("cancelled");
    expect(runOutcome(["cancelled", "failed"])).toBe("cancelled");
  });
});
