// Re-running a run through the API of a real server: same version and variables, every
// task or only what failed (successful tasks reused, the workspace copied), every attempt
// kept, and clear refusals.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readLog, startRun, startWithPipelines, waitFor, waitForLog, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(30_000);

const flags = sharedDir("gantry-flags-");
const flag = (name: string) => join(flags, name);
const HEADER = `import { definePipeline, run } from "gantry";\nimport { appendFileSync } from "node:fs";\n`;
/** Each execution of a task appends its name to this file. */
const MARKS = flag("marks");
const mark = (task: string) => `appendFileSync(${JSON.stringify(MARKS)}, "${task} " + ctx.env.GANTRY_RUN_ID + "\\n");`;

const flow = (extraTask = "") => `${HEADER}
export default definePipeline({
  id: "flow",
  variables: { MODE: "default" },
  tasks: {
    prepare: run(async (ctx) => { ${mark("prepare")} await Bun.write(ctx.workspace + "/prepared.txt", "prepared by run " + ctx.env.GANTRY_RUN_ID); ctx.log("prepared"); }),
    test: run(async (ctx) => {
      ${mark("test")}
      ctx.log("workspace says: " + (await Bun.file(ctx.workspace + "/prepared.txt").text()) + ", mode " + ctx.env.MODE + ", origin run " + ctx.env.GANTRY_ORIGIN_RUN_ID);
      if (!(await Bun.file(${JSON.stringify(flag("fixed"))}).exists())) throw new Error("tests fail on attempt " + ctx.attempt);
    }, { needs: { prepare: "success" }, retries: 1 }),
    report: run((ctx) => { ${mark("report")} ctx.log("report"); }, { needs: { test: "any" } }),
    notify: run((ctx) => { ${mark("notify")} ctx.log("notify"); }, { needs: { test: "failure" } }),${extraTask}
  },
});
`;

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);

beforeAll(async () => {
  gantry = await startWithPipelines({
    "flow.ts": flow(),
    "slow.ts": `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "slow", tasks: { wait: run(async (ctx) => { ctx.log("waiting"); while (!(await Bun.file(${JSON.stringify(flag("slow"))}).exists())) await Bun.sleep(20); }) } });\n`,
  });
});
afterAll(() => gantry?.stop());

type RerunJson = RunJson;
const task = (run: RerunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)!;
const states = (run: RerunJson) => Object.fromEntries(run.tasks.map((execution) => [execution.id, execution.state]));

async function rerun(run: number, body?: unknown): Promise<Response> {
  return api(`/pipelines/default/flow/runs/${run}/rerun`, { method: "POST", ...(body !== undefined && { body: JSON.stringify(body) }) });
}
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;
const marks = () => (existsSync(MARKS) ? readFileSync(MARKS, "utf8").trim().split("\n") : []);

let original: RerunJson;

