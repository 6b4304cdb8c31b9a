// Retries wait before they fire: a fixed retryDelay, the default that doubles from 1 s, and
// 0 for back to back. The wait is stored (retryAt in the API and on the run page), a cancel
// ends it at once, and a server stopped during it waits out only what is left after a restart.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startRun, startTestGantry, waitFor, waitForRun, type ExecutionJson, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";
import { webLogin } from "./helpers/web.ts";
import { join } from "node:path";

setDefaultTimeout(60_000);

const HEADER = `import { definePipeline, run } from "gantry";\n`;
const failing = (options: string) => `run((ctx) => { ctx.log("attempt " + ctx.attempt); throw new Error("boom " + ctx.attempt); }, ${options})`;

const PIPELINES: Record<string, string> = {
  "rd-fixed.ts": `${HEADER}export default definePipeline({ id: "rd-fixed", tasks: { flaky: ${failing(`{ retries: 2, retryDelay: "1s" }`)} } });`,
  "rd-now.ts": `${HEADER}export default definePipeline({ id: "rd-now", tasks: { flaky: ${failing(`{ retries: 2, retryDelay: 0 }`)} } });`,
  "rd-default.ts": `${HEADER}export default definePipeline({ id: "rd-default", tasks: { flaky: ${failing(`{ retries: 2 }`)} } });`,
  "rd-long.ts": `${HEADER}export default definePipeline({ id: "rd-long", tasks: { flaky: ${failing(`{ retries: 1, retryDelay: "30s" }`)} } });`,
  "rd-restart.ts": `${HEADER}export default definePipeline({
  id: "rd-restart",
  tasks: {
    past: ${failing(`{ retries: 1, retryDelay: "1500ms" }`)},
    ahead: ${failing(`{ retries: 1, retryDelay: "6s" }`)},
  },
});`,
};

/** An execution as the API shows it, with the retry time this change adds. */
type Execution = ExecutionJson & { retryAt: string | null };

const pipelinesDir = tempDir("gantry-pipelines-");
for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(pipelinesDir, name), source);
const servers: TestGantry[] = [];
let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startTestGantry({ pipelinesDir });
  servers.push(gantry);
});
afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => undefined);
});

const ms = (iso: string | null | undefined) => new Date(iso!).getTime();
const taskOf = (run: RunJson, id: string) => run.tasks.find((task) => task.id === id) as Execution;
/** Gaps between one attempt's end and the next one's start. */
const gaps = (task: ExecutionJson) => task.attempts.slice(1).map((attempt, i) => ms(attempt.startedAt) - ms(task.attempts[i]!.endedAt));

async function getRun(server: TestGantry, pipeline: string, run: number): Promise<RunJson> {
  return ((await (await server.api(`/pipelines/default/${pipeline}/runs/${run}`)).json()) as { run: RunJson }).run;
}

/** Polls the API until the task waits for a retry; returns the run as it was then. */
async function waitForRetryAt(server: TestGantry, pipeline: string, run: number, task: string): Promise<RunJson> {
  return waitFor(
    async () => {
      const current = await getRun(server, pipeline, run);
      return taskOf(current, task).retryAt ? current : undefined;
    },
    15_000,
    `${pipeline}#${run} ${task} to wait for a retry`,
  );
}

