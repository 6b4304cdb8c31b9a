// A task past its timeout shows as timing out at once (reason and event), its run() task's
// ctx.signal aborts with a TimeoutError (a cancel's still says "task cancelled"), and it is
// killed after the timeout grace (GANTRY_TIMEOUT_GRACE, 3 s), not the longer cancel grace.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readLog, startRun, startWithPipelines, waitFor, waitForLog, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { webLogin } from "./helpers/web.ts";

setDefaultTimeout(60_000);

const HEADER = `import { definePipeline, container, run } from "gantry";\n`;
/** Logs what ctx.signal aborted with, then ends as a well-behaved task does. */
const LISTENER = `run(async (ctx) => {
  ctx.signal.addEventListener("abort", () => {
    const reason = ctx.signal.reason;
    console.log("aborted: " + reason.name + ": " + reason.message);
    process.exit(1);
  });
  ctx.log("listening");
  await Bun.sleep(30_000);
}`;

const PIPELINES: Record<string, string> = {
  // A run() task that does not listen to ctx.signal ignores SIGTERM.
  "to-stubborn.ts": `${HEADER}export default definePipeline({ id: "to-stubborn", tasks: { stubborn: run(async (ctx) => { ctx.log("ignoring signals"); await Bun.sleep(30_000); }, { timeout: "1s" }) } });`,
  "to-listener.ts": `${HEADER}export default definePipeline({ id: "to-listener", tasks: { listener: ${LISTENER}, { timeout: "1s" }) } });`,
  "to-cancelled.ts": `${HEADER}export default definePipeline({ id: "to-cancelled", tasks: { listener: ${LISTENER}, { timeout: "30s" }) } });`,
  "to-container.ts": `${HEADER}export default definePipeline({
  id: "to-container",
  tasks: { deaf: container({ image: "local/busybox:latest", command: ["sh", "-c", "trap '' TERM; echo deaf; sleep 30 & wait; sleep 30"], timeout: "1s" }) },
});`,
};

let gantry: TestGantry;

beforeAll(async () => {
  // A cancel's grace far longer than the timeout's (3 s by default), so the test tells them apart.
  gantry = await startWithPipelines(PIPELINES, { env: { GANTRY_KILL_GRACE: "10s" } });
});
afterAll(() => gantry?.stop());

const ms = (iso: string | null | undefined) => new Date(iso!).getTime();
const taskOf = (run: RunJson, id: string) => run.tasks.find((task) => task.id === id)!;

async function getRun(pipeline: string, run: number): Promise<RunJson> {
  return ((await (await gantry.api(`/pipelines/default/${pipeline}/runs/${run}`)).json()) as { run: RunJson }).run;
}

describe("a task past its timeout", () => {
  it("shows as timing out at once, then fails with the timeout reason after the timeout grace", async () => {
    const started = await startRun(gantry.api, "default/to-stubborn");
    const timingOut = await waitFor(
      async () => {
        const current = await getRun("to-stubborn", started.id);
        const task = taskOf(current, "stubborn");
        return task.state === "running" && task.reason ? current : undefined;
      },
      10_000,
      "the task to show it is timing out",
    );
    const task = taskOf(timingOut, "stubborn");
    expect(task.reason).toBe("timed out after 1s, stopping");
    expect(task.attempts[0]).toMatchObject({ state: "running", reason: "timed out after 1s, stopping" });
    // Marked when the timeout passed, not when the task ended.
    expect(Date.now() - ms(task.startedAt)).toBeLessThan(2_500);

    const web = await webLogin(gantry.url, gantry.token);
    const page = await (await web.get(`/pipelines/default/to-stubborn/runs/${started.id}`)).text();
    expect(page).toContain("timing out");

    const run = await waitForRun(gantry.api, "default/to-stubborn", started.id);
    const ended = taskOf(run, "stubborn");
    expect(ended).toMatchObject({ state: "failed", reason: "timed out after 1s" });
    // SIGKILL after the 3 s timeout grace, not the 10 s cancel grace.
    const took = ms(ended.endedAt) - ms(ended.startedAt);
    expect(took).toBeGreaterThanOrEqual(3_800);
    expect(took).toBeLessThan(5_500);

    const { events } = (await (await gantry.api("/events?limit=1000")).json()) as { events: { kind: string; pipeline: string; run: number; data: Record<string, unknown> }[] };
    const marks = events.filter((event) => event.kind === "task.timing_out" && event.pipeline === "to-stubborn" && event.run === started.id);
    expect(marks).toHaveLength(1);
    expect(marks[0]!.data).toMatchObject({ attempt: 1, reason: "timed out after 1s, stopping" });
  });

  it("aborts a run() task's ctx.signal with a TimeoutError, and a cancel's still with \"task cancelled\"", async () => {
    const run = await waitForRun(gantry.api, "default/to-listener", (await startRun(gantry.api, "default/to-listener")).id);
    const listener = taskOf(run, "listener");
    expect(listener).toMatchObject({ state: "failed", reason: "timed out after 1s" });
    // It stopped on SIGTERM, long before any grace ran out.
    expect(ms(listener.endedAt) - ms(listener.startedAt)).toBeLessThan(2_500);
    expect(await readLog(gantry.api, "default/to-listener", run.id, "listener")).toContain("aborted: TimeoutError: timed out after 1s");

    // A task with a timeout cancelled before it: the signal says cancelled.
    const started = await startRun(gantry.api, "default/to-cancelled");
    await waitForLog(gantry.api, "default/to-cancelled", started.id, "listener", /listening/);
    expect((await gantry.api(`/pipelines/default/to-cancelled/runs/${started.id}/cancel`, { method: "POST" })).status).toBe(202);
    const cancelled = await waitForRun(gantry.api, "default/to-cancelled", started.id);
    expect(taskOf(cancelled, "listener")).toMatchObject({ state: "cancelled", reason: "run cancelled" });
    expect(await readLog(gantry.api, "default/to-cancelled", cancelled.id, "listener")).toContain("aborted: Error: task cancelled");
  });

  it("stops a container with the timeout grace too", async () => {
    const started = await startRun(gantry.api, "default/to-container");
    await waitFor(async () => taskOf(await getRun("to-container", started.id), "deaf").reason === "timed out after 1s, stopping" || undefined, 10_000, "the container to time out");
    const run = await waitForRun(gantry.api, "default/to-container", started.id);
    const deaf = taskOf(run, "deaf");
    expect(deaf).toMatchObject({ state: "failed", reason: "timed out after 1s" });
    expect(ms(deaf.endedAt) - ms(deaf.startedAt)).toBeLessThan(6_500);
  });
});
