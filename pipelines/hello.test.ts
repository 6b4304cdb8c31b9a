// Tests of the hello pipeline with gantry/testing: `gantry test pipelines/` runs every
// *.test.ts beside the pipeline files.
import { expect, it } from "bun:test";
import { testRun } from "gantry/testing";
import hello from "./hello.ts";

it("greets, then finds the greeting in the shared workspace", async () => {
  const run = await testRun(hello, { variables: { GREETING: "bonjour" } });
  expect(run).toHaveSucceeded();
  expect(run).toHaveRunInOrder(["greet", "check"]);
  expect(run.task("greet").log).toBe("bonjour from run 1");
  expect(run.task("check").log).toContain("the workspace says: bonjour");
  // What ctx.$ printed is in the task's log, as on the server.
  expect(run.task("check").log).toContain("greeting.txt");
});

it("does not check when the greeting fails", async () => {
  const run = await testRun(hello, { mocks: { greet: { exitCode: 1, stderr: "disk full" } } });
  expect(run).toHaveFailed();
  expect(run.task("check")).toBeSkipped();
});
