// The Swarm provider's blue-green strategy on a real one-node swarm (the local engine, made a
// manager for the test when it is not one): a first deploy starts blue with the alias, a new
// image switches the alias to green and removes blue, a kept color loses the alias before it
// waits, an unhealthy or cancelled new color is removed with the old one left live, a rollback
// switches colors again, and a plain (rolling) service and its colors refuse each other.
// No traffic goes through the routing mesh (no IPVS here): the alias is checked by a lookup
// from a throwaway container on the colors' network.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import Docker from "dockerode";
import { createSwarmProvider } from "../app/engine/deploy/swarm-provider.ts";
import type { DeployRequest } from "../app/engine/deploy/provider.ts";
import { blueGreen } from "../app/sdk/deploy.ts";
import { deployRequest, swarmWithServiceImages } from "./helpers/swarm.ts";

setDefaultTimeout(60_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const provider = createSwarmProvider({ docker });
const REPO = "local/gantry-strategies-web";
const IMAGE_LABEL = "gantry.test.swarm-strategies";
const WEB = "gantry-bg-web";
const PLAIN = "gantry-bg-plain";
const NETWORK = `gantry-${WEB}`;

/** A deploy of `image` as 2 replicas by this file's strategy, healthy when /ok exists. */
const request = (image: string, overrides: Partial<DeployRequest> = {}) => deployRequest(WEB, image, blueGreen({ monitor: "1s" }), overrides);

interface Inspected {
  Spec: { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Image: string }; Networks?: { Target: string; Aliases?: string[] }[] } };
  Endpoint?: { VirtualIPs?: { NetworkID: string; Addr: string }[] };
}

async function inspect(name: string): Promise<Inspected | undefined> {
  return (await docker.getService(name).inspect().catch(() => undefined)) as Inspected | undefined;
}

/** The aliases each existing color carries on the colors' network. */
async function aliases(): Promise<Record<string, string[]>> {
  const found: Record<string, string[]> = {};
  for (const color of ["blue", "green"]) {
    const service = await inspect(`${WEB}-${color}`);
    if (service) found[color] = (service.Spec.TaskTemplate.Networks ?? []).flatMap((network) => network.Aliases ?? []);
  }
  return found;
}

/** The color's VIP on the colors' network. */
async function vip(color: string): Promise<string | undefined> {
  const service = await inspect(`${WEB}-${color}`);
  const network = (await docker.getNetwork(NETWORK).inspect()) as { Id: string };
  return service?.Endpoint?.VirtualIPs?.find((entry) => entry.NetworkID === network.Id)?.Addr.split("/")[0];
}

/** What `name` resolves to from a throwaway container on the colors' network (busybox nslookup). */
function lookup(name: string): string[] {
  const run = spawnSync("docker", ["run", "--rm", "--network", NETWORK, "local/busybox:latest", "busybox", "nslookup", name], { encoding: "utf8" });
  // The answer's addresses follow its "Name:" lines; the first "Address:" is the resolver's.
  return [...run.stdout.matchAll(/Name:\s*\S+\s*\nAddress:\s*(\S+)/g)].map((match) => match[1]!).sort();
}

/** Polls `lookup` until it answers `expected` (the resolver drops a removed task's record a moment later). */
async function resolvesTo(name: string, expected: string[]): Promise<string[]> {
  let answer: string[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    answer = lookup(name);
    if (JSON.stringify(answer) === JSON.stringify(expected)) break;
    await Bun.sleep(250);
  }
  return answer;
}

