import { describe, expect, it } from "bun:test";
import type { DagTask } from "./dag.ts";
import { planRerun } from "./rerun-plan.ts";
import type { TaskState } from "./states.ts";

const task = (id: string, needs: DagTask["needs"] = {}): DagTask => ({ id, needs });
const plan = (tasks: DagTask[], original: Record<string, TaskState>, only: "all" | "failed") =>
  Object.fromEntries(planRerun(tasks, new Map(Object.entries(original)), only));

describe("planRerun", () => {
  const tasks = [task("lint"), task("build"), task("test", { build: "success" }), task("page", { build: "failure" }), task("deploy", { test: "success", lint: "success" })];

  it("runs every task again with all", () => {
    expect(Object.values(plan(tasks, { lint: "successful", build: "successful", test: "failed", page: "skipped", deploy: "skipped" }, "all"))).toEqual([
      "pending",
      "pending",
      "pending",
      "pending",
      "pending",
    ]);
  });

  it("with failed reuses successful tasks whose upstream is kept and runs what follows a failure", () => {
    expect(plan(tasks, { lint: "successful", build: "successful", test: "failed", page: "skipped", deploy: "skipped" }, "failed")).toEqual({
      lint: "reused",
      build: "reused",
      test: "pending",
      page: "pending",
      deploy: "pending",
    });
  });

  it("runs a successful task again when something upstream of it runs again", () => {
    // page ran (successfully) because build failed; build runs again, so page must too.
    expect(plan(tasks, { lint: "successful", build: "failed", test: "skipped", page: "successful", deploy: "skipped" }, "failed")).toMatchObject({
      build: "pending",
      page: "pending",
      lint: "reused",
    });
  });

  it("reuses a task the original had reused, and runs cancelled ones", () => {
    expect(plan([task("a"), task("b", { a: "success" })], { a: "reused", b: "cancelled" }, "failed")).toEqual({ a: "reused", b: "pending" });
  });
});

describe("a re-run of failed tasks and approval gates", () => {
  it("asks again at a gate that was approved, and runs what follows it", () => {
    const tasks: (DagTask & { kind?: string })[] = [
      { id: "build", needs: {} },
      { id: "gate", kind: "approval", needs: { build: "success" } },
      { id: "deploy", needs: { gate: "success" } },
    ];
    const plan = planRerun(tasks, new Map([["build", "successful"], ["gate", "successful"], ["deploy", "failed"]] as const), "failed");
    expect(Object.fromEntries(plan)).toEqual({ build: "reused", gate: "pending", deploy: "pending" });
  });
});