describe("a failed run", () => {
  beforeAll(async () => {
    original = (await waitForRun(api, "default/flow", (await startRun(api, "default/flow", { MODE: "careful" })).id)) as RerunJson;
  });

  it("keeps every attempt of a retried task, each with its own part of the log", async () => {
    expect(original.state).toBe("failed");
    expect(states(original)).toEqual({ prepare: "successful", test: "failed", report: "successful", notify: "successful" });
    expect(task(original, "test").attempts.map((attempt) => [attempt.attempt, attempt.state, attempt.reason])).toEqual([
      [1, "failed", "threw: tests fail on attempt 1"],
      [2, "failed", "threw: tests fail on attempt 2"],
    ]);
    const first = await (await api(`/pipelines/default/flow/runs/${original.id}/tasks/test/logs?attempt=1`)).text();
    const second = await (await api(`/pipelines/default/flow/runs/${original.id}/tasks/test/logs?attempt=2`)).text();
    expect(first).toContain("tests fail on attempt 1");
    expect(first).not.toContain("attempt 2");
    expect(second).toContain("[gantry] attempt 2 of 2");
    expect(second).toContain("tests fail on attempt 2");
    expect((await api(`/pipelines/default/flow/runs/${original.id}/tasks/test/logs?attempt=3`)).status).toBe(404);
  });

  it("re-runs only what failed: successful tasks reused, the workspace copied, the same version and variables", async () => {
    // A new version meanwhile: the re-run keeps the original's.
    writeFile(join(gantry.pipelinesDir, "flow.ts"), flow(`\n    extra: run((ctx) => ctx.log("only in version 2")),`));
    await waitFor(async () => ((await (await api("/pipelines/default/flow")).json()) as { pipeline: { version: number } }).pipeline.version === 2 || undefined);
    writeFile(flag("fixed"), "yes");
    const before = marks().length;
    const response = await rerun(original.id, { only: "failed" });
    expect(response.status).toBe(201);
    const started = ((await response.json()) as { run: RerunJson }).run;
    expect(started).toMatchObject({ rerunOf: original.id, rerunOnly: "failed", version: 1, variables: { MODE: "careful" }, trigger: { kind: "api", by: "bootstrap" } });
    expect(task(started, "prepare")).toMatchObject({ state: "reused", reusedFrom: original.id });

    const done = (await waitForRun(api, "default/flow", started.id)) as RerunJson;
    expect(done.state).toBe("successful");
    expect(states(done)).toEqual({ prepare: "reused", test: "successful", report: "successful", notify: "skipped" });
    // prepare did not run again; the tasks after the failure did, once each.
    expect(marks().slice(before)).toEqual([`test ${done.id}`, `report ${done.id}`]);
    // The re-run started from the original's files, under its own number.
    // ...and tells its tasks the run whose results it reuses (what a reused build tagged).
    expect(await readLog(api, "default/flow", done.id, "test")).toContain(`workspace says: prepared by run ${original.id}, mode careful, origin run ${original.id}`);
    // A reused task's log is the one of the run that executed it.
    expect(await readLog(api, "default/flow", done.id, "prepare")).toBe(await readLog(api, "default/flow", original.id, "prepare"));
    const reusedAttempt = await api(`/pipelines/default/flow/runs/${done.id}/tasks/prepare/logs?attempt=1`);
    expect(reusedAttempt.status).toBe(200);
    expect(await reusedAttempt.text()).toContain("prepared");
    const events = ((await (await api("/events?limit=1000")).json()) as { events: { kind: string; run: number | null; data: { rerunOf?: number; only?: string } }[] }).events;
    expect(events.find((event) => event.kind === "run.created" && event.run === done.id)?.data).toMatchObject({ rerunOf: original.id, only: "failed" });

    // Re-running the re-run keeps pointing at the run that executed the reused task.
    rmSync(flag("fixed"));
    const again = (await waitForRun(api, "default/flow", (((await (await rerun(done.id, { only: "all" })).json()) as { run: RerunJson }).run).id)) as RerunJson;
    expect(again).toMatchObject({ rerunOf: done.id, rerunOnly: "all", version: 1 });
    expect(states(again)).toEqual({ prepare: "successful", test: "failed", report: "successful", notify: "successful" });
    // Every task ran again: the re-run is its own origin.
    expect(await readLog(api, "default/flow", again.id, "test")).toContain(`origin run ${again.id}`);
    writeFile(flag("fixed"), "yes");
    const third = (await waitForRun(api, "default/flow", (((await (await rerun(again.id, { only: "failed" })).json()) as { run: RerunJson }).run).id)) as RerunJson;
    expect(task(third, "prepare")).toMatchObject({ state: "reused", reusedFrom: again.id });
    expect(await readLog(api, "default/flow", third.id, "test")).toContain(`origin run ${again.id}`);
  });

  it("re-runs every task by default", async () => {
    const response = await rerun(original.id);
    expect(response.status).toBe(201);
    const done = (await waitForRun(api, "default/flow", ((await response.json()) as { run: RerunJson }).run.id)) as RerunJson;
    expect(done).toMatchObject({ state: "successful", rerunOf: original.id, rerunOnly: "all", version: 1 });
    expect(task(done, "prepare").state).toBe("successful");
  });
});

describe("refusals", () => {
  it("answers 409 for a run that has not ended, 404 for an unknown one, 400 for an unknown scope", async () => {
    const slow = await startRun(api, "default/slow");
    await waitForLog(api, "default/slow", slow.id, "wait", /waiting/);
    const running = await api(`/pipelines/default/slow/runs/${slow.id}/rerun`, { method: "POST", body: "{}" });
    expect(running.status).toBe(409);
    expect((await errorOf(running)).message).toBe(`run ${slow.id} of default/slow is running: only a run that has ended can be re-run`);
    writeFile(flag("slow"), "go");
    await waitForRun(api, "default/slow", slow.id);

    expect((await rerun(9999)).status).toBe(404);
    const bad = await rerun(original.id, { only: "broken" });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toContain('"failed"');
    expect((await rerun(original.id, { only: "failed", extra: 1 })).status).toBe(400);
  });

  it("answers 409 to re-running the failed tasks of a run with none", async () => {
    const ok = (await waitForRun(api, "default/slow", (await startRun(api, "default/slow")).id)) as RerunJson;
    expect(ok.state).toBe("successful");
    const response = await api(`/pipelines/default/slow/runs/${ok.id}/rerun`, { method: "POST", body: JSON.stringify({ only: "failed" }) });
    expect(response.status).toBe(409);
    expect((await errorOf(response)).message).toContain("has no failed, skipped or cancelled task to re-run");
  });

  it("answers 409 to re-running failed tasks once the workspace was pruned, and all tasks still run", async () => {
    rmSync(flag("fixed"), { force: true });
    const failed = (await waitForRun(api, "default/flow", (await startRun(api, "default/flow")).id)) as RerunJson;
    expect(failed.state).toBe("failed");
    // What the janitor does to workspaces beyond the newest runs.
    rmSync(join(gantry.dataDir, "workspaces", "default", "flow", String(failed.id)), { recursive: true, force: true });
    const response = await rerun(failed.id, { only: "failed" });
    expect(response.status).toBe(409);
    expect((await errorOf(response)).message).toBe(
      `the workspace of run ${failed.id} of default/flow was pruned, so the files of its successful tasks are gone; re-run all tasks instead`,
    );
    expect((await rerun(failed.id, { only: "all" })).status).toBe(201);
  });

  it("needs runs:write on the pipeline, checked first", async () => {
    const { secret } = (await (await api("/tokens", { method: "POST", body: JSON.stringify({ name: "reader", roles: ["viewer"] }) })).json()) as { secret: string };
    const response = await fetch(`${gantry.url}/api/v1/pipelines/default/flow/runs/9999/rerun`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ only: "nonsense" }),
    });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toContain("runs:write");
  });
});
