// The example deploy pipeline (pipelines/examples/ship.ts) on a real server and a real one-node
// Docker Swarm: an image built from the local base, rolled out to staging, then, once approved,
// blue-green to production behind the environment's protection rules. A swarm is engine-wide
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
  cpSync(join(REPO_ROOT, "pipelines", "examples", "ship.ts"), join(pipelinesDir, "examples", "ship.ts"), { recursive: true });
  server = await startTestGantry({ pipelinesDir });
  await waitForPipeline(server.api, "examples/ship");
  for (const body of [
    { name: "staging", provider: "swarm" },
    { name: "production", provider: "swarm", protection: { pipelines: ["examples/ship"], approval: true } },
  ]) {
    expect((await server.api("/environments", { method: "POST", body: JSON.stringify(body) })).status).toBe(201);
  }
});

afterAll(async () => {
  await server?.stop();
  for (const name of ["ship-site", "ship-site-prod-blue", "ship-site-prod-green"]) await docker.getService(name).remove().catch(() => undefined);
  await Bun.sleep(2_000);
  await docker.getNetwork("gantry-ship-site-prod").remove().catch(() => undefined);
  const images = await docker.listImages({ filters: { reference: ["local/ship-site"] } });
  for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  await swarm?.restore();
});

describe("the example deploy pipeline", () => {
  it("builds, rolls out to staging, waits for an approval, then switches production blue-green", async () => {
    const started = await startRun(server.api, "examples/ship");
    // The gate waits once staging runs the release; a second person approves (the starter may not).
    await waitFor(async () => {
      const { run } = (await (await server.api(`/pipelines/examples/ship/runs/${started.id}`)).json()) as { run: { state: string; tasks: { id: string; state: string; reason?: string }[] } };
      const gate = run.tasks.find((task) => task.id === "approve");
      if (run.state !== "running") throw new Error(`the run ended ${run.state}: ${JSON.stringify(run.tasks)}`);
      return gate?.state === "waiting" ? true : undefined;
    }, 120_000);
    const reviewer = (await (await server.api("/tokens", { method: "POST", body: JSON.stringify({ name: "reviewer", roles: ["admin"] }) })).json()) as { secret: string };
    const approved = await fetch(`${server.url}/api/v1/pipelines/examples/ship/runs/${started.id}/tasks/approve/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${reviewer.secret}`, "content-type": "application/json" },
      body: JSON.stringify({ comment: "staging looks right" }),
    });
    expect(approved.status).toBe(200);
    const run = await waitForRun(server.api, "examples/ship", started.id, 150_000);
    expect(run.tasks.filter((task) => task.state !== "successful").map((task) => `${task.id}: ${task.state} ${task.reason ?? ""}`)).toEqual([]);
    expect(await readLog(server.api, "examples/ship", run.id, "production")).toContain("alias ship-site-prod is on blue");
    const image = `local/ship-site:${run.id}`;
    for (const [environment, service] of [["staging", "ship-site"], ["production", "ship-site-prod-blue"]] as const) {
      const { current } = (await (await server.api(`/environments/${environment}`)).json()) as { current: { image: string }[] };
      expect(current.map((entry) => entry.image)).toEqual([image]);
      const spec = (await docker.getService(service).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } };
      expect(spec.Spec.TaskTemplate.ContainerSpec.Image).toBe(image);
    }
  });
});
