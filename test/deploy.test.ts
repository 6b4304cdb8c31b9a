// deploy() end to end on a real one-node Docker Swarm: a pipeline rolls a service of an
// environment to an image, with the environment's secret in its environment; an unhealthy
// image rolls back by itself and fails the task; the environment tells what runs now and its
// history. A swarm is engine-wide state: this file makes it and puts the engine back.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { buildServiceImage, ensureSwarm, type TestSwarm } from "./helpers/swarm.ts";
import { startWithPipelines, waitFor, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { runCli } from "./helpers/cli.ts";
import { startRegistry } from "./helpers/registry.ts";
import { mkdirSync } from "node:fs";

setDefaultTimeout(120_000);

const SERVICE = "gantry-e2e-web";
const LABEL = "gantry.test.deploy-e2e";
const PIPELINE = `import { definePipeline, deploy, rolling } from "gantry";
export default definePipeline({
  id: "ship",
  tasks: {
    web: deploy({
      environment: "staging",
      service: "${SERVICE}",
      image: "\${IMAGE}",
      replicas: 2,
      strategy: rolling({ parallelism: 1, order: "start-first", monitor: "1s" }),
      healthCheck: { command: ["CMD", "sh", "-c", "test -f /ok"], interval: "500ms", timeout: "1s", retries: 2 },
      env: { GREETING: "hello \${GANTRY_RUN_ID}" },
      timeout: "100s",
    }),
  },
});
`;

const docker = new Docker();
/** Deploys to production behind an approval gate (which its starter may approve: a test has one token). */
const RELEASE = `import { definePipeline, deploy, approval } from "gantry";
export default definePipeline({
  id: "release",
  tasks: {
    gate: approval({ message: "ship it?", allowSelfApproval: true }),
    prod: deploy({ environment: "production", service: "${SERVICE}-prod", image: "local/e2e-web:1", strategy: { kind: "rolling", parallelism: 1, delayMs: 0, order: "start-first", monitorMs: 1000 }, healthCheck: { command: ["CMD", "sh", "-c", "test -f /ok"], interval: "500ms", retries: 2 }, needs: { gate: "success" } }),
  },
});
`;
/** Deploys to production with no gate: the environment refuses it. */
const HOTFIX = `import { definePipeline, deploy } from "gantry";
export default definePipeline({ id: "hotfix", tasks: { prod: deploy({ environment: "production", service: "${SERVICE}-prod", image: "local/e2e-web:1" }) } });
`;

/** Blue-green: the new color starts beside the old, the alias moves once it is healthy. */
const SWITCH = `import { definePipeline, deploy, blueGreen } from "gantry";
export default definePipeline({ id: "switch", tasks: { web: deploy({ environment: "staging", service: "gantry-e2e-bg", image: "\${IMAGE}", replicas: 1, strategy: blueGreen({ monitor: "1s" }), healthCheck: { command: ["CMD", "sh", "-c", "test -f /ok"], interval: "500ms", retries: 2 }, timeout: "100s" }) } });
`;

let swarm: TestSwarm;
let gantry: TestGantry;

interface RunJson {
  id: number;
  state: string;
  tasks: { id: string; state: string; reason?: string }[];
}

async function ship(image: string): Promise<{ run: RunJson; log: string }> {
  const started = await gantry.api("/pipelines/default/ship/runs", { method: "POST", body: JSON.stringify({ variables: { IMAGE: image } }) });
  expect(started.status).toBe(201);
  const { run } = (await started.json()) as { run: { id: number } };
  const ended = (await waitForRun(gantry.api, "default/ship", run.id, 110_000)) as unknown as RunJson;
  const log = await (await gantry.api(`/pipelines/default/ship/runs/${run.id}/tasks/web/logs`)).text();
  return { run: ended, log };
}

async function serviceImage(): Promise<{ image: string; env: string[] }> {
  const spec = (await docker.getService(SERVICE).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string; Env?: string[] } } } };
  return { image: spec.Spec.TaskTemplate.ContainerSpec.Image, env: spec.Spec.TaskTemplate.ContainerSpec.Env ?? [] };
}

