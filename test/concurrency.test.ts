// Runs that wait their turn, through the API of a real server: a pipeline's limit, a
// group shared by the namespace's pipelines and keyed by a run variable, "latest" queues,
// cancel-in-progress, cancelling a queued run, and the pause switch.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startRun, startWithPipelines, waitFor, waitForLog, waitForPipeline, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(30_000);

const flags = sharedDir("gantry-flags-");
const flag = (name: string) => join(flags, name);
/** A run() task that logs, then waits until the flag named by its RELEASE variable exists. */
const held = `run(async (ctx) => { ctx.log("holding " + ctx.env.RELEASE); while (!(await Bun.file(${JSON.stringify(flags)} + "/" + ctx.env.RELEASE).exists())) await Bun.sleep(20); })`;
const HEADER = `import { definePipeline, run } from "gantry";\n`;
const pipeline = (id: string, concurrency: string, variables = `{ RELEASE: "none" }`) =>
  `${HEADER}export default definePipeline({ id: "${id}", variables: ${variables}, concurrency: ${concurrency}, tasks: { hold: ${held} } });\n`;

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);

beforeAll(async () => {
  gantry = await startWithPipelines({
    "limited.ts": pipeline("limited", "{ limit: 2 }"),
    "deploy-a.ts": pipeline("deploy-a", '{ limit: 1, group: "deploy-${BRANCH}" }', `{ RELEASE: "none", BRANCH: "main" }`),
    "deploy-b.ts": pipeline("deploy-b", '{ limit: 1, group: "deploy-${BRANCH}" }', `{ RELEASE: "none", BRANCH: "main" }`),
    "latest.ts": pipeline("latest", '{ limit: 1, queue: "latest" }'),
    "preempt.ts": pipeline("preempt", "{ limit: 1, cancelInProgress: true }"),
    "free.ts": `${HEADER}export default definePipeline({ id: "free", variables: { RELEASE: "none" }, tasks: { hold: ${held} } });\n`,
  });
});
afterAll(() => gantry?.stop());

type QueuedRunJson = RunJson;

