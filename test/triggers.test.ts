// The built-in cron and interval extensions on real servers: pipeline triggers start runs
// that record their trigger, bad schedules are load errors, the interval minimum
// comes from config, and ticks missed while the server was down start one run, not N.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startTestGantry, waitFor, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

// Schedules are measured in seconds here, and some tests restart a server.
setDefaultTimeout(60_000);

const EXTENSIONS_ENV = { GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions") };

type TriggeredRun = RunJson & { trigger: { kind: string; by?: string } };

const pipelineSource = (id: string, triggers: string) => `
import { cron, definePipeline, interval, run } from "gantry";
export default definePipeline({ id: ${JSON.stringify(id)}, triggers: [${triggers}], tasks: { tick: run(() => {}) } });
`;

const started: TestGantry[] = [];
afterAll(async () => {
  for (const gantry of started.splice(0)) await gantry.stop().catch(() => undefined);
});

async function start(options: Parameters<typeof startTestGantry>[0] = {}): Promise<TestGantry> {
  const gantry = await startTestGantry({ ...options, env: { ...EXTENSIONS_ENV, ...options.env } });
  started.push(gantry);
  return gantry;
}

async function stop(gantry: TestGantry): Promise<void> {
  started.splice(started.indexOf(gantry), 1);
  await gantry.stop();
}

/** Runs of default/<id>, oldest first. */
async function runsOf(gantry: TestGantry, id: string): Promise<TriggeredRun[]> {
  const response = await gantry.api(`/pipelines/default/${id}/runs?limit=500`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { runs: TriggeredRun[] }).runs.reverse();
}

function subscriptionsOf(gantry: TestGantry, extension: string, pipeline: string) {
  const status = gantry.deps.extensions.get(extension);
  expect(status?.state).toBe("running");
  return status!.subscriptions.filter((subscription) => subscription.pipeline === pipeline);
}

/** Waits until the extension reports an error for the pipeline's subscription. */
const subscriptionError = (gantry: TestGantry, extension: string, pipeline: string) =>
  waitFor(() => subscriptionsOf(gantry, extension, pipeline)[0]?.error, 10_000, `a subscription error for ${pipeline}`);

/** The load error of default/<id> as "path: message", once the loader has seen the file. */
const loadError = (gantry: TestGantry, id: string) =>
  waitFor(async () => {
    const response = await gantry.api(`/pipelines/default/${id}`);
    if (response.status !== 200) return undefined;
    const { pipeline } = (await response.json()) as { pipeline: { error?: { issues: { path: string; message: string }[] } } };
    const issue = pipeline.error?.issues[0];
    return issue && `${issue.path}: ${issue.message}`;
  }, 10_000, `a load error for ${id}`);

describe("cron trigger", () => {
  it("starts runs on a seconds schedule and stops when the trigger is removed", async () => {
    const dir = tempDir("gantry-pipelines-");
    const file = writeFile(join(dir, "every-second.ts"), pipelineSource("every-second", `cron("*/1 * * * * *")`));
    const gantry = await start({ pipelinesDir: dir });

    const runs = await waitFor(async () => {
      const list = await runsOf(gantry, "every-second");
      return list.length >= 2 ? list : undefined;
    }, 3_500, "two cron runs");
    expect(runs[0]!.trigger).toEqual({ kind: "cron", by: "cron */1 * * * * *" });
    const [subscription] = subscriptionsOf(gantry, "cron", "every-second");
    expect(subscription?.params).toEqual({ expression: "*/1 * * * * *" });
    expect(subscription?.error).toBeUndefined();

    writeFile(file, pipelineSource("every-second", ""));
    await waitFor(() => subscriptionsOf(gantry, "cron", "every-second").length === 0, 10_000, "the subscription to go");
    // A tick that fired just before the unsubscribe may still be starting its run.
    await Bun.sleep(500);
    const before = (await runsOf(gantry, "every-second")).length;
    await Bun.sleep(2_500);
    expect((await runsOf(gantry, "every-second")).length).toBe(before);
  });

  it("refuses a bad expression and a bad time zone as load errors, and schedules in a valid zone", async () => {
    const dir = tempDir("gantry-pipelines-");
    writeFile(join(dir, "bad-expression.ts"), pipelineSource("bad-expression", `cron("61 * * * *")`));
    writeFile(join(dir, "bad-zone.ts"), pipelineSource("bad-zone", `cron("0 3 * * *", { timezone: "Mars/Olympus_Mons" })`));
    writeFile(join(dir, "berlin.ts"), pipelineSource("berlin", `cron("*/1 * * * * *", { timezone: "Europe/Berlin" })`));
    const gantry = await start({ pipelinesDir: dir });

    expect(await loadError(gantry, "bad-expression")).toStartWith('triggers.0: invalid cron expression "61 * * * *"');
    expect(await loadError(gantry, "bad-zone")).toStartWith('triggers.0: unknown time zone "Mars/Olympus_Mons"');

    const [run] = await waitFor(async () => {
      const list = await runsOf(gantry, "berlin");
      return list.length > 0 ? list : undefined;
    }, 3_500, "a run in Europe/Berlin");
    expect(run!.trigger).toEqual({ kind: "cron", by: "cron */1 * * * * * (Europe/Berlin)" });
    const [berlin] = subscriptionsOf(gantry, "cron", "berlin");
    expect(berlin?.params).toEqual({ expression: "*/1 * * * * *", timezone: "Europe/Berlin" });
    expect(berlin?.error).toBeUndefined();
    // Files that do not load subscribe to nothing, and the extension itself runs on.
    expect(subscriptionsOf(gantry, "cron", "bad-expression")).toEqual([]);
    expect(subscriptionsOf(gantry, "cron", "bad-zone")).toEqual([]);
    expect(gantry.deps.extensions.get("cron")?.error).toBeUndefined();
  });
});

describe("interval trigger", () => {
  it("starts a run every interval", async () => {
    const dir = tempDir("gantry-pipelines-");
    writeFile(join(dir, "each-second.ts"), pipelineSource("each-second", `interval("1s")`));
    const gantry = await start({ pipelinesDir: dir });
    const startedAt = Date.now();

    const runs = await waitFor(async () => {
      const list = await runsOf(gantry, "each-second");
      return list.length >= 2 ? list : undefined;
    }, 3_500, "two interval runs");
    // A new subscription owes nothing: the first run comes one interval after the start.
    expect(Date.parse(runs[0]!.createdAt) - startedAt).toBeGreaterThanOrEqual(800);
    expect(runs[0]!.trigger).toEqual({ kind: "interval", by: "interval 1s" });
    expect(subscriptionsOf(gantry, "interval", "each-second")[0]?.error).toBeUndefined();
  });

  it("refuses an interval below the default minimum of 1s", async () => {
    const dir = tempDir("gantry-pipelines-");
    writeFile(join(dir, "too-fast.ts"), pipelineSource("too-fast", `interval("10ms")`));
    const gantry = await start({ pipelinesDir: dir });

    expect(await subscriptionError(gantry, "interval", "too-fast")).toContain("below the minimum of 1s");
    await Bun.sleep(300);
    expect(await runsOf(gantry, "too-fast")).toEqual([]);
  });

  it("takes a lower minimum from GANTRY_EXTENSIONS_CONFIG", async () => {
    const dir = tempDir("gantry-pipelines-");
    const fast = writeFile(join(dir, "fast.ts"), pipelineSource("fast", `interval("10ms")`));
    writeFile(join(dir, "faster.ts"), pipelineSource("faster", `interval(2)`));
    const gantry = await start({ pipelinesDir: dir, env: { GANTRY_EXTENSIONS_CONFIG: JSON.stringify({ interval: { minimum: "5ms" } }) } });

    expect(await subscriptionError(gantry, "interval", "faster")).toContain("interval 2ms is below the minimum of 5ms");
    const [run] = await waitFor(async () => {
      const list = await runsOf(gantry, "fast");
      return list.length > 0 ? list : undefined;
    }, 3_000, "a run every 10ms");
    expect(run!.trigger).toEqual({ kind: "interval", by: "interval 10ms" });
    // A hundred runs a second is not what this test is about.
    rmSync(fast);
    await waitFor(() => subscriptionsOf(gantry, "interval", "fast").length === 0, 10_000, "the subscription to go");
  });
});

describe("a renamed pipeline", () => {
  it("drops the old id's trigger: it starts no run and no attempt at one", async () => {
    const dir = tempDir("gantry-pipelines-");
    const file = writeFile(join(dir, "renamed.ts"), pipelineSource("before-rename", `interval("1s")`));
    const gantry = await start({ pipelinesDir: dir });
    await waitFor(async () => (await runsOf(gantry, "before-rename")).length > 0 || undefined, 3_500, "a run of the old id");

    writeFile(file, pipelineSource("after-rename", `interval("1s")`));
    await waitFor(async () => (await gantry.api("/pipelines/default/after-rename")).status === 200 || undefined, 10_000, "the new id to load");
    await waitFor(async () => (await runsOf(gantry, "after-rename")).length > 0 || undefined, 10_000, "a run of the new id");
    expect(subscriptionsOf(gantry, "interval", "before-rename")).toEqual([]);
    expect((await gantry.api("/pipelines/default/before-rename")).status).toBe(404);
    // Two more intervals: an old subscription left behind would try to start runs and fail.
    await Bun.sleep(2_500);
    const log = gantry.deps.extensions.get("interval")!.log;
    expect(log.filter((line) => line.includes("before-rename"))).toEqual([]);
  });
});

describe("ticks missed while the server was down", () => {
  /** Starts, waits for a first scheduled run, stops, waits, and starts again on the same data. */
  async function restartAfterDowntime(id: string, trigger: string, downMs: number) {
    const dataDir = tempDir("gantry-data-");
    const pipelinesDir = tempDir("gantry-pipelines-");
    writeFile(join(pipelinesDir, `${id}.ts`), pipelineSource(id, trigger));
    const first = await start({ dataDir, pipelinesDir });
    const before = await waitFor(async () => {
      const list = await runsOf(first, id);
      return list.length > 0 ? list : undefined;
    }, 5_000, "a first scheduled run");
    // A fresh subscription starts from now: nothing was owed on the first start.
    expect(before.every((run) => !run.trigger.by?.includes("missed"))).toBe(true);
    await stop(first);
    await Bun.sleep(downMs);
    const restartedAt = Date.now();
    const second = await start({ dataDir, pipelinesDir });
    const lastBefore = Math.max(...(await runsOf(second, id)).filter((run) => Date.parse(run.createdAt) < restartedAt).map((run) => run.id));
    return { second, restartedAt, lastBefore };
  }

  const since = (runs: TriggeredRun[], lastBefore: number) => runs.filter((run) => run.id > lastBefore);

  it("starts one catch-up run for a cron schedule, then keeps the schedule", async () => {
    const { second, restartedAt, lastBefore } = await restartAfterDowntime("every-two", `cron("*/2 * * * * *")`, 5_000);

    const [catchUp] = await waitFor(async () => {
      const list = since(await runsOf(second, "every-two"), lastBefore);
      return list.length > 0 ? list : undefined;
    }, 2_000, "the catch-up run");
    expect(catchUp!.trigger).toEqual({ kind: "cron", by: "cron */2 * * * * * (missed tick)" });
    expect(Date.parse(catchUp!.createdAt) - restartedAt).toBeLessThan(1_500);

    // Two scheduled ticks later: still one catch-up, and the rest on even seconds, 2 s apart.
    await waitFor(async () => since(await runsOf(second, "every-two"), lastBefore).length >= 3 || undefined, 6_000, "two scheduled runs");
    const after = since(await runsOf(second, "every-two"), lastBefore);
    expect(after.filter((run) => run.trigger.by?.includes("missed"))).toHaveLength(1);
    const scheduled = after.slice(1);
    expect(scheduled.every((run) => run.trigger.by === "cron */2 * * * * *")).toBe(true);
    for (const run of scheduled) expect(new Date(run.createdAt).getUTCSeconds() % 2).toBe(0);
    expect(Date.parse(scheduled[1]!.createdAt) - Date.parse(scheduled[0]!.createdAt)).toBeGreaterThan(1_500);
  });

  it("starts one catch-up run for an interval, then runs every interval on the old cadence", async () => {
    const { second, restartedAt, lastBefore } = await restartAfterDowntime("every-two-seconds", `interval("2s")`, 5_000);
    const lastRunBefore = (await runsOf(second, "every-two-seconds")).find((run) => run.id === lastBefore)!;

    const [catchUp] = await waitFor(async () => {
      const list = since(await runsOf(second, "every-two-seconds"), lastBefore);
      return list.length > 0 ? list : undefined;
    }, 2_000, "the catch-up run");
    expect(catchUp!.trigger).toEqual({ kind: "interval", by: "interval 2s (missed tick)" });
    expect(Date.parse(catchUp!.createdAt) - restartedAt).toBeLessThan(1_500);

    await waitFor(async () => since(await runsOf(second, "every-two-seconds"), lastBefore).length >= 3 || undefined, 6_000, "two scheduled runs");
    const after = since(await runsOf(second, "every-two-seconds"), lastBefore);
    expect(after.filter((run) => run.trigger.by?.includes("missed"))).toHaveLength(1);
    const scheduled = after.slice(1);
    expect(scheduled.every((run) => run.trigger.by === "interval 2s")).toBe(true);
    // The catch-up stands for the last tick due, so the next comes within one interval of it
    // (servers starting together after downtime all keep that one cadence), then every 2 s.
    expect(Date.parse(scheduled[0]!.createdAt) - Date.parse(catchUp!.createdAt)).toBeLessThan(2_300);
    const gaps = scheduled.slice(1).map((run, index) => Date.parse(run.createdAt) - Date.parse(scheduled[index]!.createdAt));
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(1_700);
      expect(gap).toBeLessThan(2_500);
    }
    // On the cadence of the runs before the downtime: a whole number of intervals after the last of them.
    for (const run of scheduled) {
      const phase = (Date.parse(run.createdAt) - Date.parse(lastRunBefore.createdAt)) % 2_000;
      expect(Math.min(phase, 2_000 - phase)).toBeLessThan(300);
    }
  });

  it("owes nothing after a restart within the interval, and keeps the old cadence", async () => {
    const { second, lastBefore } = await restartAfterDowntime("every-four-seconds", `interval("4s")`, 0);
    const before = await runsOf(second, "every-four-seconds");
    const lastRun = before.find((run) => run.id === lastBefore)!;

    const [next] = await waitFor(async () => {
      const list = since(await runsOf(second, "every-four-seconds"), lastBefore);
      return list.length > 0 ? list : undefined;
    }, 6_000, "the next scheduled run");
    expect(next!.trigger).toEqual({ kind: "interval", by: "interval 4s" });
    const gap = Date.parse(next!.createdAt) - Date.parse(lastRun.createdAt);
    expect(gap).toBeGreaterThan(3_700);
    expect(gap).toBeLessThan(4_600);
  });
});
