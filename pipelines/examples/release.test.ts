// Tests of the release pipeline with gantry/testing: run them with `gantry test pipelines/`.
import { describe, expect, it } from "bun:test";
import { testRun } from "gantry/testing";
import release from "./release.ts";

describe("release", () => {
  it("builds, tests in parallel, retries the flaky integration tests and deploys", async () => {
    const run = await testRun(release);
    expect(run).toHaveSucceeded();
    expect(run).toHaveRunInOrder(["build", "unit-tests", "deploy", "report"]);
    expect(run.task("integration-tests")).toHaveAttempts(2);
    expect(run.task("integration-tests").log).toContain("passed on attempt 2");
    expect(run.task("page-on-call")).toBeSkipped();
    expect(run.task("deploy").log).toContain("deploying build of run 1");
  });

  it("pages the on-call engineer and skips the deploy when the unit tests fail", async () => {
    const run = await testRun(release, { variables: { FAIL_TESTS: "1" } });
    expect(run).toHaveFailed();
    expect(run.task("unit-tests").reason).toBe("threw: 2 unit tests failed");
    expect(run.task("deploy")).toBeSkipped();
    expect(run.task("page-on-call")).toHaveSucceeded();
    // report runs whatever happened.
    expect(run.task("report")).toHaveSucceeded();
  });

  it("stands in for a slow build with a mock", async () => {
    const run = await testRun(release, { mocks: { build: { log: "built from cache", delayMs: 60_000 } } });
    expect(run).toHaveSucceeded();
    expect(run.task("build").log).toBe("built from cache");
    // The mock's minute passes on the run's clock, not the test's.
    expect(run.durationMs).toBeGreaterThan(60_000);
  });
});
