// A whole CI pipeline on the building blocks: check the sample project out (shipped beside
// this file as sample-app/, published into the workspace as a git repository first), then
// test, lint and scan it in parallel, build it (the build kept as an artifact), pack it into
// an image with BuildKit, run the image, and push it to a registry on 127.0.0.1:5000 (`npm
// start` starts Debian's docker-registry there when it can). A cached "toolchain" shows a
// miss on the first run and a hit after.
import { checkout, definePipeline, dockerBuild, dockerPush, eslintSecurity, run, secretlint, container, type TaskContext } from "gantry";
import { publishSample } from "./_sample-repo.ts";

/** Bun (the one running this task) in the checked-out project. */
const bun = (ctx: TaskContext, args: string[]) => ctx.$`${process.execPath} ${args}`.cwd(`${ctx.workspace}/app`);

export default definePipeline({
  id: "ci",
  name: "CI",
  description: "Checkout, test, lint and scan in parallel, build, an image, push",
  variables: { REGISTRY: "127.0.0.1:5000" },
  tasks: {
    publish: run(publishSample),
    checkout: checkout({ repo: "file://${GANTRY_WORKSPACE}/sample-app.git", ref: "main", depth: 1, into: "app", needs: { publish: "success" } }),
    // A stand-in for a slow download, cached per pipeline: a miss saves it, the next run hits.
    toolchain: run(
      async (ctx) => {
        const marker = `${ctx.workspace}/app/.toolchain/version.txt`;
        if (await Bun.file(marker).exists()) return ctx.log(`toolchain from the cache: ${await Bun.file(marker).text()}`);
        ctx.log("fetching the toolchain (slow)...");
        await Bun.sleep(500);
        await Bun.write(marker, `bun ${Bun.version}`);
      },
      {
        needs: { checkout: "success" },
        cache: { key: "toolchain-${hashFiles('app/package.json')}", paths: ["app/.toolchain"], restoreKeys: ["toolchain-"] },
      },
    ),
    test: run(
      async (ctx) => {
        await bun(ctx, ["test"]);
      },
      { needs: { toolchain: "success" } },
    ),
    // The sample's deliberate eval is a warning: reported on the run page, not failing it.
    "security-lint": eslintSecurity({ paths: ["app/src"], failOn: "error", needs: { checkout: "success" } }),
    secrets: secretlint({ paths: ["app"], needs: { checkout: "success" } }),
    build: run(
      async (ctx) => {
        await bun(ctx, ["run", "build"]);
      },
      { needs: { test: "success", "security-lint": "success", secrets: "success" }, artifacts: { out: { app: "app/dist/app.js" } } },
    ),
    image: dockerBuild({
      context: "app",
      tags: ["local/sample-app:ci", "local/sample-app:${GANTRY_RUN_ID}"],
      labels: { "org.opencontainers.image.source": "gantry example" },
      needs: { build: "success" },
      artifacts: { in: { app: "build" } },
    }),
    smoke: container({ image: "local/sample-app:ci", pull: "never", command: ["cat", "/app/app.js"], needs: { image: "success" } }),
    push: dockerPush({ image: "local/sample-app:ci", registry: "${REGISTRY}", needs: { smoke: "success" } }),
  },
});
