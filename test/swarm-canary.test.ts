// The Swarm provider's canary strategy on a real one-node swarm (the local engine, made a manager
// for the test when it is not one): a first deploy just creates the main service, a healthy
// canary goes through its steps and the main service is promoted, an unhealthy canary is removed
// with the main service left on its image, a cancel mid-pause removes the canary, and a
// blue-green service refuses a canary. Health is task state only (no routing mesh here).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { createSwarmProvider } from "../app/engine/deploy/swarm-provider.ts";
import type { DeployRequest } from "../app/engine/deploy/provider.ts";
import { blueGreen, canary } from "../app/sdk/deploy.ts";
import { deployRequest, swarmWithServiceImages } from "./helpers/swarm.ts";

setDefaultTimeout(90_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const provider = createSwarmProvider({ docker });
const REPO = "local/gantry-canary-web";
const IMAGE_LABEL = "gantry.test.swarm-canary";
const WEB = "gantry-canary-web";
const CANARY = `${WEB}-canary`;
const BG = "gantry-canary-bg";

/** A deploy of `image` as 2 replicas by this file's strategy, healthy when /ok exists. */
const request = (image: string, overrides: Partial<DeployRequest> = {}) => deployRequest(WEB, image, canary({ steps: [{ replicas: 1, pause: "1s" }, { percent: 100, pause: "1s" }] }), overrides);

async function imageOf(name: string): Promise<string | undefined> {
  const service = (await docker.getService(name).inspect().catch(() => undefined)) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } } | undefined;
  return service?.Spec.TaskTemplate.ContainerSpec.Image;
}

describe("swarm provider: canary", () => {
  let fixture: Awaited<ReturnType<typeof swarmWithServiceImages>> | undefined;

  beforeAll(async () => {
    fixture = await swarmWithServiceImages(docker, REPO, IMAGE_LABEL);
  });

  afterAll(async () => {
    await fixture?.cleanUp(async () => {
      for (const service of [WEB, BG]) await provider.remove(service).catch(() => undefined);
    }, [`gantry-${BG}`]);
  });

  it("creates the main service on a first deploy: nothing to compare a canary against", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:1`);
    const result = await provider.deploy(deploy);
    console.log(`first canary deploy (plain create): ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:1` });
    expect(deploy.lines[0]).toBe(`no service ${WEB} yet: nothing to compare a canary against, so it is created as rolling() does`);
    expect(await imageOf(CANARY)).toBeUndefined();
    expect(await provider.status(WEB)).toEqual({ service: WEB, image: `${REPO}:1`, running: 2, desired: 2 });
  });

  it("promotes a canary that stays healthy through its steps and removes it", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:2`);
    let canaryWhileStepping: string | undefined;
    let mainWhileStepping: string | undefined;
    const original = deploy.log;
    deploy.log = (line) => {
      original(line);
      if (line === "canary healthy through 1s" && !canaryWhileStepping) {
        // Looked at once the first step held: the canary runs the new image, the main one the old.
        void Promise.all([imageOf(CANARY), imageOf(WEB)]).then(([c, m]) => ((canaryWhileStepping = c), (mainWhileStepping = m)));
      }
    };
    const result = await provider.deploy(deploy);
    console.log(`canary in 2 steps, promoted: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:2`, previousImage: `${REPO}:1` });
    const steps = deploy.lines.filter((line) => line.startsWith("canary step") || line.startsWith("canary healthy") || line.startsWith("promoting") || line.startsWith("removed"));
    expect(steps).toEqual([
      "canary step 1/2: 1 of 2 replicas (50%)",
      "canary healthy through 1s",
      "canary step 2/2: 2 of 2 replicas (100%)",
      "canary healthy through 1s",
      `promoting: rolling ${WEB} to ${REPO}:2 (start-first, 1 at a time)`,
      `removed ${CANARY}`,
    ]);
    expect(deploy.lines).toContain(`canary: 2/2 tasks running ${REPO}:2`);
    expect(canaryWhileStepping).toBe(`${REPO}:2`);
    expect(mainWhileStepping).toBe(`${REPO}:1`);
    expect(await imageOf(CANARY)).toBeUndefined();
    expect(await provider.status(WEB)).toMatchObject({ service: WEB, image: `${REPO}:2`, running: 2, desired: 2 });
  });

  it("removes an unhealthy canary and leaves the main service on its image", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:bad`);
    const result = await provider.deploy(deploy);
    console.log(`unhealthy canary rolled back: ${Date.now() - t} ms`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rolledBack).toBe(true);
    expect(result.previousImage).toBe(`${REPO}:2`);
    expect(result.reason).toStartWith(`canary step 1/2: a task of ${CANARY} (${REPO}:bad) failed: task `);
    expect(result.reason).toContain("unhealthy: its health check failed");
    expect(result.reason).toEndWith(`; ${CANARY} was removed and ${WEB} stays on ${REPO}:2`);
    expect(deploy.lines.at(-1)).toBe(`removed ${CANARY}`);
    expect(deploy.lines.some((line) => line.startsWith("promoting"))).toBe(false);
    expect(await imageOf(CANARY)).toBeUndefined();
    expect(await provider.status(WEB)).toMatchObject({ service: WEB, image: `${REPO}:2`, running: 2 });
  });

  it("removes the canary when the deploy is cancelled mid-pause", async () => {
    const t = Date.now();
    const controller = new AbortController();
    const deploy = request(`${REPO}:1`, { signal: controller.signal, strategy: canary({ steps: [{ percent: 50, pause: "30s" }, { replicas: 2, pause: "1s" }] }) });
    const original = deploy.log;
    deploy.log = (line) => {
      original(line);
      // The step's task runs: the 30 s pause has begun.
      if (line === `canary: 1/1 tasks running ${REPO}:1`) setTimeout(() => controller.abort(), 500);
    };
    const result = await provider.deploy(deploy);
    console.log(`canary cancelled mid-pause: ${Date.now() - t} ms`);
    expect(Date.now() - t).toBeLessThan(25_000);
    expect(result).toEqual({ ok: false, reason: `cancelled at canary step 1/2; ${CANARY} was removed and ${WEB} stays on ${REPO}:2`, previousImage: `${REPO}:2`, rolledBack: true });
    expect(await imageOf(CANARY)).toBeUndefined();
    expect(await provider.status(WEB)).toMatchObject({ service: WEB, image: `${REPO}:2`, running: 2 });
  });

  it("refuses a canary for a blue-green service", async () => {
    const t = Date.now();
    const first = await provider.deploy(request(`${REPO}:1`, { service: BG, replicas: 1, strategy: blueGreen({ monitor: "0s" }) }));
    expect(first.ok).toBe(true);
    const refused = await provider.deploy(request(`${REPO}:2`, { service: BG }));
    console.log(`blue-green refuses canary: ${Date.now() - t} ms`);
    expect(refused).toEqual({ ok: false, reason: `service ${BG} runs blue-green (${BG}-blue is live): deploy it with blueGreen(), or remove it first`, rolledBack: false });
    expect(await imageOf(`${BG}-canary`)).toBeUndefined();
  });
});
