// The Swarm deploy provider on a real one-node swarm (the local engine, made a manager for the
// test when it is not one): a first deploy creates the service, a rolling update completes,
// an unhealthy image is rolled back by Swarm itself, a deploy of the same settings finishes
// although Swarm reports no update, a rollback redeploys an older image, a cancelled update
// is rolled back, and a first deploy that never gets healthy or is cancelled leaves no service
// behind.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { createSwarmProvider } from "../app/engine/deploy/swarm-provider.ts";
import { waitGone } from "../app/engine/executors/swarm-client.ts";
import type { DeployRequest } from "../app/engine/deploy/provider.ts";
import { buildServiceImage, deployRequest, swarmState, swarmWithServiceImages } from "./helpers/swarm.ts";
import { startRegistry } from "./helpers/registry.ts";

setDefaultTimeout(60_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const provider = createSwarmProvider({ docker });
const REPO = "local/gantry-swarm-web";
const IMAGE_LABEL = "gantry.test.swarm-provider";
const WEB = "gantry-test-web";
const BROKEN = "gantry-test-broken";

const startedInSwarm = (await swarmState(docker)) === "active";

/** A deploy of `image` as 2 replicas by this file's strategy, healthy when /ok exists. */
const request = (image: string, overrides: Partial<DeployRequest> = {}) => deployRequest(WEB, image, { kind: "rolling", parallelism: 1, delayMs: 0, order: "start-first", monitorMs: 1_000 }, overrides);

/** The images of the service's tasks that Swarm wants running, and their states. */
async function runningTasks(service: string): Promise<{ image: string; state: string }[]> {
  const tasks = (await docker.listTasks({ filters: { service: [service], "desired-state": ["running"] } })) as {
    Spec: { ContainerSpec: { Image: string } };
    Status: { State: string };
  }[];
  return tasks.map((task) => ({ image: task.Spec.ContainerSpec.Image, state: task.Status.State }));
}

describe("swarm provider without a swarm", () => {
  it.skipIf(startedInSwarm)("says how to make the engine a swarm manager", async () => {
    const outcome = await provider.testConnection();
    expect(outcome).toEqual({ ok: false, problem: "this Docker engine is not a swarm manager (docker swarm init --advertise-addr 127.0.0.1)" });
  });

  it("says when the engine cannot be reached", async () => {
    const outcome = await createSwarmProvider({ docker: new Docker({ socketPath: "/nonexistent/docker.sock" }) }).testConnection();
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.problem).toStartWith("cannot reach the Docker engine:");
  });
});