describe("swarm provider: blue-green", () => {
  let fixture: Awaited<ReturnType<typeof swarmWithServiceImages>> | undefined;

  beforeAll(async () => {
    fixture = await swarmWithServiceImages(docker, REPO, IMAGE_LABEL);
  });

  afterAll(async () => {
    await fixture?.cleanUp(async () => {
      for (const service of [WEB, PLAIN]) await provider.remove(service).catch(() => undefined);
    }, [NETWORK]);
  });

  it("starts a first deploy as blue, carrying the alias on an attachable network", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:1`);
    const result = await provider.deploy(deploy);
    console.log(`first blue-green deploy: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:1` });
    expect(deploy.lines[0]).toBe(`starting blue with image ${REPO}:1 (2 replicas)`);
    expect(deploy.lines).toContain("blue: 2/2 tasks running");
    expect(deploy.lines.at(-1)).toBe(`alias ${WEB} is on blue`);
    expect(await aliases()).toEqual({ blue: [WEB] });
    const network = (await docker.getNetwork(NETWORK).inspect()) as { Driver: string; Attachable: boolean };
    expect(network).toMatchObject({ Driver: "overlay", Attachable: true });
    expect((await inspect(`${WEB}-blue`))?.Spec.Labels).toMatchObject({ "gantry.color": "blue", "gantry.service": WEB, "gantry.pipeline": "web" });
    expect(await provider.status(WEB)).toEqual({ service: `${WEB}-blue`, color: "blue", image: `${REPO}:1`, running: 2, desired: 2 });
    expect(await resolvesTo(WEB, [(await vip("blue"))!])).toEqual([(await vip("blue"))!]);
  });

  it("switches the alias to green once it is healthy and removes blue", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:2`);
    const result = await provider.deploy(deploy);
    console.log(`switch to green: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:2`, previousImage: `${REPO}:1` });
    expect(deploy.lines).toEqual([
      `starting green with image ${REPO}:2 (2 replicas; ${WEB}-blue stays live)`,
      `green: 0/2 tasks running ${REPO}:2`,
      ...deploy.lines.slice(2, -4),
      `green: 2/2 tasks running ${REPO}:2`,
      "green: 2/2 tasks running",
      `switched alias ${WEB} to green`,
      "removed blue",
    ]);
    expect(await aliases()).toEqual({ green: [WEB] });
    expect(await provider.status(WEB)).toEqual({ service: `${WEB}-green`, color: "green", image: `${REPO}:2`, running: 2, desired: 2 });
    const green = (await vip("green"))!;
    expect(await resolvesTo(WEB, [green])).toEqual([green]);
  });

  it("takes the alias off a kept color before keeping it, then removes it", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:1`, { strategy: blueGreen({ monitor: "1s", keepPrevious: "2s" }) });
    let whileKept: Promise<Record<string, string[]>> | undefined;
    const original = deploy.log;
    deploy.log = (line) => {
      original(line);
      if (line.startsWith("keeping green")) whileKept = aliases();
    };
    const result = await provider.deploy(deploy);
    console.log(`switch to blue keeping green 2 s: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:1`, previousImage: `${REPO}:2` });
    expect(deploy.lines.slice(-3)).toEqual([`switched alias ${WEB} to blue`, `keeping green (${REPO}:2) for 2 s`, "removed green"]);
    expect(await whileKept).toEqual({ blue: [WEB], green: [] });
    expect(await aliases()).toEqual({ blue: [WEB] });
    expect((await provider.status(WEB))?.color).toBe("blue");
  });

  it("removes a new color that never gets healthy and leaves the old one live", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:bad`);
    const result = await provider.deploy(deploy);
    console.log(`unhealthy green removed: ${Date.now() - t} ms`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rolledBack).toBe(true);
    expect(result.previousImage).toBe(`${REPO}:1`);
    expect(result.reason).toStartWith(`${REPO}:bad did not start as ${WEB}-green: task `);
    expect(result.reason).toContain("unhealthy: its health check failed");
    expect(result.reason).toEndWith(`${WEB}-green was removed and ${WEB}-blue stays live on ${REPO}:1`);
    expect(await aliases()).toEqual({ blue: [WEB] });
    expect(await provider.status(WEB)).toMatchObject({ service: `${WEB}-blue`, color: "blue", image: `${REPO}:1`, running: 2 });
  });

  it("removes the new color when the deploy is cancelled before the switch", async () => {
    const controller = new AbortController();
    const deploy = request(`${REPO}:2`, { signal: controller.signal });
    const original = deploy.log;
    deploy.log = (line) => {
      original(line);
      if (line.startsWith("starting green")) controller.abort();
    };
    const result = await provider.deploy(deploy);
    expect(result).toEqual({ ok: false, reason: `cancelled; ${WEB}-green was removed and ${WEB}-blue stays live on ${REPO}:1`, previousImage: `${REPO}:1`, rolledBack: true });
    expect(await aliases()).toEqual({ blue: [WEB] });
    expect((await provider.status(WEB))?.image).toBe(`${REPO}:1`);
  });

  it("rolls back by switching to the other color with the live one's settings", async () => {
    const t = Date.now();
    const lines: string[] = [];
    const result = await provider.rollback({ service: WEB, image: `${REPO}:2`, log: (line) => lines.push(line), environment: "test" });
    console.log(`blue-green rollback: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:2`, previousImage: `${REPO}:1` });
    expect(lines).toContain("removed blue");
    expect(await provider.status(WEB)).toMatchObject({ service: `${WEB}-green`, color: "green", image: `${REPO}:2`, running: 2 });
    const green = (await docker.getService(`${WEB}-green`).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Env: string[]; Healthcheck?: { Test: string[] } } } } };
    expect(green.Spec.TaskTemplate.ContainerSpec.Env).toEqual(["GREETING=hello"]);
    expect(green.Spec.TaskTemplate.ContainerSpec.Healthcheck?.Test).toEqual(["CMD", "sh", "-c", "test -f /ok"]);
  });

  it("refuses to mix a plain rolling service and colors of the same name", async () => {
    const rolled = await provider.deploy(request(`${REPO}:1`, { strategy: { kind: "rolling", parallelism: 1, delayMs: 0, order: "start-first", monitorMs: 0 } }));
    expect(rolled).toEqual({ ok: false, reason: `service ${WEB} runs blue-green (${WEB}-green is live): deploy it with blueGreen(), or remove it first`, rolledBack: false });
    expect(await inspect(WEB)).toBeUndefined();
    expect((await provider.deploy(request(`${REPO}:1`, { service: PLAIN, replicas: 1, strategy: { kind: "rolling", parallelism: 1, delayMs: 0, order: "start-first", monitorMs: 0 } }))).ok).toBe(true);
    const switched = await provider.deploy(request(`${REPO}:2`, { service: PLAIN }));
    expect(switched).toEqual({
      ok: false,
      reason: `service ${PLAIN} exists as a plain (rolling) service; blue-green runs ${PLAIN}-blue and ${PLAIN}-green instead: remove ${PLAIN} first (or keep deploying it with rolling())`,
      rolledBack: false,
    });
    expect(await inspect(`${PLAIN}-blue`)).toBeUndefined();
  });

  it("removes both colors and their network", async () => {
    await provider.remove(WEB);
    expect(await provider.status(WEB)).toBeUndefined();
    expect(await aliases()).toEqual({});
    // Swarm removes the network once the colors' tasks have left it.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await docker.getNetwork(NETWORK).inspect().catch(() => undefined))) await Bun.sleep(250);
    expect(await docker.getNetwork(NETWORK).inspect().catch(() => undefined)).toBeUndefined();
  });
});