beforeAll(async () => {
  swarm = await ensureSwarm(docker);
  buildServiceImage("local/e2e-web:1", { healthy: true, label: LABEL });
  buildServiceImage("local/e2e-web:bad", { healthy: false, label: LABEL });
  buildServiceImage("local/e2e-web:2", { healthy: true, label: LABEL });
  gantry = await startWithPipelines({ "ship.ts": PIPELINE, "release.ts": RELEASE, "hotfix.ts": HOTFIX, "switch.ts": SWITCH });
  expect((await gantry.api("/secrets/DEPLOY_TOKEN", { method: "PUT", body: JSON.stringify({ value: "deploy-token-value-123" }) })).status).toBe(201);
  const created = await gantry.api("/environments", { method: "POST", body: JSON.stringify({ name: "staging", provider: "swarm", secrets: ["DEPLOY_TOKEN"] }) });
  expect(created.status).toBe(201);
});

afterAll(async () => {
  await gantry?.stop();
  await docker.getService(SERVICE).remove().catch(() => undefined);
  await docker.getService(`${SERVICE}-prod`).remove().catch(() => undefined);
  for (const color of ["blue", "green"]) await docker.getService(`gantry-e2e-bg-${color}`).remove().catch(() => undefined);
  await Bun.sleep(1_000);
  await docker.getNetwork("gantry-gantry-e2e-bg").remove().catch(() => undefined);
  // Tasks of a removed service stop a moment later; their containers hold the images.
  await Bun.sleep(2_000);
  for (const tag of ["local/e2e-web:1", "local/e2e-web:2", "local/e2e-web:bad"]) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  await swarm?.restore();
});

