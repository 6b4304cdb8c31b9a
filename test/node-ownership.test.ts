// Who holds a node id and the runs under it, beyond the claim at start (see multi-server and
// node-identity tests): a server that stalled past its lease and is alive again stops the run()
// tasks of the runs another node took from it and records nothing more for them; one whose
// very node id another process claimed stops driving anything; a start that fails lets its id go.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { nodes, runs } from "../app/db/schema/index.ts";
import { startRun, startTestGantry, testConfigOptions, waitFor, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { loadConfig } from "../app/config.ts";
import { startGantry } from "../app/start.ts";
import { sharedDir, tempDir, writeFile } from "./helpers/temp.ts";

let gantry: TestGantry;
const flags = sharedDir("gantry-lost-");

/** A task that writes the time to its own file every 50 ms, for as long as it runs. */
const SPIN = `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "spin", tasks: {
  spin: run(async (ctx) => {
    for (;;) {
      await Bun.write(${JSON.stringify(flags)} + "/tick-" + ctx.env.GANTRY_RUN_ID + "-" + ctx.attempt, String(Date.now()));
      await Bun.sleep(50);
    }
  }, { retries: 1 }),
} });
`;

beforeAll(async () => {
  const pipelinesDir = tempDir("gantry-pipelines-");
  writeFile(join(pipelinesDir, "spin.ts"), SPIN);
  gantry = await startTestGantry({ pipelinesDir, env: { GANTRY_LEASE_TIMEOUT: "900ms", GANTRY_KILL_GRACE: "1s" } });
});
afterAll(() => gantry?.stop());

const tickOf = (run: number, attempt = 1) => Bun.file(join(flags, `tick-${run}-${attempt}`));
/** Resolves once the task's file has not changed for half a second (its process is gone). */
const stillFor = async (run: number) =>
  waitFor(
    async () => {
      const before = await tickOf(run).text();
      await Bun.sleep(500);
      return before === (await tickOf(run).text());
    },
    5_000,
    `run ${run}'s task to stop`,
  );
const runJson = async (run: number) => ((await (await gantry.api(`/pipelines/default/spin/runs/${run}`)).json()) as { run: RunJson }).run;
const spinning = async () => {
  const run = await startRun(gantry.api, "default/spin");
  await waitFor(() => tickOf(run.id).exists(), 10_000, `run ${run.id}'s task to start`);
  return run.id;
};
const whereRun = (run: number) => and(eq(runs.namespace, "default"), eq(runs.pipelineId, "spin"), eq(runs.id, run));

describe("a server that stalled past its lease", () => {
  it("stops the run() task of a run another node took over, and leaves that node's record of it alone", async () => {
    const run = await spinning();
    const key = { namespace: "default", id: "spin", run };
    expect(gantry.deps.orchestrator.isActive(key)).toBe(true);
    // What another node's takeover writes (its lease far ahead, so this one does not take it back).
    await gantry.deps.db.update(runs).set({ nodeId: "node-other", leaseExpiresAt: new Date(Date.now() + 3_600_000) }).where(whereRun(run));
    await stillFor(run);
    expect(gantry.deps.orchestrator.isActive(key)).toBe(false);
    // Nothing written for it here: not the attempt's end, not a retry (the new owner records those).
    const stored = await runJson(run);
    expect(stored).toMatchObject({ state: "running", node: "node-other" });
    const task = stored.tasks.find((candidate) => candidate.id === "spin")!;
    expect(task.state).toBe("running");
    expect(task.attempts.map(({ attempt, state }) => ({ attempt, state }))).toEqual([{ attempt: 1, state: "running" }]);
    expect(await tickOf(run, 2).exists()).toBe(false);
  });

  it("whose node id another process claimed stops driving every run and says so", async () => {
    const run = await spinning();
    await gantry.deps.db.update(nodes).set({ instance: "another-process" }).where(eq(nodes.id, gantry.deps.orchestrator.nodeId));
    const lost = await Promise.race([gantry.lost, Bun.sleep(3_000).then(() => "not told")]);
    expect(lost).toContain(`node id ${gantry.deps.orchestrator.nodeId} was claimed by another server`);
    await stillFor(run);
    expect(gantry.deps.orchestrator.isActive({ namespace: "default", id: "spin", run })).toBe(false);
    // Its leases are not renewed any more: the run is left to the process that holds the id now.
    const [row] = await gantry.deps.db.select({ lease: runs.leaseExpiresAt }).from(runs).where(whereRun(run));
    await Bun.sleep(1_000);
    const [later] = await gantry.deps.db.select({ lease: runs.leaseExpiresAt }).from(runs).where(whereRun(run));
    expect(later!.lease).toEqual(row!.lease);
  });

});

describe("a start that fails", () => {
  it("lets its node id go (and stops what it started), so the next start is at once", async () => {
    const dataDir = tempDir("gantry-data-");
    const pipelinesDir = tempDir("gantry-pipelines-");
    const taken = Bun.serve({ port: 0, fetch: () => new Response("taken") });
    try {
      // The hooks port is opened last: everything else had started.
      const config = loadConfig(testConfigOptions(dataDir, pipelinesDir, { GANTRY_HOOKS_PORT: String(taken.port) }));
      await expect(startGantry(config)).rejects.toThrow();
    } finally {
      await taken.stop(true);
    }
    const started = Date.now();
    const again = await startTestGantry({ dataDir, pipelinesDir });
    try {
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await again.stop();
    }
  });
});
