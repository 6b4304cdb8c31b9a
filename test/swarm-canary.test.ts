// The Swarm provider's canary strategy on a real one-node swarm (the local engine, made a manager
// for the test when it is not one): a first deploy just creates the main service, a healthy
// canary goes through its steps and the main service is promoted, an unhealthy canary is removed
// with the main service left on its image, a cancel mid-pause removes the canary, and a
// blue-green service refuses a canary. Health is task state; the HTTP analysis probes each canary
// task from inside it (busybox httpd serving a CGI page), since no routing mesh answers here: a
// failing one is removed with the breach named, a cancel stops its probing, a passing one is promoted.
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
/** The page the HTTP analysis requests: a CGI script, so the bad image can answer slowly and with an error. */
const HEALTH_PAGE = "/cgi-bin/health";
const cgi = (body: string) => `#!/bin/sh\n${body}\necho 'Content-Type: text/plain'\necho\necho ok\n`;
/** HTTP images beside the file's idle ones: `:http` answers 200 at once, `:http-bad` 500 after 0.3 s. */
const HTTP_IMAGES = {
  http: { healthy: true, http: { port: 8080, pages: { [HEALTH_PAGE]: cgi("") } } },
  "http-bad": { healthy: true, http: { port: 8080, pages: { [HEALTH_PAGE]: cgi("sleep 0.3\necho 'Status: 500 Broken'") } } },
};
/** One step of one canary task, judged by `requests` requests to HEALTH_PAGE with a p95 of at most 200 ms. */
const analysed = (requests: number) => canary({ steps: [{ replicas: 1, pause: "0s" }], analysis: { http: { port: 8080, path: HEALTH_PAGE, requests, maxLatency: "200ms" } } });

/** A deploy of `image` as 2 replicas by this file's strategy, healthy when /ok exists. */
const request = (image: string, overrides: Partial<DeployRequest> = {}) => deployRequest(WEB, image, canary({ steps: [{ replicas: 1, pause: "1s" }, { percent: 100, pause: "1s" }] }), overrides);

async function imageOf(name: string): Promise<string | undefined> {
  const service = (await docker.getService(name).inspect().catch(() => undefined)) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } } | undefined;
  return service?.Spec.TaskTemplate.ContainerSpec.Image;
}

describe("swarm provider: canary", () => {
  let fixture: Awaited<ReturnType<typeof swarmWithServiceImages>> | undefined;

  beforeAll(async () => {
    fixture = await swarmWithServiceImages(docker, REPO, IMAGE_LABEL, HTTP_IMAGES);
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

  it("removes a canary whose HTTP analysis fails and names the breach", async () => {
    const t = Date.now();
    const deploy = request(`${REPO}:http-bad`, { strategy: analysed(3) });
    const result = await provider.deploy(deploy);
    console.log(`canary failing its HTTP analysis rolled back: ${Date.now() - t} ms`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rolledBack).toBe(true);
    // Each request takes the CGI's 0.3 s, timed in the task by /proc/uptime (busybox's date has no %N).
    expect(result.reason).toMatch(
      new RegExp(`^canary step 1/1: 0% of 3 requests succeeded, below the 95% required \\(3 answered 500\\); the p95 latency of 3 requests was [\\d.]+m?s, above the 200ms allowed; ${CANARY} was removed and ${WEB} stays on ${REPO}:2$`),
    );
    expect(deploy.lines).toContain(`canary step 1/1: HTTP analysis: 3 requests to http://127.0.0.1:8080${HEALTH_PAGE} inside each of 1 canary task`);
    expect(deploy.lines.find((line) => line.startsWith("canary step 1/1: HTTP analysis failed:"))).toMatch(
      /^canary step 1\/1: HTTP analysis failed: 3 requests, 0% succeeded \(≥ 95% required\), p95 latency [\d.]+m?s \(≤ 200ms allowed\); failed requests: 3 answered 500; timed in the task by \/proc\/uptime, in 10ms steps$/,
    );
    expect(deploy.lines.some((line) => line.startsWith("promoting"))).toBe(false);
    expect(await imageOf(CANARY)).toBeUndefined();
    expect(await provider.status(WEB)).toMatchObject({ service: WEB, image: `${REPO}:2`, running: 2 });
  });

  it("stops the HTTP analysis at once when the deploy is cancelled", async () => {
    const controller = new AbortController();
    // 20 requests of 0.3 s each: 6 s of probing, cancelled 0.5 s in.
    const deploy = request(`${REPO}:http-bad`, { signal: controller.signal, strategy: analysed(20) });
    let abortedAt = 0;
    const original = deploy.log;
    deploy.log = (line) => {
      original(line);
      if (line.startsWith("canary step 1/1: HTTP analysis: 20 requests to")) setTimeout(() => ((abortedAt = Date.now()), controller.abort()), 500);
    };
    const result = await provider.deploy(deploy);
    console.log(`canary cancelled mid-analysis: answered ${Date.now() - abortedAt} ms after the cancel`);
    expect(abortedAt).toBeGreaterThan(0);
    expect(result).toEqual({ ok: false, reason: `cancelled at canary step 1/1; ${CANARY} was removed and ${WEB} stays on ${REPO}:2`, previousImage: `${REPO}:2`, rolledBack: true });
    // The probe stops waiting at once; what is left is removing the canary service.
    expect(Date.now() - abortedAt).toBeLessThan(3_000);
    expect(await imageOf(CANARY)).toBeUndefined();
  });

  it("promotes a canary whose HTTP analysis passes", async () => {
    const t = Date.now();
    // One replica: the promotion rolls a single task, which keeps this case short.
    const deploy = request(`${REPO}:http`, { replicas: 1, strategy: analysed(5) });
    const result = await provider.deploy(deploy);
    console.log(`canary passing its HTTP analysis promoted: ${Date.now() - t} ms`);
    expect(result).toEqual({ ok: true, image: `${REPO}:http`, previousImage: `${REPO}:2` });
    expect(deploy.lines.find((line) => line.startsWith("canary step 1/1: HTTP analysis passed:"))).toMatch(
      /^canary step 1\/1: HTTP analysis passed: 5 requests, 100% succeeded \(≥ 95% required\), p95 latency \d+ms \(≤ 200ms allowed\); timed in the task by \/proc\/uptime, in 10ms steps$/,
    );
    expect(deploy.lines).toContain(`promoting: rolling ${WEB} to ${REPO}:http (start-first, 1 at a time)`);
    expect(await imageOf(CANARY)).toBeUndefined();
    expect(await provider.status(WEB)).toMatchObject({ service: WEB, image: `${REPO}:http`, running: 1, desired: 1 });
  });
});
