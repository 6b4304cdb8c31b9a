// The first steps of a CI pipeline: check a project out, then test and build it in parallel.
// The project is the sample shipped beside this file (sample-app/). A run() task sees only the
// run's workspace, so the first task publishes the sample there as a git repository; with a
// repository of your own, drop that task and point checkout() at it ("owner/name", a URL).
// Start it with -v BRANCH=v1.0.0 to check out the tag instead of the branch.
import { checkout, definePipeline, run, type TaskContext } from "gantry";
import { publishSample } from "./_sample-repo.ts";

/** Runs Bun (the one running this task) in the checked-out project. */
const bun = (ctx: TaskContext, args: string[]) => ctx.$`${process.execPath} ${args}`.cwd(`${ctx.workspace}/app`);

export default definePipeline({
  id: "ci-checkout",
  name: "CI: checkout",
  description: "Checks out the sample app, then tests and builds it",
  variables: { BRANCH: "main" },
  tasks: {
    publish: run(publishSample),
    checkout: checkout({
      // ${VAR} takes the task's environment: here the run's workspace, and the branch variable.
      repo: "file://${GANTRY_WORKSPACE}/sample-app.git",
      ref: "${BRANCH}",
      depth: 1,
      into: "app",
      needs: { publish: "success" },
    }),
    test: run(
      async (ctx) => {
        await bun(ctx, ["test"]);
      },
      { needs: { checkout: "success" } },
    ),
    build: run(
      async (ctx) => {
        await bun(ctx, ["run", "build"]);
        ctx.log(`built app/dist/app.js (${Bun.file(`${ctx.workspace}/app/dist/app.js`).size} bytes)`);
      },
      { needs: { checkout: "success" } },
    ),
  },
});
