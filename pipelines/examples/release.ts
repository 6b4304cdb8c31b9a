// Shows off the DAG: a parallel fan-out, a retried flaky step, a failure handler that
// runs only when a test fails, and a deploy that is skipped when it does.
// Start it with -v FAIL_TESTS=1 to see the failure path.
import { definePipeline, run } from "gantry";

const step = (message: string, ms = 300) =>
  run(async (ctx) => {
    ctx.log(message);
    await Bun.sleep(ms);
  });

export default definePipeline({
  id: "release",
  name: "Release",
  description: "Build, test in parallel, deploy; page someone if tests fail",
  parallelism: 4,
  variables: { FAIL_TESTS: "0" },
  tasks: {
    build: step("compiling...", 400),
    "unit-tests": run(
      async (ctx) => {
        for (let i = 1; i <= 3; i++) {
          ctx.log(`unit suite ${i}/3 ok`);
          await Bun.sleep(150);
        }
        if (ctx.env.FAIL_TESTS === "1") throw new Error("2 unit tests failed");
      },
      { needs: { build: "success" } },
    ),
    "lint": step("no lint problems", 200),
    "integration-tests": run(
      async (ctx) => {
        // Flaky on the first attempt, to show retries.
        if (ctx.attempt === 1) throw new Error("database container was not ready");
        ctx.log(`passed on attempt ${ctx.attempt}`);
      },
      { needs: { build: "success" }, retries: 2, timeout: "2m" },
    ),
    deploy: run(
      async (ctx) => {
        ctx.log("deploying build of run", ctx.env.GANTRY_RUN_ID);
        await Bun.sleep(200);
      },
      { needs: { "unit-tests": "success", "integration-tests": "success", lint: "success" } },
    ),
    "page-on-call": run(
      (ctx) => ctx.log("tests failed: paging the on-call engineer (pretend)"),
      { needs: { "unit-tests": "failure" } },
    ),
    report: run((ctx) => ctx.log("release finished, whatever happened"), {
      needs: { deploy: "any", "page-on-call": "any" },
    }),
  },
});