describe("retryDelay", () => {
  it("waits the fixed delay between attempts and shows when the next one starts", async () => {
    const started = await startRun(gantry.api, "default/rd-fixed");
    const waiting = await waitForRetryAt(gantry, "rd-fixed", started.id, "flaky");
    const flaky = taskOf(waiting, "flaky");
    expect(flaky.state).toBe("running");
    expect(flaky.attempts[0]).toMatchObject({ attempt: 1, state: "failed", reason: "threw: boom 1" });
    // Due 1 s after the failed attempt ended.
    expect(ms(flaky.retryAt) - ms(flaky.attempts[0]!.endedAt)).toBeGreaterThanOrEqual(990);
    expect(ms(flaky.retryAt) - ms(flaky.attempts[0]!.endedAt)).toBeLessThan(1_100);

    // The run page says it too, in the task's row and its attempts.
    const web = await webLogin(gantry.url, gantry.token);
    const page = await (await web.get(`/pipelines/default/rd-fixed/runs/${started.id}`)).text();
    expect(page).toContain("retrying at ");
    expect(page).toMatch(/\(in [12]s\)/);
    expect(page).toContain("Attempt 2");

    const run = await waitForRun(gantry.api, "default/rd-fixed", started.id);
    const ended = taskOf(run, "flaky");
    expect(ended).toMatchObject({ state: "failed", attempt: 3, reason: "threw: boom 3", retryAt: null });
    for (const gap of gaps(ended)) expect(gap).toBeGreaterThanOrEqual(900);
  });

  it("says in the CLI's run progress when a task retries", async () => {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...process.env, GANTRY_URL: gantry.url, GANTRY_TOKEN: gantry.token })) if (value !== undefined) env[name] = value;
    // Not a terminal: one line per change.
    const proc = Bun.spawn([process.execPath, "app/main.ts", "run", "start", "default/rd-fixed", "--wait"], { cwd: REPO_ROOT, env, stdout: "pipe", stderr: "pipe" });
    const [stdout, exitCode] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(exitCode).toBe(1);
    expect(stdout).toMatch(/flaky\s+retrying at \d\d:\d\d:\d\d \(in 1s\): threw: boom 1/);
    expect(stdout).toMatch(/flaky\s+retrying at \d\d:\d\d:\d\d \(in 1s\) \(attempt 2\): threw: boom 2/);
  });

  it("retries back to back with retryDelay: 0", async () => {
    const run = await waitForRun(gantry.api, "default/rd-now", (await startRun(gantry.api, "default/rd-now")).id);
    const flaky = taskOf(run, "flaky");
    expect(flaky).toMatchObject({ state: "failed", attempt: 3 });
    for (const gap of gaps(flaky)) expect(gap).toBeLessThan(500);
  });

  it("doubles from 1 s by default", async () => {
    const run = await waitForRun(gantry.api, "default/rd-default", (await startRun(gantry.api, "default/rd-default")).id);
    const flaky = taskOf(run, "flaky");
    expect(flaky).toMatchObject({ state: "failed", attempt: 3 });
    const [first, second] = gaps(flaky);
    expect(first).toBeGreaterThanOrEqual(900);
    expect(first).toBeLessThan(1_900);
    expect(second).toBeGreaterThanOrEqual(1_900);
  });

  it("ends the run cancelled at once when cancelled during the wait", async () => {
    const started = await startRun(gantry.api, "default/rd-long");
    await waitForRetryAt(gantry, "rd-long", started.id, "flaky");
    const cancelledAt = Date.now();
    expect((await gantry.api(`/pipelines/default/rd-long/runs/${started.id}/cancel`, { method: "POST" })).status).toBe(202);
    const run = await waitForRun(gantry.api, "default/rd-long", started.id);
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
    expect(run.state).toBe("cancelled");
    const flaky = taskOf(run, "flaky");
    expect(flaky).toMatchObject({ state: "cancelled", reason: "run cancelled", attempt: 1, retryAt: null });
    expect(flaky.attempts).toHaveLength(1);
  });
});

describe("retryDelay across a restart", () => {
  it("waits out what is left of the delay, or starts at once when it has passed", async () => {
    const server = await startTestGantry({ pipelinesDir });
    servers.push(server);
    const started = await startRun(server.api, "default/rd-restart");
    const waiting = await waitFor(
      async () => {
        const current = await getRun(server, "rd-restart", started.id);
        return taskOf(current, "past").retryAt && taskOf(current, "ahead").retryAt ? current : undefined;
      },
      15_000,
      "both tasks to wait for a retry",
    );
    const pastDue = ms(taskOf(waiting, "past").retryAt);
    const aheadDue = ms(taskOf(waiting, "ahead").retryAt);
    // Stopped without cancelling its runs: the next server on the same data takes them back.
    await server.stop({ cancelRuns: false });
    await Bun.sleep(Math.max(0, pastDue - Date.now() + 200));

    const restarting = Date.now();
    const again = await startTestGantry({ pipelinesDir, dataDir: server.dataDir });
    servers.push(again);
    const restarted = Date.now();
    const run = await waitForRun(again.api, "default/rd-restart", started.id);
    expect(run.state).toBe("failed");
    const past = taskOf(run, "past");
    const ahead = taskOf(run, "ahead");
    expect(past.attempts).toHaveLength(2);
    expect(ahead.attempts).toHaveLength(2);
    // Due while the server was down: it starts once the server is back, not a whole delay later.
    expect(ms(past.attempts[1]!.startedAt)).toBeGreaterThanOrEqual(restarting);
    expect(ms(past.attempts[1]!.startedAt)).toBeLessThan(restarted + 1_000);
    // Still ahead: it starts when it was due, neither at once nor after a fresh 6 s.
    expect(ms(ahead.attempts[1]!.startedAt)).toBeGreaterThanOrEqual(aheadDue - 50);
    expect(ms(ahead.attempts[1]!.startedAt)).toBeLessThan(Math.max(aheadDue, restarted) + 1_000);
  });
});