describe("deploy()", () => {
  it("tests the environment's connection: the engine is a swarm manager", async () => {
    const tested = (await (await gantry.api("/environments/staging/test", { method: "POST" })).json()) as { ok: boolean; detail?: string };
    expect(tested.ok).toBe(true);
    // The test's answer is the environment's status until the next one (or a deploy).
    const { environment } = (await (await gantry.api("/environments/staging")).json()) as { environment: { status: { state: string; detail: string; checkedAt: string } } };
    expect(environment.status).toEqual({ state: "ok", detail: expect.stringContaining("swarm manager at 127.0.0.1"), checkedAt: expect.any(String) });
  });

  it("rolls the service out with the environment's secret, and the environment tells what runs now", async () => {
    const { run, log } = await ship("local/e2e-web:1");
    expect(run.state).toBe("successful");
    expect(log).toContain(`deploying local/e2e-web:1 to service ${SERVICE} of environment staging (swarm)`);
    const service = await serviceImage();
    expect(service.image).toBe("local/e2e-web:1");
    expect(service.env).toContain(`GREETING=hello ${run.id}`);
    expect(service.env).toContain("DEPLOY_TOKEN=deploy-token-value-123");
    // The secret's value never reaches the task's log.
    expect(log).not.toContain("deploy-token-value-123");
    const staging = (await (await gantry.api("/environments/staging")).json()) as { current: { service: string; image: string; run: { id: number } }[] };
    expect(staging.current).toEqual([expect.objectContaining({ service: SERVICE, image: "local/e2e-web:1", run: expect.objectContaining({ id: run.id }) })]);
  });

  it("rolls an unhealthy image back by itself and fails the task with the reason", async () => {
    const { run, log } = await ship("local/e2e-web:bad");
    expect(run.state).toBe("failed");
    const task = run.tasks.find((entry) => entry.id === "web")!;
    expect(task.reason).toContain("rolled back to local/e2e-web:1");
    expect(log.length).toBeGreaterThan(0);
    expect((await serviceImage()).image).toBe("local/e2e-web:1");
    const staging = (await (await gantry.api("/environments/staging")).json()) as {
      current: { image: string }[];
      deployments: { image: string; state: string; previousImage?: string | null }[];
    };
    expect(staging.current.map((entry) => entry.image)).toEqual(["local/e2e-web:1"]);
    expect(staging.deployments[0]).toMatchObject({ image: "local/e2e-web:bad", state: "rolled_back", previousImage: "local/e2e-web:1" });
  });

  it("goes back to the previous successful image with gantry deploy rollback, recorded by who asked", async () => {
    expect((await ship("local/e2e-web:2")).run.state).toBe("successful");
    expect((await serviceImage()).image).toBe("local/e2e-web:2");
    const rolled = await runCli(["deploy", "rollback", "staging", SERVICE], { server: { url: gantry.url, token: gantry.token } });
    expect(rolled.stderr).toBe("");
    expect(rolled.exitCode).toBe(0);
    expect(rolled.stdout).toContain(`${SERVICE} of staging runs local/e2e-web:1 again (was local/e2e-web:2)`);
    expect((await serviceImage()).image).toBe("local/e2e-web:1");
    const staging = (await (await gantry.api("/environments/staging")).json()) as {
      current: { image: string; by?: string }[];
      deployments: { image: string; state: string; strategy: string; by?: string }[];
    };
    expect(staging.current).toEqual([expect.objectContaining({ image: "local/e2e-web:1", by: "bootstrap" })]);
    expect(staging.deployments[0]).toMatchObject({ image: "local/e2e-web:1", state: "succeeded", strategy: "rollback", by: "bootstrap" });
    // Rolling back again goes further back, not to the image just left: here there is nothing older.
    const again = await runCli(["deploy", "rollback", "staging", SERVICE], { server: { url: gantry.url, token: gantry.token } });
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(`service ${SERVICE} of environment staging has no earlier successful deployment to go back to`);
    expect((await serviceImage()).image).toBe("local/e2e-web:1");
    // A service never deployed has nothing to go back to.
    const none = await runCli(["deploy", "rollback", "staging", "nothing-here"], { server: { url: gantry.url, token: gantry.token } });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain("service nothing-here of environment staging has no earlier successful deployment to go back to");
  });

  it("holds a deploy to a protected environment to its rules: pipelines, a pushed branch, another person's approval, a wait", async () => {
    const protection = { pipelines: ["default/release", "default/hotfix"], branches: ["main", "release/*"], approval: true, wait: "1s" };
    expect((await gantry.api("/environments/production", { method: "PUT", body: JSON.stringify({ provider: "swarm", protection }) })).status).toBe(201);
    const whoami = (await (await gantry.api("/tokens/whoami")).json()) as { token: { id: string; name: string } };
    /** A run as a GitHub push to `branch` would start it (the ref is the system's, not a variable anyone sets). */
    const pushed = async (pipeline: string, branch: string, actor = { name: "alice", userId: "user-alice" } as { name: string; userId?: string; tokenId?: string }) =>
      (await gantry.deps.orchestrator.startRun({ namespace: "default", id: pipeline }, { trigger: { kind: "github" }, systemVariables: { GANTRY_GITHUB_REF: `refs/heads/${branch}` }, actor })).id;
    const reasonOf = async (pipeline: string, id: number) => {
      const run = (await waitForRun(gantry.api, `default/${pipeline}`, id, 60_000)) as unknown as RunJson;
      return run.tasks.find((task) => task.id === "prod")?.reason ?? "";
    };
    // No gate at all; a branch it does not take; a run no push started (its variables prove nothing).
    expect(await reasonOf("hotfix", await pushed("hotfix", "main"))).toContain("environment production needs an approval: the deploy task must need an approval gate");
    expect(await reasonOf("hotfix", await pushed("hotfix", "feature/x"))).toContain("takes deploys only from branches main, release/*, not feature/x");
    const byApi = await gantry.api("/pipelines/default/hotfix/runs", { method: "POST", body: JSON.stringify({ variables: { BRANCH: "main" } }) });
    expect(await reasonOf("hotfix", ((await byApi.json()) as { run: { id: number } }).run.id)).toContain("this run was not started by a push to a branch");
    // A pipeline the environment does not list.
    const onlyRelease = { ...protection, pipelines: ["default/release"] };
    expect((await gantry.api("/environments/production", { method: "PUT", body: JSON.stringify({ provider: "swarm", protection: onlyRelease }) })).status).toBe(200);
    expect(await reasonOf("hotfix", await pushed("hotfix", "main"))).toContain("pipeline default/hotfix may not deploy to environment production (its protection allows default/release)");
    await expect(docker.getService(`${SERVICE}-prod`).inspect()).rejects.toThrow();
    const approve = async (id: number) => {
      await waitFor(async () => {
        const { run } = (await (await gantry.api(`/pipelines/default/release/runs/${id}`)).json()) as { run: { tasks: { id: string; state: string }[] } };
        return run.tasks.find((task) => task.id === "gate")?.state === "waiting" ? true : undefined;
      }, 30_000);
      const approved = await gantry.api(`/pipelines/default/release/runs/${id}/tasks/gate/approve`, { method: "POST", body: JSON.stringify({ comment: "go" }) });
      expect(approved.status).toBe(200);
    };
    // The starter approving their own run (the gate allows it) does not count for the environment.
    const self = await pushed("release", "release/1.2", { name: whoami.token.name, tokenId: whoami.token.id });
    await approve(self);
    expect(await reasonOf("release", self)).toContain("an automatic or self-approval does not count");
    // Approved by another person: the wait, then the deploy.
    const id = await pushed("release", "release/1.2");
    await approve(id);
    const run = (await waitForRun(gantry.api, "default/release", id, 60_000)) as unknown as RunJson;
    expect(run.state).toBe("successful");
    const log = await (await gantry.api(`/pipelines/default/release/runs/${id}/tasks/prod/logs`)).text();
    expect(log).toContain("waiting 1s before deploying (environment production's wait timer)");
    expect(((await docker.getService(`${SERVICE}-prod`).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } }).Spec.TaskTemplate.ContainerSpec.Image).toBe("local/e2e-web:1");
  });

  it("refuses a deploy from a run that may not read secrets (a fork's pull request)", async () => {
    const id = (await gantry.deps.orchestrator.startRun({ namespace: "default", id: "ship" }, { trigger: { kind: "github" }, variables: { IMAGE: "local/e2e-web:1" }, noSecrets: true })).id;
    const run = (await waitForRun(gantry.api, "default/ship", id, 60_000)) as unknown as RunJson;
    expect(run.tasks.find((task) => task.id === "web")?.reason).toContain("a run that may not read secrets (a pull request from a fork) may not deploy to environment staging");
  });

  it("never changes a service another environment deployed on the same engine", async () => {
    expect((await gantry.api("/environments", { method: "POST", body: JSON.stringify({ name: "other", provider: "swarm" }) })).status).toBe(201);
    const PIRATE = `import { definePipeline, deploy } from "gantry";
export default definePipeline({ id: "pirate", tasks: { web: deploy({ environment: "other", service: "${SERVICE}", image: "local/e2e-web:bad" }) } });
`;
    await Bun.write(`${gantry.pipelinesDir}/pirate.ts`, PIRATE);
    await waitFor(async () => ((await gantry.api("/pipelines/default/pirate")).status === 200 ? true : undefined), 20_000);
    const started = (await (await gantry.api("/pipelines/default/pirate/runs", { method: "POST", body: "{}" })).json()) as { run: { id: number } };
    const run = (await waitForRun(gantry.api, "default/pirate", started.run.id, 60_000)) as unknown as RunJson;
    expect(run.tasks.find((task) => task.id === "web")?.reason).toContain(`service ${SERVICE} belongs to environment staging, not other`);
  });

  it("deploys a namespace's pipeline to its namespace's own environment before the shared one of that name, through its registry", async () => {
    const registry = await startRegistry();
    const TEAM_SERVICE = "gantry-e2e-team";
    const reference = `${registry.address}/local/e2e-web:team`;
    // As a dockerBuild task of team/web would have labelled it: a deploy pushes only its pipeline's images.
    buildServiceImage("local/e2e-web:team", { healthy: true, label: LABEL, builtBy: { namespace: "team", pipeline: "web" } });
    try {
      const created = await gantry.api("/environments", { method: "POST", body: JSON.stringify({ name: "staging", namespace: "team", provider: "swarm", config: { registry: registry.address } }) });
      expect(created.status).toBe(201);
      const TEAM = `import { definePipeline, deploy } from "gantry";
export default definePipeline({ id: "web", tasks: { web: deploy({ environment: "staging", service: "${TEAM_SERVICE}", image: "local/e2e-web:team", strategy: { kind: "rolling", parallelism: 1, delayMs: 0, order: "start-first", monitorMs: 500 } }) } });
`;
      mkdirSync(`${gantry.pipelinesDir}/team`, { recursive: true });
      await Bun.write(`${gantry.pipelinesDir}/team/web.ts`, TEAM);
      await waitFor(async () => ((await gantry.api("/pipelines/team/web")).status === 200 ? true : undefined), 20_000);
      const started = (await (await gantry.api("/pipelines/team/web/runs", { method: "POST", body: "{}" })).json()) as { run: { id: number } };
      const run = (await waitForRun(gantry.api, "team/web", started.run.id, 60_000)) as unknown as RunJson;
      const log = await (await gantry.api(`/pipelines/team/web/runs/${run.id}/tasks/web/logs`)).text();
      expect(run.state).toBe("successful");
      expect(log).toContain(`tagged local/e2e-web:team as ${reference}`);
      expect(log).toContain(`deploying ${reference} to service ${TEAM_SERVICE} of environment team/staging (swarm)`);
      const service = (await docker.getService(TEAM_SERVICE).inspect()) as { Spec: { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Image: string } } } };
      expect(service.Spec.TaskTemplate.ContainerSpec.Image).toBe(reference);
      expect(service.Spec.Labels["gantry.environment"]).toBe("team/staging");
      // The team's environment tells what runs there, the shared one of the same name does not.
      const team = (await (await gantry.api("/environments/staging?namespace=team")).json()) as { environment: { namespace: string; status: { state: string } }; current: { service: string; image: string }[] };
      expect(team.environment.namespace).toBe("team");
      expect(team.environment.status.state).toBe("ok");
      expect(team.current).toEqual([expect.objectContaining({ service: TEAM_SERVICE, image: reference })]);
      const shared = (await (await gantry.api("/environments/staging")).json()) as { current: { service: string }[] };
      expect(shared.current.map((entry) => entry.service)).not.toContain(TEAM_SERVICE);
    } finally {
      await docker.getService(TEAM_SERVICE).remove().catch(() => undefined);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${TEAM_SERVICE}`] } })).length > 0) await Bun.sleep(250);
      for (const image of [reference, "local/e2e-web:team"]) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
      await registry.stop();
    }
  });

  it("switches a blue-green service to the new color once it is healthy, through a pipeline", async () => {
    const run = async (image: string) => {
      const started = await gantry.api("/pipelines/default/switch/runs", { method: "POST", body: JSON.stringify({ variables: { IMAGE: image } }) });
      const { run } = (await started.json()) as { run: { id: number } };
      const ended = (await waitForRun(gantry.api, "default/switch", run.id, 110_000)) as unknown as RunJson;
      return { ended, log: await (await gantry.api(`/pipelines/default/switch/runs/${run.id}/tasks/web/logs`)).text() };
    };
    expect((await run("local/e2e-web:1")).ended.state).toBe("successful");
    const second = await run("local/e2e-web:2");
    expect(second.ended.state).toBe("successful");
    expect(second.log).toContain("switched alias gantry-e2e-bg to green");
    const services = (await docker.listServices()).map((service) => service.Spec?.Name).filter((name) => name?.startsWith("gantry-e2e-bg"));
    expect(services).toEqual(["gantry-e2e-bg-green"]);
    // An unhealthy new color is removed; blue-green leaves the live one as it was.
    const bad = await run("local/e2e-web:bad");
    expect(bad.ended.state).toBe("failed");
    expect(((await docker.getService("gantry-e2e-bg-green").inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } }).Spec.TaskTemplate.ContainerSpec.Image).toBe("local/e2e-web:2");
  });
});