describe("swarm provider", () => {
  let fixture: Awaited<ReturnType<typeof swarmWithServiceImages>> | undefined;

  beforeAll(async () => {
    fixture = await swarmWithServiceImages(docker, REPO, IMAGE_LABEL);
  });

  afterAll(async () => {
    await fixture?.cleanUp(async () => {
      for (const service of [WEB, BROKEN]) await provider.remove(service).catch(() => undefined);
    });
  });

  it("finds a swarm manager", async () => {
    const outcome = await provider.testConnection();
    expect(outcome.ok).toBe(true);
    expect(outcome.ok && outcome.detail).toContain("swarm manager at 127.0.0.1");
  });

  it("creates the service on a first deploy and waits for every replica", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:1`, { ports: [{ published: 18_080, target: 8080, protocol: "tcp", mode: "ingress" }] });
    const result = await provider.deploy(deploy);
    console.log(`first deploy: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:1` });
    expect(deploy.lines[0]).toBe(`creating service ${WEB} with image ${REPO}:1 (2 replicas)`);
    expect(deploy.lines).toContain(`2/2 tasks running ${REPO}:1`);
    expect(await runningTasks(WEB)).toEqual([
      { image: `${REPO}:1`, state: "running" },
      { image: `${REPO}:1`, state: "running" },
    ]);
    const service = (await docker.getService(WEB).inspect()) as {
      Spec: { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Env: string[]; Labels: Record<string, string> } }; UpdateConfig: object; RollbackConfig: object; EndpointSpec?: { Ports?: object[] } };
    };
    // Published as asked (the routing mesh does not answer on this machine kind, but the spec holds them).
    expect(service.Spec.EndpointSpec?.Ports).toEqual([{ Protocol: "tcp", TargetPort: 8080, PublishedPort: 18_080, PublishMode: "ingress" }]);
    expect(service.Spec.UpdateConfig).toEqual({ Parallelism: 1, Order: "start-first", FailureAction: "rollback", Monitor: 1_000_000_000, MaxFailureRatio: 0 });
    expect(service.Spec.RollbackConfig).toMatchObject({ Parallelism: 1, Order: "start-first", FailureAction: "pause" });
    expect(service.Spec.Labels["gantry.pipeline"]).toBe("web");
    expect(service.Spec.TaskTemplate.ContainerSpec.Labels["gantry.environment"]).toBe("test");
    expect(service.Spec.TaskTemplate.ContainerSpec.Env).toEqual(["GREETING=hello"]);
  });

  it("rolls the service to a new image, start-first", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:2`);
    const result = await provider.deploy(deploy);
    console.log(`rolling update: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:2`, previousImage: `${REPO}:1` });
    expect(deploy.lines).toContain("swarm: updating (update in progress)");
    expect(deploy.lines).toContain("swarm: completed (update completed)");
    expect(deploy.lines).toContain(`2/2 tasks running ${REPO}:2`);
    expect((await runningTasks(WEB)).map((task) => task.image)).toEqual([`${REPO}:2`, `${REPO}:2`]);
  });

  it("finishes a deploy that changes nothing, though Swarm reports no update", async () => {
    const t = Date.now();
    const result = await provider.deploy(request(`${REPO}:2`));
    console.log(`unchanged deploy: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:2`, previousImage: `${REPO}:2` });
    expect((await provider.status(WEB))?.updateState).toBeUndefined();
  });

  it("lets Swarm roll back an image whose tasks never get healthy", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:bad`);
    const result = await provider.deploy(deploy);
    console.log(`failed update rolled back: ${Date.now() - t} ms`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rolledBack).toBe(true);
    expect(result.previousImage).toBe(`${REPO}:2`);
    expect(result.reason).toStartWith(`the update to ${REPO}:bad failed and Swarm rolled back to ${REPO}:2: update rolled back due to failure or early termination of task`);
    // The streak is what the engine counted when the task was looked at: 3 or more under load,
    // and its last check may have been killed at its own timeout then (exit 137, seen in CI).
    expect(result.reason).toMatch(/: task \w{12}: exited with code 0, unhealthy: its health check failed \d+ times in a row \(exit (1|137)\)/);
    expect(deploy.lines).toContain("swarm: rollback completed (rollback completed)");
    expect((await runningTasks(WEB)).map((task) => task.image)).toEqual([`${REPO}:2`, `${REPO}:2`]);
  });

  it("tells what runs now", async () => {
    expect(await provider.status(WEB)).toEqual({
      service: WEB,
      image: `${REPO}:2`,
      running: 2,
      desired: 2,
      updateState: "rollback_completed",
      updateMessage: "rollback completed",
    });
    expect(await provider.status("gantry-test-nothing-here")).toBeUndefined();
  });

  it("tells a redeploy of the same image that Swarm rolled back (a new health check failed) from a success", async () => {
    const failing = request(`${REPO}:2`, {
      env: { GREETING: "changed" },
      healthCheck: { command: ["CMD", "sh", "-c", "exit 1"], intervalMs: 500, timeoutMs: 1_000, retries: 2, startPeriodMs: 0 },
    });
    const result = await provider.deploy(failing);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rolledBack).toBe(true);
    expect(result.reason).toStartWith(`the update to ${REPO}:2 failed and Swarm rolled back to ${REPO}:2`);
    const service = (await docker.getService(WEB).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Env: string[] } } } };
    expect(service.Spec.TaskTemplate.ContainerSpec.Env).toEqual(["GREETING=hello"]);
  });

  it("rolls back to an earlier image, keeping the service's settings", async () => {
    // Only a service of the environment asking is rolled back.
    const refused = await provider.rollback({ service: WEB, image: `${REPO}:1`, log: () => {}, environment: "other" });
    expect(refused).toEqual({ ok: false, reason: `service ${WEB} belongs to environment test, not other: it is not rolled back`, rolledBack: false });
    const t = Date.now();
    const lines: string[] = [];
    const result = await provider.rollback({ service: WEB, image: `${REPO}:1`, log: (line) => lines.push(line), environment: "test" });
    console.log(`rollback: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:1`, previousImage: `${REPO}:2` });
    expect(lines[0]).toBe(`updating service ${WEB} from ${REPO}:2 to ${REPO}:1 (2 replicas, start-first, 1 at a time)`);
    expect(await provider.status(WEB)).toMatchObject({ image: `${REPO}:1`, running: 2, desired: 2, updateState: "completed" });
    const service = (await docker.getService(WEB).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Env: string[]; Healthcheck?: { Test: string[] } } } } };
    expect(service.Spec.TaskTemplate.ContainerSpec.Env).toEqual(["GREETING=hello"]);
    expect(service.Spec.TaskTemplate.ContainerSpec.Healthcheck?.Test).toEqual(["CMD", "sh", "-c", "test -f /ok"]);
  });

  it("rolls a cancelled update back", async () => {
    const t = Date.now();
    const controller = new AbortController();
    const deploy = request(`${REPO}:2`, { signal: controller.signal });
    // Cancelled once the first new task runs: mid-update, one replica on each image.
    const original = deploy.log;
    deploy.log = (line) => {
      original(line);
      if (line === `1/2 tasks running ${REPO}:2`) controller.abort();
    };
    const result = await provider.deploy(deploy);
    console.log(`cancelled update rolled back: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: false, reason: `cancelled, rolled back to ${REPO}:1`, previousImage: `${REPO}:1`, rolledBack: true });
    expect(deploy.lines).toContain(`cancelled: rolling back to ${REPO}:1`);
    expect(await provider.status(WEB)).toMatchObject({ image: `${REPO}:1`, running: 2, desired: 2, updateState: "rollback_completed" });
    expect((await runningTasks(WEB)).map((task) => task.image)).toEqual([`${REPO}:1`, `${REPO}:1`]);
  });

  it("removes a service whose first deploy never gets healthy", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:bad`, { service: BROKEN, replicas: 1 });
    const result = await provider.deploy(deploy);
    console.log(`failed first deploy: ${Date.now() - t} ms`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rolledBack).toBe(false);
    expect(result.previousImage).toBeUndefined();
    expect(result.reason).toStartWith(`${REPO}:bad did not start: task `);
    expect(result.reason).toContain("unhealthy: its health check failed");
    expect(result.reason).toEndWith("the new service was removed (nothing to roll back to)");
    expect(await provider.status(BROKEN)).toBeUndefined();
  });

  it("removes the new service when its first deploy is cancelled", async () => {
    const controller = new AbortController();
    const deploy = request(`${REPO}:1`, { service: BROKEN, replicas: 1, signal: controller.signal });
    const original = deploy.log;
    deploy.log = (line) => {
      original(line);
      if (line.startsWith("creating service")) controller.abort();
    };
    const result = await provider.deploy(deploy);
    expect(result).toEqual({ ok: false, reason: "cancelled; the new service was removed (nothing to roll back to)", rolledBack: false });
    expect(await provider.status(BROKEN)).toBeUndefined();
  });

  it("pushes the image to the environment's registry and deploys the registry's name for it, which the node pulls", async () => {
    const registry = await startRegistry();
    const PUSHED = "gantry-test-pushed";
    const withRegistry = createSwarmProvider({ docker, registry: registry.address });
    const reference = `${registry.address}/${REPO}:built`;
    const owner = { namespace: "default", pipeline: "web", run: 1 };
    const push = (image: string, log: (line: string) => void = () => {}) => withRegistry.pushImage({ image, owner, log, signal: new AbortController().signal });
    buildServiceImage(`${REPO}:built`, { healthy: true, label: IMAGE_LABEL, builtBy: owner });
    try {
      const lines: string[] = [];
      expect(await push(`${REPO}:built`, (line) => lines.push(line))).toEqual({ ok: true, image: reference });
      expect(lines).toContain(`tagged ${REPO}:built as ${reference}`);
      expect(lines.at(-1)).toStartWith(`pushed ${reference} (sha256:`);
      expect((await registry.get(`/v2/${REPO}/tags/list`)).status).toBe(200);
      // Gone from the engine: the node must pull it from the registry to run it.
      await docker.getImage(reference).remove();
      const result = await withRegistry.deploy(deployRequest(PUSHED, reference, { kind: "rolling", parallelism: 1, delayMs: 0, order: "start-first", monitorMs: 500 }, { replicas: 1 }));
      expect(result).toEqual({ ok: true, image: reference });
      expect(await runningTasks(PUSHED)).toEqual([{ image: reference, state: "running" }]);
      // As dockerPush: only an image this pipeline built is pushed; one the engine lacks is named.
      const foreign = await push(`${REPO}:1`);
      expect(foreign.ok === false && foreign.reason).toStartWith(`image ${REPO}:1 was not built by this pipeline (default/web): Gantry did not build it`);
      const missing = await push(`${REPO}:nope`);
      expect(missing.ok === false && missing.reason).toStartWith(`image ${REPO}:nope is not on the Docker engine`);
      // An image named for the registry already is there: nothing to push.
      expect(await push(reference)).toEqual({ ok: true, image: reference });
    } finally {
      await withRegistry.remove(PUSHED).catch(() => undefined);
      await waitGone(docker, PUSHED);
      const deadline = Date.now() + 20_000;
      // By the service's label: the ancestor filter would match every container of the same image id.
      while (Date.now() < deadline && (await docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${PUSHED}`] } })).length > 0) await Bun.sleep(250);
      for (const image of [reference, `${REPO}:built`]) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
      await registry.stop();
    }
  });

  it("removes a service", async () => {
    await provider.remove(WEB);
    expect(await provider.status(WEB)).toBeUndefined();
    await provider.remove(WEB);
  });
});
