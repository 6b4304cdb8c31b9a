// The testing kit and a real server agree: each pipeline below runs on a real server (its
// engine, its sandboxed runner processes, its database) and through testRun, and both end
// with the same run state, the same state of every task and the same number of attempts.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { registerSdkModule } from "../app/engine/sdk-module.ts";
import { testRun, type PipelineDefinitionLike } from "../app/testing/index.ts";
import { startRun, startWithPipelines, waitForPipeline, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";

setDefaultTimeout(60_000);

const PIPELINES: Record<string, string> = {
  "shapes.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "shapes",
  variables: { FAIL: "0" },
  tasks: {
    build: run((ctx) => ctx.log("build")),
    lint: run(() => {}),
    test: run((ctx) => { if (ctx.env.FAIL === "1") process.exit(2); }, { needs: { build: "success" } }),
    deploy: run(() => {}, { needs: { test: "success", lint: "success" } }),
    notify: run(() => {}, { needs: { test: "failure" } }),
    cleanup: run(() => {}, { needs: { deploy: "any", notify: "any" } }),
    never: run(() => {}, { needs: { cleanup: "failure" } }),
  },
});
`,
  "flaky.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "flaky",
  tasks: {
    flaky: run((ctx) => { if (ctx.attempt < 2) throw new Error("not yet"); }, { retries: 2, retryDelay: "100ms" }),
    hopeless: run(() => { throw new Error("never"); }, { retries: 1, retryDelay: "50ms" }),
    after: run(() => {}, { needs: { flaky: "success" } }),
    rescue: run(() => {}, { needs: { hopeless: "failure" } }),
  },
});
`,
  "timeouts.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "timeouts",
  parallelism: 2,
  tasks: {
    slow: run(async (ctx) => { await Bun.sleep(5_000); }, { timeout: "300ms" }),
    quick: run(() => {}),
    third: run(() => {}),
    handler: run(() => {}, { needs: { slow: "failure" } }),
    joined: run(() => {}, { needs: { quick: "success", third: "success", slow: "any" } }),
  },
});
`,
  "gates.ts": `import { definePipeline, run, approval } from "gantry";
export default definePipeline({
  id: "gates",
  tasks: {
    auto: approval({ autoApprove: () => true }),
    lapse: approval({ timeout: "1s", onTimeout: "reject" }),
    after: run(() => {}, { needs: { auto: "success" } }),
    rejected: run(() => {}, { needs: { lapse: "failure" } }),
    approved: run(() => {}, { needs: { lapse: "success" } }),
  },
});
`,
  "secrets.ts": `import { definePipeline, run, secret } from "gantry";
export default definePipeline({
  id: "secrets",
  tasks: {
    needy: run(() => {}, { env: { TOKEN: secret("no-such-secret") } }),
    fine: run(() => process.exit(0)),
    later: run(() => {}, { needs: { needy: "success", fine: "success" } }),
  },
});
`,
};

/** What both must agree on: the run's state, and each task's state and attempts. */
function outcome(state: string, tasks: { id: string; state: string; attempts: number }[]) {
  return { state, tasks: Object.fromEntries(tasks.map((task) => [task.id, `${task.state} (${task.attempts} attempt${task.attempts === 1 ? "" : "s"})`])) };
}

const fromServer = (run: RunJson) => outcome(run.state, run.tasks.map((task) => ({ id: task.id, state: task.state, attempts: task.kind === "approval" ? 0 : (task.attempts?.length ?? 0) })));

let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startWithPipelines(PIPELINES);
  for (const file of Object.keys(PIPELINES)) await waitForPipeline(gantry.api, `default/${file.replace(/\.ts$/, "")}`);
  // The test imports the same files: "gantry" resolves as it does in the server.
  registerSdkModule();
});

afterAll(async () => {
  await gantry?.stop();
});

const CASES: { pipeline: string; variables?: Record<string, string> }[] = [
  { pipeline: "shapes" },
  { pipeline: "shapes", variables: { FAIL: "1" } },
  { pipeline: "flaky" },
  { pipeline: "timeouts" },
  { pipeline: "gates" },
  { pipeline: "secrets" },
];

describe("the testing kit and a real server", () => {
  for (const { pipeline, variables } of CASES) {
    it(`end ${pipeline}${variables ? ` with ${JSON.stringify(variables)}` : ""} the same way`, async () => {
      const started = await startRun(gantry.api, `default/${pipeline}`, variables);
      const definition = ((await import(join(gantry.pipelinesDir, `${pipeline}.ts`))) as { default: PipelineDefinitionLike }).default;
      const [server, kit] = await Promise.all([waitForRun(gantry.api, `default/${pipeline}`, started.id, 30_000), testRun(definition, { ...(variables && { variables }) })]);
      const kitOutcome = outcome(kit.state, kit.tasks.map((task) => ({ id: task.id, state: task.state, attempts: task.attempts.length })));
      expect(kitOutcome).toEqual(fromServer(server));
      // And the reasons people read agree too (times aside).
      for (const task of kit.tasks) {
        const there = server.tasks.find((candidate) => candidate.id === task.id)!;
        expect({ task: task.id, reason: task.reason }).toEqual({ task: task.id, reason: there.reason ?? null });
      }
    });
  }
});