async function getRun(pipeline: string, run: number): Promise<QueuedRunJson> {
  const response = await api(`/pipelines/${pipeline}/runs/${run}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { run: QueuedRunJson }).run;
}

const start = (pipeline: string, variables: Record<string, string>) => startRun(api, pipeline, variables) as Promise<QueuedRunJson>;
const release = (name: string) => writeFile(flag(name), "go");
const untilState = (pipeline: string, run: number, state: string) =>
  waitFor(async () => ((await getRun(pipeline, run)).state === state ? true : undefined), 10_000, `${pipeline}#${run} to be ${state}`);

describe("a pipeline's limit", () => {
  it("runs at most that many at once; the rest wait queued with their place and start in order", async () => {
    const one = await start("default/limited", { RELEASE: "l1" });
    const two = await start("default/limited", { RELEASE: "l2" });
    const three = await start("default/limited", { RELEASE: "l3" });
    const four = await start("default/limited", { RELEASE: "l4" });
    expect([one.state, two.state, three.state, four.state]).toEqual(["running", "running", "queued", "queued"]);
    expect(three.queuedAt).toBeTruthy();
    expect(three.startedAt).toBeNull();
    const third = await getRun("default/limited", three.id);
    expect(third).toMatchObject({ state: "queued", position: 1, waitingFor: `waiting for runs ${one.id} and ${two.id} (this pipeline runs at most 2 at once)` });
    expect(await getRun("default/limited", four.id)).toMatchObject({ position: 2, waitingFor: `queued behind run ${three.id}` });
    expect(third.tasks.map((task) => task.state)).toEqual(["pending"]);
    // The list says so too.
    const listed = ((await (await api("/pipelines/default/limited/runs")).json()) as { runs: QueuedRunJson[] }).runs;
    expect(listed.find((run) => run.id === four.id)).toMatchObject({ state: "queued", position: 2 });

    release("l2");
    await untilState("default/limited", three.id, "running");
    expect((await getRun("default/limited", four.id)).state).toBe("queued");
    release("l1");
    release("l3");
    release("l4");
    for (const run of [one, two, three, four]) expect((await waitForRun(api, "default/limited", run.id)).state).toBe("successful");
    const ended = await Promise.all([one, two, three, four].map((run) => getRun("default/limited", run.id)));
    // Started in the order they came.
    const starts = ended.map((run) => new Date(run.startedAt!).getTime());
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it("cancels a queued run at once, and the one behind it moves up", async () => {
    const first = await start("default/limited", { RELEASE: "c1" });
    const second = await start("default/limited", { RELEASE: "c2" });
    const queued = await start("default/limited", { RELEASE: "c3" });
    const behind = await start("default/limited", { RELEASE: "c4" });
    const response = await api(`/pipelines/default/limited/runs/${queued.id}/cancel`, { method: "POST" });
    expect(response.status).toBe(202);
    const cancelled = ((await response.json()) as { run: QueuedRunJson }).run;
    expect(cancelled).toMatchObject({ state: "cancelled", reason: "cancelled by bootstrap" });
    expect(cancelled.tasks[0]).toMatchObject({ state: "cancelled", reason: "run cancelled before it started" });
    expect(await getRun("default/limited", behind.id)).toMatchObject({ state: "queued", position: 1 });
    // Cancelling it again is a conflict that says how it ended.
    const again = await api(`/pipelines/default/limited/runs/${queued.id}/cancel`, { method: "POST" });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { message: string } }).error.message).toContain("already ended (cancelled)");
    for (const name of ["c1", "c2", "c4"]) release(name);
    for (const run of [first, second, behind]) expect((await waitForRun(api, "default/limited", run.id)).state).toBe("successful");
  });
});

describe("a group", () => {
  it("is shared by the namespace's pipelines with the same key, and a different key runs apart", async () => {
    const a = await start("default/deploy-a", { RELEASE: "g1" });
    const b = await start("default/deploy-b", { RELEASE: "g2" });
    const other = await start("default/deploy-b", { RELEASE: "g3", BRANCH: "dev" });
    expect(a).toMatchObject({ state: "running", group: "deploy-main" });
    expect(b).toMatchObject({ state: "queued", group: "deploy-main" });
    expect(other).toMatchObject({ state: "running", group: "deploy-dev" });
    expect((await getRun("default/deploy-b", b.id)).waitingFor).toBe(`waiting for run ${a.id} of default/deploy-a, in group deploy-main`);
    release("g1");
    await untilState("default/deploy-b", b.id, "running");
    release("g2");
    release("g3");
    expect((await waitForRun(api, "default/deploy-b", b.id)).state).toBe("successful");
    expect((await waitForRun(api, "default/deploy-b", other.id)).state).toBe("successful");
  });
});

describe('queue: "latest"', () => {
  it("keeps only the newest queued run; an older queued one ends superseded by the next", async () => {
    const running = await start("default/latest", { RELEASE: "q1" });
    const older = await start("default/latest", { RELEASE: "q2" });
    const middle = await start("default/latest", { RELEASE: "q3" });
    const newest = await start("default/latest", { RELEASE: "q4" });
    expect(running.state).toBe("running");
    // Each arrival replaces the one queued before it.
    expect(await getRun("default/latest", older.id)).toMatchObject({ state: "cancelled", reason: `superseded by run ${middle.id}` });
    expect(await getRun("default/latest", middle.id)).toMatchObject({ state: "cancelled", reason: `superseded by run ${newest.id}` });
    expect(await getRun("default/latest", newest.id)).toMatchObject({ state: "queued", position: 1 });
    release("q1");
    release("q4");
    expect((await waitForRun(api, "default/latest", newest.id)).state).toBe("successful");
  });
});

describe("cancelInProgress", () => {
  it("cancels the running run when a new one arrives, then starts the new one", async () => {
    const first = await start("default/preempt", { RELEASE: "p1" });
    await waitForLog(api, "default/preempt", first.id, "hold", /holding p1/);
    const second = await start("default/preempt", { RELEASE: "p2" });
    const cancelled = await waitForRun(api, "default/preempt", first.id);
    expect(cancelled).toMatchObject({ state: "cancelled", reason: `superseded by run ${second.id}` });
    await untilState("default/preempt", second.id, "running");
    release("p2");
    expect((await waitForRun(api, "default/preempt", second.id)).state).toBe("successful");
  });
});

describe("pause", () => {
  it("holds new runs queued from any start, lets running ones finish, and resume starts the queue in order", async () => {
    const running = await start("default/free", { RELEASE: "s1" });
    await waitForLog(api, "default/free", running.id, "hold", /holding s1/);
    const paused = await api("/system/pause", { method: "POST" });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ paused: true, pausedBy: "bootstrap" });
    const status = (await (await api("/system")).json()) as { paused: boolean; pausedAt: string; nodes: { alive: boolean; self: boolean; runs: number }[] };
    expect(status.paused).toBe(true);
    expect(status.pausedAt).toBeTruthy();
    expect(status.nodes).toEqual([expect.objectContaining({ alive: true, self: true })]);

    const first = await start("default/free", { RELEASE: "s2" });
    const second = await start("default/free", { RELEASE: "s3" });
    expect([first.state, second.state]).toEqual(["queued", "queued"]);
    expect((await getRun("default/free", first.id)).waitingFor).toBe("Gantry is paused: new runs wait until it is resumed");
    // The running run goes on to its end.
    release("s1");
    expect((await waitForRun(api, "default/free", running.id)).state).toBe("successful");
    expect((await getRun("default/free", first.id)).state).toBe("queued");

    const resumed = await api("/system/resume", { method: "POST" });
    expect(await resumed.json()).toMatchObject({ paused: false, pausedBy: null });
    await untilState("default/free", first.id, "running");
    await untilState("default/free", second.id, "running");
    release("s2");
    release("s3");
    expect((await waitForRun(api, "default/free", second.id)).state).toBe("successful");
    const events = ((await (await api("/events?limit=1000")).json()) as { events: { kind: string; data: { by?: string } }[] }).events;
    expect(events.filter((event) => event.kind.startsWith("system.")).map((event) => `${event.kind} ${event.data.by}`)).toEqual(["system.paused bootstrap", "system.resumed bootstrap"]);
  });

  it("needs system:write to pause and system:read to look", async () => {
    const token = async (name: string, roles: string[]) =>
      ((await (await api("/tokens", { method: "POST", body: JSON.stringify({ name, roles }) })).json()) as { secret: string }).secret;
    const viewer = await token("looker", ["viewer"]);
    const asViewer = (path: string, method = "GET") => fetch(`${gantry.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${viewer}` } });
    expect((await asViewer("/system")).status).toBe(200);
    const refused = await asViewer("/system/pause", "POST");
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("system:write");
    expect(((await (await api("/system")).json()) as { paused: boolean }).paused).toBe(false);
  });
});

describe("a bad group key", () => {
  it("is a load error naming the unknown variable, and the last good version stays", async () => {
    writeFile(join(gantry.pipelinesDir, "deploy-a.ts"), pipeline("deploy-a", '{ limit: 1, group: "deploy-${BRNCH}" }', `{ RELEASE: "none", BRANCH: "main" }`));
    const broken = await waitFor(async () => {
      const body = (await (await api("/pipelines/default/deploy-a")).json()) as { pipeline: { version: number; error?: { issues: { path: string; message: string }[] } } };
      return body.pipeline.error ? body.pipeline : undefined;
    });
    expect(broken.error!.issues).toEqual([
      { path: "concurrency.group", message: 'unknown variable "BRNCH"; the group key can use the pipeline\'s variables (RELEASE, BRANCH) and GANTRY_* ones' },
    ]);
    expect(broken.version).toBe(1);
    writeFile(join(gantry.pipelinesDir, "deploy-a.ts"), pipeline("deploy-a", '{ limit: 1, group: "deploy-${BRANCH}" }', `{ RELEASE: "none", BRANCH: "main" }`));
    await waitForPipeline(api, "default/deploy-a");
  });
});
