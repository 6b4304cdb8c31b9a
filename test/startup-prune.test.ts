// The start-up prune runs beside the server's start: with a Docker engine that answers slowly,
// a run started while the prune waits for the engine's lists keeps its workspace, even with
// GANTRY_PRUNE_KEEP_LAST=0 (the prune reads which runs are unfinished after it has listed).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRun, startWithPipelines, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, tempDir } from "./helpers/temp.ts";

setDefaultTimeout(30_000);

/** How long the engine takes to answer each list: the prune's services and containers lists wait this long each. */
const SLOW_MS = 1_500;

describe("the start-up prune beside a run that starts meanwhile", () => {
  const flags = sharedDir();
  const release = join(flags, "release");
  const socket = join(tempDir("gantry-slow-docker-"), "docker.sock");
  const asked: string[] = [];
  // A Docker engine on a unix socket that answers its lists, slowly, with nothing.
  const engine = Bun.serve({
    unix: socket,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      asked.push(path);
      if (path.endsWith("/_ping")) return new Response("OK");
      if (path.endsWith("/version")) return Response.json({ Version: "20.10.24", ApiVersion: "1.41" });
      await Bun.sleep(SLOW_MS);
      return Response.json([]);
    },
  });
  let gantry: TestGantry;

  beforeAll(async () => {
    gantry = await startWithPipelines(
      {
        "hold.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "hold", tasks: {
  wait: run(async (ctx) => {
    await Bun.write(ctx.workspace + "/mine.txt", "kept");
    while (!(await Bun.file(${JSON.stringify(release)}).exists())) await Bun.sleep(20);
    ctx.log("still here: " + (await Bun.file(ctx.workspace + "/mine.txt").text()));
  }),
} });\n`,
      },
      { env: { GANTRY_DOCKER_HOST: `unix://${socket}`, GANTRY_PRUNE_KEEP_LAST: "0" } },
    );
  });
  afterAll(async () => {
    await gantry?.stop();
    engine.stop(true);
  });

  it("keeps the workspace of a run started while the prune waited for the engine", async () => {
    const { id } = await startRun(gantry.api, "default/hold");
    const workspace = join(gantry.dataDir, "workspaces", "default", "hold", String(id));
    await waitFor(() => existsSync(join(workspace, "mine.txt")), 10_000);
    // The prune was still waiting for the engine's lists when the run started.
    expect(asked.some((path) => path.endsWith("/containers/json"))).toBe(false);
    const pruned = await gantry.pruned;
    expect(pruned.dockerError).toBeUndefined();
    expect(asked.some((path) => path.endsWith("/containers/json"))).toBe(true);
    expect(existsSync(join(workspace, "mine.txt"))).toBe(true);
    writeFileSync(release, "go");
    const run: RunJson = await waitForRun(gantry.api, "default/hold", id);
    expect(run.state).toBe("successful");
  });
});
