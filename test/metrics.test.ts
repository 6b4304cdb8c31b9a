// GET /metrics on a real server: Prometheus' text format with runs by pipeline and state,
// the queue, task durations, executor errors, deliveries, the sandbox's and Docker's state and
// the warm runners; a token with system:read is needed unless GANTRY_METRICS_PUBLIC=true.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { signBody } from "../app/domain/hmac-signature.ts";
import { startRun, startWithPipelines, waitFor, waitForRun, type TestGantry } from "./helpers/gantry.ts";

setDefaultTimeout(30_000);

const HEADER = `import { definePipeline, run, secret, webhook } from "gantry";\n`;
let gantry: TestGantry;
let open: TestGantry | undefined;

beforeAll(async () => {
  gantry = await startWithPipelines({
    "ok.ts": `${HEADER}export default definePipeline({ id: "ok", triggers: [webhook({ secret: secret("hook") })], tasks: { a: run(() => {}) } });\n`,
    "bad.ts": `${HEADER}export default definePipeline({ id: "bad", tasks: { a: run(() => { throw new Error("boom"); }) } });\n`,
    "offline.ts": `${HEADER}export default definePipeline({ id: "offline", tasks: { a: run(() => {}, { network: "none" }) } });\n`,
  });
  await gantry.api("/pipelines/default/ok/secrets/hook", { method: "PUT", body: JSON.stringify({ value: "hook-secret-value" }) });
});
afterAll(async () => {
  await gantry?.stop();
  await open?.stop();
});

