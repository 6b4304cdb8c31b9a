// The example deploy pipeline (pipelines/examples/deploy.ts) on a real server and a real one-node
// Docker Swarm: an image built from the local base, rolled out to staging, then, once approved,
// to production as a canary behind the environment's protection rules. A swarm is engine-wide
// state: this file makes it and puts the engine back.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { readLog, startRun, startTestGantry, waitFor, waitForPipeline, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { ensureSwarm, type TestSwarm } from "./helpers/swarm.ts";
import { REPO_ROOT, tempDir } from "./helpers/temp.ts";

setDefaultTimeout(180_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
let swarm: TestSwarm;
let server: TestGantry;

beforeAll(async () => {
  swarm = await ensureSwarm(docker);
  const pipelinesDir = tempDir("gantry-pipelines-");
  cpSync(join(REPO_ROOT, "pipelines", "examples", "deploy.ts"), join(pipelinesDir, "examples", "deploy.ts"), { recursive: true });
  server = await startTestGantry({ pipelinesDir });
  await waitForPipeline(server.api, "examples/deploy");
  for (const body of [
    { name: "staging", provider: "swarm" },
    { name: "production", provider: "swarm", protection: { pipelines: ["examples/deploy"], approval: true } },
  ]) {
    expect((await server.api("/environments", { method: "POST", body: JSON.stringify(body) })).status).toBe(201);
  }
});

afterAll(async () => {
  await server?.stop();
  for (const name of ["ship-site", "ship-site-prod", "ship-site-prod-canary"]) await docker.getService(name).remove().catch(() => undefined);
  await Bun.sleep(2_000);
  const images = await docker.listImages({ filters: { reference: ["local/ship-site"] } });
  for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  await swarm?.restore();
});

describe("the example deploy pipeline", () => {
  let reviewer = "";

  /** Waits until run `id`'s gate waits, then a second person decides it. */
  async function decideGate(id: number, decision: "approve" | "reject") {
    await waitFor(async () => {
      const { run } = (await (await server.api(`/pipelines/examples/deploy/runs/${id}`)).json()) as { run: { state: string; tasks: { id: string; state: string; reason?: string }[] } };
      const gate = run.tasks.find((task) => task.id === "approve");
      if (run.state !== "running") throw new Error(`the run ended ${run.state}: ${JSON.stringify(run.tasks)}`);
      return gate?.state === "waiting" ? true : undefined;
    }, 120_000);
    const decided = await fetch(`${server.url}/api/v1/pipelines/examples/deploy/runs/${id}/tasks/approve/${decision}`, {
      method: "POST",
      headers: { authorization: `Bearer ${reviewer}`, "content-type": "application/json" },
      body: JSON.stringify({ comment: decision === "approve" ? "staging looks right" : "not today" }),
    });
    expect(decided.status).toBe(200);
  }

  const states = (run: { tasks: { id: string; state: string }[] }) => Object.fromEntries(run.tasks.map((task) => [task.id, task.state]));

  it("builds, rolls out to staging, waits for an approval, then deploys production; a re-run of the next release, once approved, goes through a canary", async () => {
    // A second person approves: the run's starter may not.
    reviewer = ((await (await server.api("/tokens", { method: "POST", body: JSON.stringify({ name: "reviewer", roles: ["admin"] }) })).json()) as { secret: string }).secret;
    const first = await startRun(server.api, "examples/deploy");
    await decideGate(first.id, "approve");
    const shipped = await waitForRun(server.api, "examples/deploy", first.id, 150_000);
    expect(shipped.tasks.filter((task) => task.state !== "successful").map((task) => `${task.id}: ${task.state} ${task.reason ?? ""}`)).toEqual([]);
    expect(await readLog(server.api, "examples/deploy", first.id, "production")).toContain("nothing to compare a canary against");

    // The next release reaches staging, and production is refused for now.
    const second = await startRun(server.api, "examples/deploy");
    await decideGate(second.id, "reject");
    const held = await waitForRun(server.api, "examples/deploy", second.id, 150_000);
    expect(states(held)).toMatchObject({ image: "successful", staging: "successful", approve: "failed", production: "skipped" });

    // Re-running what failed reuses the build and staging; the deploy finds the image the reused build tagged.
    const rerun = await server.api(`/pipelines/examples/deploy/runs/${second.id}/rerun`, { method: "POST", body: JSON.stringify({ only: "failed" }) });
    expect(rerun.status).toBe(201);
    const third = ((await rerun.json()) as { run: { id: number } }).run;
    await decideGate(third.id, "approve");
    const promoted = await waitForRun(server.api, "examples/deploy", third.id, 150_000);
    expect(states(promoted)).toEqual({ prepare: "reused", image: "reused", staging: "reused", approve: "successful", production: "successful" });
    const log = await readLog(server.api, "examples/deploy", third.id, "production");
    expect(log).toContain("canary step 1/2: 1 of 2 replicas");
    expect(log).toContain("canary step 2/2: 1 of 2 replicas (50%)");
    expect(log).toContain("canary step 2/2: HTTP analysis passed: 5 requests, 100% succeeded");
    expect(log).toContain("removed ship-site-prod-canary");
    const image = `local/ship-site:${second.id}`;
    for (const [environment, service] of [["staging", "ship-site"], ["production", "ship-site-prod"]] as const) {
      const { current } = (await (await server.api(`/environments/${environment}`)).json()) as { current: { image: string }[] };
      expect(current.map((entry) => entry.image)).toEqual([image]);
      const spec = (await docker.getService(service).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } };
      expect(spec.Spec.TaskTemplate.ContainerSpec.Image).toBe(image);
    }
    await expect(docker.getService("ship-site-prod-canary").inspect()).rejects.toThrow();
  });
});
