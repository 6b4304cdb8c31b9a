// gantry/testing: test pipelines like code. testRun() runs a pipeline definition in this
// process with the engine's own planner and rules; the bun:test matchers it registers read a
// run as a person would ("toHaveSucceeded", "toBeSkipped", "toHaveRunInOrder"). It imports
// nothing of the server but the pure modules the engine decides with.
import { expect } from "bun:test";
import { gantryMatchers, type GantryMatchers } from "./matchers.ts";

export { testRun, type MockContext, type PipelineDefinitionLike, type TaskMock, type TaskMockFunction, type TestRunOptions } from "./test-run.ts";
export { describeRun, type LogStream, type TestAttempt, type TestLogLine, type TestRun, type TestStart, type TestTask } from "./run-result.ts";
export type { TestTrigger } from "./trigger-variables.ts";
export { gantryMatchers, type GantryMatchers } from "./matchers.ts";

declare module "bun:test" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- merged into bun:test's own
  interface Matchers<T> extends GantryMatchers {}
}

// Importing the kit is enough to use its matchers in `bun test` (and `gantry test`).
expect.extend(gantryMatchers);