/** The value of a sample line `name{labels} value`, by name and parts of its labels (in any order). */
function sample(text: string, name: string, ...labels: string[]): number | undefined {
  const line = text.split("\n").find((candidate) => (candidate.startsWith(`${name}{`) || candidate.startsWith(`${name} `)) && labels.every((label) => candidate.includes(label)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("/metrics", () => {
  it("needs a token that may read the system", async () => {
    expect((await fetch(`${gantry.url}/metrics`)).status).toBe(401);
    const viewer = (await (await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "reader", roles: ["viewer"] }) })).json()) as { secret: string };
    const nobody = await gantry.api("/roles/nothing", { method: "PUT", body: JSON.stringify({ permissions: [] }) });
    expect(nobody.status).toBeLessThan(300);
    const none = (await (await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "none", roles: ["nothing"] }) })).json()) as { secret: string };
    expect((await fetch(`${gantry.url}/metrics`, { headers: { authorization: `Bearer ${none.secret}` } })).status).toBe(403);
    expect((await fetch(`${gantry.url}/metrics`, { headers: { authorization: `Bearer ${viewer.secret}` } })).status).toBe(200);
  });

  it("counts runs by state, times tasks, and tells deliveries, the queue, the sandbox and Docker", async () => {
    await waitFor(async () => (await gantry.api("/pipelines/default/bad")).status === 200, 20_000);
    await waitForRun(gantry.api, "default/ok", (await startRun(gantry.api, "default/ok")).id);
    await waitForRun(gantry.api, "default/bad", (await startRun(gantry.api, "default/bad")).id);
    const body = new TextEncoder().encode(JSON.stringify({ ref: "main" }));
    const delivered = await fetch(`${gantry.hooksUrl}/hooks/webhook/default/ok`, { method: "POST", headers: { "content-type": "application/json", "x-gantry-delivery": "metrics-1", "x-gantry-signature-256": signBody("hook-secret-value", body) }, body });
    expect(delivered.status).toBe(202);
    expect((await fetch(`${gantry.hooksUrl}/hooks/webhook/default/ok`, { method: "POST", headers: { "x-gantry-signature-256": "sha256=00" }, body })).status).toBe(401);
    const text = await waitFor(async () => {
      const response = await fetch(`${gantry.url}/metrics`, { headers: { authorization: `Bearer ${gantry.token}` } });
      expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
      const scraped = await response.text();
      return (sample(scraped, "gantry_task_duration_seconds_count", 'state="failed"') ?? 0) >= 1 && (sample(scraped, "gantry_runs", 'state="successful"') ?? 0) >= 2 ? scraped : undefined;
    }, 10_000, "the runs in the scrape");
    expect(text).toContain("# TYPE gantry_runs gauge");
    expect(sample(text, "gantry_runs", 'namespace="default",pipeline="bad",state="failed"')).toBe(1);
    expect(sample(text, "gantry_runs", 'namespace="default",pipeline="ok",state="successful"')).toBeGreaterThanOrEqual(1);
    expect(sample(text, "gantry_queue_depth")).toBe(0);
    expect(sample(text, "gantry_queue_oldest_wait_seconds")).toBe(0);
    expect(sample(text, "gantry_task_duration_seconds_count", 'kind="run"', 'state="successful"')).toBeGreaterThanOrEqual(1);
    expect(sample(text, "gantry_task_duration_seconds_bucket", 'kind="run"', 'state="failed"', 'le="+Inf"')).toBe(1);
    // A task that threw has its own exit code: not the executor's error.
    expect(sample(text, "gantry_executor_errors_total") ?? 0).toBe(0);
    expect(sample(text, "gantry_webhook_deliveries", 'outcome="accepted"')).toBeGreaterThanOrEqual(1);
    expect(sample(text, "gantry_webhook_deliveries", 'outcome="rejected"')).toBeGreaterThanOrEqual(1);
    expect(sample(text, "gantry_sandbox_up", 'state="on"')).toBe(1);
    expect(text).toMatch(/^gantry_docker_up [01]$/m);
    expect(text).toMatch(/^gantry_info\{version="\d+\.\d+\.\d+"\} 1$/m);
  });

  it("tells how run() tasks got their runners, and the warm runners ready", async () => {
    const scrape = async () => (await fetch(`${gantry.url}/metrics`, { headers: { authorization: `Bearer ${gantry.token}` } })).text();
    const runners = (text: string) => Object.fromEntries(["warm", "booting", "own"].map((kind) => [kind, sample(text, "gantry_run_task_runners_total", `runner="${kind}"`) ?? NaN]));
    // Nothing else starting tasks meanwhile (the delivery above starts a run), and the pool full
    // (GANTRY_RUN_POOL's default, 4): the next run's task finds a warm runner.
    const idle = await waitFor(async () => {
      const { runs } = (await (await gantry.api("/pipelines/default/ok/runs")).json()) as { runs: { state: string }[] };
      if (runs.some((run) => ["queued", "pending", "running"].includes(run.state))) return undefined;
      const text = await scrape();
      return sample(text, "gantry_runner_pool_ready") === 4 ? text : undefined;
    }, 20_000, "the warm runners to be ready");
    expect(sample(idle, "gantry_runner_pool_size")).toBe(4);
    expect(idle).toContain("# TYPE gantry_run_task_runners_total counter");
    expect(sample(idle, "gantry_runner_pool_misses_total")).toBeGreaterThanOrEqual(0);
    const before = runners(idle);
    expect(Object.values(before).every(Number.isInteger)).toBe(true);
    await waitForRun(gantry.api, "default/ok", (await startRun(gantry.api, "default/ok")).id);
    const afterWarm = runners(await scrape());
    expect(afterWarm).toEqual({ ...before, warm: before.warm! + 1 });
    // Without the network a task starts a runner of its own.
    await waitForRun(gantry.api, "default/offline", (await startRun(gantry.api, "default/offline")).id);
    expect(runners(await scrape())).toEqual({ ...afterWarm, own: afterWarm.own! + 1 });
  });

  it("tells the queue as it is at the scrape", async () => {
    expect((await gantry.api("/system/pause", { method: "POST" })).status).toBe(200);
    try {
      const queued = await startRun(gantry.api, "default/ok");
      expect(queued.state).toBe("queued");
      const text = await (await fetch(`${gantry.url}/metrics`, { headers: { authorization: `Bearer ${gantry.token}` } })).text();
      expect(sample(text, "gantry_queue_depth")).toBe(1);
      expect(sample(text, "gantry_queue_oldest_wait_seconds")).toBeGreaterThanOrEqual(0);
    } finally {
      expect((await gantry.api("/system/resume", { method: "POST" })).status).toBe(200);
    }
  });

  it("answers without a token with GANTRY_METRICS_PUBLIC=true", async () => {
    open = await startWithPipelines({}, { env: { GANTRY_METRICS_PUBLIC: "true" } });
    const response = await fetch(`${open.url}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("gantry_queue_depth 0");
  });
});
