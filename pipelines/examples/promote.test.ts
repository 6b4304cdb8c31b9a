// Tests of the promote pipeline: inputs, and its approval gate decided by autoApprove, a
// person, or nobody. Run them with `gantry test pipelines/`.
import { describe, expect, it } from "bun:test";
import { testRun } from "gantry/testing";
import promote from "./promote.ts";

describe("promote", () => {
  it("rolls out to staging without waiting: autoApprove approves it", async () => {
    const run = await testRun(promote, { inputs: { env: "staging", replicas: 2 } });
    expect(run).toHaveSucceeded();
    expect(run.task("approve").reason).toBe("approved by autoApprove: autoApprove returned true");
    expect(run.task("roll").log).toBe("rolling replica 1/2 in staging\nrolling replica 2/2 in staging");
    expect(run.task("not-deployed")).toBeSkipped();
  });

  it("waits for a person for production, and changes nothing when they reject it", async () => {
    const run = await testRun(promote, { inputs: { env: "production", replicas: 3 }, approvals: { approve: { outcome: "reject", by: "grace", comment: "freeze" } } });
    // A rejected gate fails the run, even with a task that handles it.
    expect(run).toHaveFailed();
    expect(run.task("approve").log).toContain("waiting for approval: Deploy 3 replicas to production (run 1)?");
    expect(run.task("approve")).toHaveFailed();
    expect(run.task("approve").reason).toBe("rejected by grace: freeze");
    expect(run.task("roll")).toBeSkipped();
    expect(run.task("not-deployed").log).toBe("the deploy was rejected; nothing changed");
  });

  it("is rejected when nobody decides within four hours", async () => {
    const run = await testRun(promote, { inputs: { env: "production" } });
    expect(run.task("approve").reason).toBe("rejected: nobody decided after 4h");
    expect(run.task("roll")).toBeSkipped();
  });

  it("refuses an environment it does not know", async () => {
    await expect(testRun(promote, { inputs: { env: "moon" } })).rejects.toThrow("the inputs are not valid");
  });
});
