// The engine as a user sees it through the API of a real in-process server: DAG order,
// parallelism, retries, timeouts, failures, cancel, versions, environment, logs, events.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  outputLines,
  readLog,
  readSse,
  startRun,
  startWithPipelines,
  waitFor,
  waitForLog,
  waitForPipeline,
  waitForRun,
  type RunJson,
  type TestGantry,
} from "./helpers/gantry.ts";
import { sharedDir, writeFile } from "./helpers/temp.ts";
import { processesWith } from "./helpers/processes.ts";
import { requestCancel } from "../app/db/repos/runs.ts";
import { latestEventId } from "../app/db/repos/events.ts";

// Servers and task processes need more than bun test's 5 s default; each test file sets its own.
setDefaultTimeout(30_000);

/** Where tests and tasks meet: flag files that release waiting tasks. */
const flags = sharedDir("gantry-flags-");
const flag = (name: string) => join(flags, name);

const HEADER = `import { definePipeline, run } from "gantry";\n`;
/** Marks the processes tasks start, to find them on the host from outside their sandbox. */
const CHILD_MARKER = `gantry-engine-test-${process.pid}`;

/** A task body that waits until a flag file exists (the test controls when a task ends). */
const waitForFlag = (name: string) =>
  `while (!(await Bun.file(${JSON.stringify(flag(name))}).exists())) await Bun.sleep(20);`;

const PIPELINES: Record<string, string> = {
  "parallel.ts": `${HEADER}
const nap = () => run(async () => { await Bun.sleep(400); });
export default definePipeline({ id: "parallel", parallelism: 4, tasks: { a: nap(), b: nap(), c: nap() } });`,

  "serial.ts": `${HEADER}
const nap = () => run(async () => { await Bun.sleep(150); });
export default definePipeline({ id: "serial", parallelism: 1, tasks: { a: nap(), b: nap(), c: nap() } });`,

  "dag.ts": `${HEADER}
export default definePipeline({
  id: "dag",
  tasks: {
    build: run((ctx) => { if (ctx.env.BREAK === "1") throw new Error("build broke"); ctx.log("built"); }),
    test: run((ctx) => ctx.log("tested"), { needs: { build: "success" } }),
    deploy: run((ctx) => ctx.log("deployed"), { needs: { test: "success" } }),
    page: run((ctx) => ctx.log("paging"), { needs: { build: "failure" } }),
    report: run((ctx) => ctx.log("report"), { needs: { deploy: "any", page: "any" } }),
  },
});`,

  "retries.ts": `${HEADER}
export default definePipeline({
  id: "retries",
  tasks: {
    flaky: run((ctx) => {
      ctx.log(\`running attempt \${ctx.attempt}\`);
      if (ctx.attempt < 3) throw new Error(\`not ready on attempt \${ctx.attempt}\`);
    }, { retries: 3 }),
    hopeless: run(() => { throw new Error("always broken"); }, { retries: 1 }),
  },
});`,

  "failures.ts": `${HEADER}
export default definePipeline({
  id: "failures",
  tasks: {
    thrower: run(() => {
      throw new Error("flux capacitor broke");
    }),
    exiter: run(() => { process.exit(3); }),
    crasher: run(() => { process.kill(process.pid, "SIGSEGV"); }),
    // Awaits a promise nothing is left to settle: the runner's event loop empties.
    stalled: run(async () => { await new Promise(() => {}); }),
    sleeper: run(async (ctx) => { ctx.log("sleeping"); await Bun.sleep(30_000); }, { timeout: "300ms" }),
  },
});`,

  "cancel.ts": `${HEADER}
export default definePipeline({
  id: "cancel",
  tasks: {
    polite: run(async (ctx) => {
      // The child ignores SIGTERM: only the group SIGKILL after the task ends can remove it.
      const child = Bun.spawn(["sh", "-c", "trap '' TERM; sleep 30; : ${CHILD_MARKER}-cancel"]);
      ctx.signal.addEventListener("abort", () => { console.log("got SIGTERM, exiting 0"); process.exit(0); });
      ctx.log(\`child pid \${child.pid}\`);
      await Bun.sleep(30_000);
    }),
    stubborn: run(async (ctx) => {
      ctx.log("ignoring signals");
      await Bun.sleep(30_000);
    }),
    after: run((ctx) => ctx.log("should never run"), { needs: { polite: "any" } }),
  },
});`,

  "leftover.ts": `${HEADER}
export default definePipeline({
  id: "leftover",
  tasks: {
    spawner: run((ctx) => {
      // Left running, holding the task's stderr (inherited).
      const child = Bun.spawn(["sh", "-c", "sleep 30; : ${CHILD_MARKER}-leftover"], { stdout: "ignore" });
      ctx.log(\`left child \${child.pid} behind\`);
    }),
  },
});`,

  "tails.ts": `${HEADER}
export default definePipeline({
  id: "tails",
  tasks: {
    // Its last output has no newline; the other writes 200 KB through process.stdout, more than a pipe holds, then returns.
    open: run(() => { console.log("first"); process.stdout.write("no newline at the end"); }),
    bulk: run(() => { for (let i = 1; i <= 2000; i++) process.stdout.write("bulk line " + i + " " + "x".repeat(90) + "\\n"); console.error("done on stderr"); }),
  },
});`,

  "endings.ts": `${HEADER}
export default definePipeline({
  id: "endings",
  tasks: {
    // Exit listeners write after the function returned: one added by it, one added later.
    farewell: run(() => {
      process.on("exit", () => console.log("said at exit"));
      setTimeout(() => process.on("exit", () => console.error("said at exit, added later")), 10);
    }),
    // What the runner writes as it ends, with a key of its own making: output like any other.
    forger: run(() => {
      const forged = "\\u0000gantry-end " + "0".repeat(32) + " 0";
      console.log(forged);
      console.error(forged);
      Bun.spawnSync(["sh", "-c", "printf '\\\\000gantry-end %s 0\\\\n' 0123456789abcdef0123456789abcdef"], { stdout: "inherit" });
      console.log("still running");
      throw new Error("failed after a forged end");
    }),
  },
});`,

  "environment.ts": `${HEADER}
import { existsSync } from "node:fs";
export default definePipeline({
  id: "environment",
  variables: { FROM_PIPELINE: "pipeline", OVERRIDDEN: "pipeline", TASK_WINS: "pipeline" },
  tasks: {
    show: run(async (ctx) => {
      ctx.log("ENV " + JSON.stringify(ctx.env));
      ctx.log("PROCESS " + JSON.stringify(process.env));
      ctx.log("WORKSPACE_EXISTS " + existsSync(ctx.workspace) + " CWD_IS_WORKSPACE " + (process.cwd() === ctx.workspace));
      // Bun's own shell first: before ctx.$ is touched (it is set up on first use).
      const bunShell = (await Bun.$\`echo $FROM_TASK in $(pwd)\`.text()).trim();
      await ctx.$\`echo "shell sees $OVERRIDDEN and $GANTRY_TASK_ID"\`;
      ctx.log("SHELL_PWD " + (await ctx.$\`pwd\`.text()).trim() + " BUN_SHELL " + bunShell);
    }, { env: { FROM_TASK: "task", TASK_WINS: "task" } }),
  },
});`,

  "follow.ts": `${HEADER}
export default definePipeline({
  id: "follow",
  tasks: {
    talk: run(async (ctx) => {
      ctx.log("waiting for the flag");
      ${waitForFlag("follow-release")}
      ctx.log("released");
      ctx.log("bye");
    }),
  },
});`,

  "last.ts": `${HEADER}
export default definePipeline({
  id: "last",
  tasks: {
    only: run(async () => {
      await Bun.write(${JSON.stringify(flag("last-ready"))}, "ready");
      ${waitForFlag("last-go")}
    }),
  },
});`,

  // Awaits at its top level: loaded (and run) by import() after require() refuses it (bundle-import.ts).
  "top-level-await.ts": `${HEADER}
console.log("evaluating the file");
const greeting = await new Promise<string>((resolve) => setTimeout(() => resolve("awaited at load"), 5));
export default definePipeline({
  id: "top-level-await",
  tasks: {
    first: run((ctx) => ctx.log(greeting)),
    left: run((ctx) => ctx.log(greeting), { needs: { first: "success" } }),
    right: run((ctx) => ctx.log(greeting), { needs: { first: "success" } }),
  },
});`,

  // Throws as a run's task loads it (not where the server imports the file).
  "throws-in-run.ts": `${HEADER}
if (process.env.GANTRY_RUN_ID) throw new Error("no runs of this file");
export default definePipeline({ id: "throws-in-run", tasks: { only: run(() => {}) } });`,

  "events.ts": `${HEADER}
export default definePipeline({
  id: "events",
  tasks: {
    first: run(() => {}),
    second: run(() => {}, { needs: { first: "success" } }),
    handler: run(() => {}, { needs: { first: "failure" } }),
  },
});`,
};

let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startWithPipelines(PIPELINES, { env: { GANTRY_KILL_GRACE: "500ms" } });
  const loaded = (await (await gantry.api("/pipelines")).json()) as { pipelines: unknown[] };
  expect(loaded.pipelines).toHaveLength(Object.keys(PIPELINES).length);
});
afterAll(() => gantry?.stop());

const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const task = (run: RunJson, id: string) => {
  const found = run.tasks.find((candidate) => candidate.id === id);
  if (!found) throw new Error(`run has no task ${id}`);
  return found;
};
const ms = (iso: string | null) => new Date(iso!).getTime();

describe("scheduling", () => {
  it("runs independent tasks at the same time", async () => {
    const run = await waitForRun(api, "default/parallel", (await startRun(api, "default/parallel")).id);
    expect(run.state).toBe("successful");
    const latestStart = Math.max(...run.tasks.map((t) => ms(t.startedAt)));
    const earliestEnd = Math.min(...run.tasks.map((t) => ms(t.endedAt)));
    // Every task started before any ended: they overlapped.
    expect(latestStart).toBeLessThan(earliestEnd);
  });

  it("runs one task at a time with parallelism: 1", async () => {
    const run = await waitForRun(api, "default/serial", (await startRun(api, "default/serial")).id);
    expect(run.state).toBe("successful");
    const ordered = [...run.tasks].sort((a, b) => ms(a.startedAt) - ms(b.startedAt));
    for (let i = 1; i < ordered.length; i++) {
      expect(ms(ordered[i]!.startedAt)).toBeGreaterThanOrEqual(ms(ordered[i - 1]!.endedAt));
    }
  });

  it("starts dependents after success and the failure handler never", async () => {
    const run = await waitForRun(api, "default/dag", (await startRun(api, "default/dag")).id);
    expect(run.state).toBe("successful");
    expect(run.reason).toBeUndefined();
    expect(Object.fromEntries(run.tasks.map((t) => [t.id, t.state]))).toEqual({
      build: "successful",
      test: "successful",
      deploy: "successful",
      page: "skipped",
      report: "successful",
    });
    expect(task(run, "page").reason).toBe("needs build to be failed, but it was successful");
    expect(ms(task(run, "test").startedAt)).toBeGreaterThanOrEqual(ms(task(run, "build").endedAt));
    expect(ms(task(run, "deploy").startedAt)).toBeGreaterThanOrEqual(ms(task(run, "test").endedAt));
    expect(await readLog(api, "default/dag", run.id, "deploy")).toContain("deployed");
  });

  it("skips a chain after a failure and runs the failure handler", async () => {
    const run = await waitForRun(api, "default/dag", (await startRun(api, "default/dag", { BREAK: "1" })).id);
    expect(run.state).toBe("failed");
    expect(run.reason).toBe("task build failed");
    expect(Object.fromEntries(run.tasks.map((t) => [t.id, t.state]))).toEqual({
      build: "failed",
      test: "skipped",
      deploy: "skipped",
      page: "successful",
      report: "successful",
    });
    expect(task(run, "test").reason).toBe("needs build to be successful, but it was failed");
    expect(task(run, "deploy").reason).toBe("needs test to be successful, but it was skipped");
    expect(task(run, "deploy").startedAt).toBeNull();
    expect(await readLog(api, "default/dag", run.id, "page")).toContain("paging");
  });
});

describe("retries", () => {
  it("retries a failing task and reports the attempt it succeeded on", async () => {
    const run = await waitForRun(api, "default/retries", (await startRun(api, "default/retries")).id);
    const flaky = task(run, "flaky");
    expect(flaky.state).toBe("successful");
    expect(flaky.attempt).toBe(3);
    expect(flaky.exitCode).toBe(0);
    const log = await readLog(api, "default/retries", run.id, "flaky");
    for (const attempt of [1, 2, 3]) expect(log).toContain(`running attempt ${attempt}`);
    expect(log).not.toContain("running attempt 4");
    expect(log).toContain("attempt 1 failed: threw: not ready on attempt 1; retrying");
    expect(log).toContain("[gantry] attempt 2 of 4");
    expect(log).toContain("[gantry] attempt 3 of 4");
    // The attempts appear in order.
    expect(log.indexOf("running attempt 1")).toBeLessThan(log.indexOf("running attempt 2"));
    expect(log.indexOf("running attempt 2")).toBeLessThan(log.indexOf("running attempt 3"));
  });

  it("fails after the last retry with the last reason", async () => {
    const runs = (await (await api("/pipelines/default/retries/runs?limit=1")).json()) as { runs: RunJson[] };
    const run = runs.runs[0]!;
    expect(run.state).toBe("failed");
    const hopeless = task(run, "hopeless");
    expect(hopeless).toMatchObject({ state: "failed", attempt: 2, exitCode: 1, reason: "threw: always broken" });
    const log = await readLog(api, "default/retries", run.id, "hopeless");
    expect(log.match(/Error: always broken/g)).toHaveLength(2);
    expect(log).toContain("[gantry] failed: threw: always broken");
  });
});

describe("failures", () => {
  let run: RunJson;
  beforeAll(async () => {
    run = await waitForRun(api, "default/failures", (await startRun(api, "default/failures")).id);
  });

  it("fails the run, naming the failed tasks", () => {
    expect(run.state).toBe("failed");
    expect(run.reason).toStartWith("tasks ");
    for (const id of ["thrower", "exiter", "crasher", "stalled", "sleeper"]) expect(run.reason).toContain(id);
  });

  it("puts a thrown error's message in the reason and its stack in the log", async () => {
    expect(task(run, "thrower")).toMatchObject({ state: "failed", exitCode: 1, reason: "threw: flux capacitor broke" });
    const log = await readLog(api, "default/failures", run.id, "thrower");
    expect(log).toContain("[err] Error: flux capacitor broke");
    // The stack points at the pipeline file, not at the bundle or the runner.
    expect(log).toMatch(/failures\.ts:\d+/);
    // Nor at the runner's build (node_modules/.cache/gantry-runner) the server runs it from.
    expect(log).not.toMatch(/task-runner\/main|gantry-runner\//);
  });

  it("fails a task whose file throws as the task loads it, its stack the file's alone", async () => {
    const failed = await waitForRun(api, "default/throws-in-run", (await startRun(api, "default/throws-in-run")).id);
    expect(task(failed, "only")).toMatchObject({ state: "failed", exitCode: 1, reason: "threw: no runs of this file" });
    const log = await readLog(api, "default/throws-in-run", failed.id, "only");
    expect(log).toContain("[err] Error: no runs of this file");
    expect(log).toMatch(/throws-in-run\.ts:\d+/);
    // Neither the runner's frames nor the nameless ones of the loader that required the file.
    expect(log).not.toMatch(/task-runner\/main|gantry-runner\/|bundle-import|at unknown/);
  });

  it("reports the exit code of process.exit", () => {
    expect(task(run, "exiter")).toMatchObject({ state: "failed", exitCode: 3, reason: "exited with code 3" });
  });

  it("fails a task whose function awaits a promise nothing is left to settle, saying so", () => {
    expect(task(run, "stalled")).toMatchObject({
      state: "failed",
      exitCode: 1,
      reason: "its function never finished: it awaits a promise that nothing is left to settle (no timer, request or process of the task is still running)",
    });
  });

  it("reports a crash by signal", () => {
    const crasher = task(run, "crasher");
    expect(crasher.state).toBe("failed");
    expect(crasher.reason).toBe("killed by SIGSEGV");
  });

  it("stops a task at its timeout", async () => {
    const sleeper = task(run, "sleeper");
    expect(sleeper.state).toBe("failed");
    expect(sleeper.reason).toBe("timed out after 300ms");
    // Stopped long before its 30 s sleep: timeout plus the kill grace, with room.
    expect(ms(sleeper.endedAt) - ms(sleeper.startedAt)).toBeLessThan(5_000);
    const log = await readLog(api, "default/failures", run.id, "sleeper");
    expect(log).toContain("sleeping");
    expect(log).toContain("timed out after 300ms");
  });
});

describe("a file that awaits at its top level", () => {
  it("runs its tasks with what it awaited, evaluating the file once in each", async () => {
    const run = await waitForRun(api, "default/top-level-await", (await startRun(api, "default/top-level-await")).id);
    expect(run.state).toBe("successful");
    for (const id of ["first", "left", "right"]) {
      const log = await readLog(api, "default/top-level-await", run.id, id);
      expect(log).toContain("awaited at load");
      expect(log.match(/evaluating the file/g)).toHaveLength(1);
    }
  });
});

describe("cancel", () => {
  it("cancels a running run, its tasks and the processes they started", async () => {
    const started = await startRun(api, "default/cancel");
    await waitForLog(api, "default/cancel", started.id, "polite", /child pid (\d+)/);
    // The task's pids are those of its sandbox: the child is found by its command line.
    const children = () => processesWith(`${CHILD_MARKER}-cancel`);
    await waitFor(() => children().length > 0 || undefined, 5_000, "the child to start");
    await waitForLog(api, "default/cancel", started.id, "stubborn", /ignoring signals/);

    const cancelledAt = Date.now();
    const response = await api(`/pipelines/default/cancel/runs/${started.id}/cancel`, { method: "POST" });
    expect(response.status).toBe(202);
    const run = await waitForRun(api, "default/cancel", started.id);
    expect(run.state).toBe("cancelled");
    expect(run.reason).toBe("cancelled by bootstrap");
    // Exiting 0 on SIGTERM does not make a cancelled task successful.
    expect(task(run, "polite")).toMatchObject({ state: "cancelled", exitCode: 0, reason: "run cancelled" });
    // A task that ignores SIGTERM is killed after the grace period (500ms here).
    expect(task(run, "stubborn")).toMatchObject({ state: "cancelled", reason: "run cancelled" });
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
    expect(task(run, "after")).toMatchObject({ state: "cancelled", startedAt: null });
    expect(await readLog(api, "default/cancel", started.id, "polite")).toContain("got SIGTERM, exiting 0");

    // The `sleep 30` the task started (deaf to SIGTERM) is gone with it.
    await waitFor(() => children().length === 0 || undefined, 5_000, "the child to die");
  });
});

describe("a cancel that meets the run's end", () => {
  it("ends the run cancelled whenever the cancel was accepted before the run ended", async () => {
    // Cancels made the moment the last task ends: the run's end must see them.
    for (let i = 0; i < 5; i++) {
      let answered: number | undefined;
      // Listening before the run starts: its tasks may be done before the API answers.
      const unsubscribe = gantry.deps.bus.subscribe((message) => {
        if (message.pipeline !== "events" || message.kind !== "task.finished" || message.task !== "second" || answered !== undefined) return;
        answered = 0;
        void gantry.deps.orchestrator.cancelRun({ namespace: "default", id: "events", run: message.run! }, "racer").then(
          () => (answered = 202),
          () => (answered = 409),
        );
      });
      const started = await startRun(api, "default/events");
      const run = await waitForRun(api, "default/events", started.id);
      // Still listening: a read may see the run's end before that commit is durable, and
      // the task's message follows the commit.
      const seen = `run ${run.id} ${run.state}: ${run.tasks.map((each) => `${each.id} ${each.state}${each.reason ? ` (${each.reason})` : ""}`).join(", ")}`;
      await waitFor(() => answered || undefined, 15_000, `the cancel's answer (${seen}; the cancel ${answered === 0 ? "asked, not answered" : "never asked"})`);
      unsubscribe();
      if (answered === 202) expect(run).toMatchObject({ state: "cancelled", reason: "cancelled by racer" });
      else expect(run.state).toBe("successful");
    }
  });

  it("ends cancelled when another node stored a cancel just before its last task ended (the task's end and the run's are one commit otherwise)", async () => {
    const cursor = await latestEventId(gantry.deps.db);
    const started = await startRun(api, "default/last");
    await waitFor(() => existsSync(flag("last-ready")), 10_000);
    // What a cancel through another server does: the request is stored, nothing more; the task ends at once.
    await gantry.deps.db.transaction((tx) => requestCancel(tx, { namespace: "default", id: "last", run: started.id }, "cancelled by elsewhere", new Date()));
    writeFileSync(flag("last-go"), "go");
    const run = await waitForRun(api, "default/last", started.id);
    expect(run).toMatchObject({ state: "cancelled", reason: "cancelled by elsewhere" });
    const events = (await (await api(`/events?after=${cursor}&limit=1000`)).json()) as { events: { kind: string; run?: number; pipeline?: string }[] };
    expect(events.events.filter((event) => event.pipeline === "last" && event.run === started.id && event.kind === "run.finished")).toHaveLength(1);
  });

  it("stores a run's end in its last task's commit: both events, the run successful", async () => {
    const started = await startRun(api, "default/serial");
    const run = await waitForRun(api, "default/serial", started.id);
    expect(run.state).toBe("successful");
    expect(run.endedAt).toBe(task(run, "c").endedAt);
  });

  it("starts no further task once another node has written a cancel, before its next look", async () => {
    let requested = false;
    // Listening before the run starts: its first task may be done before the API answers.
    const unsubscribe = gantry.deps.bus.subscribe((message) => {
      if (message.pipeline !== "events" || message.kind !== "task.started" || message.task !== "first" || requested) return;
      requested = true;
      // What a cancel through another server does: the request is stored, nothing more.
      const key = { namespace: "default", id: "events", run: message.run! };
      void gantry.deps.db.transaction((tx) => requestCancel(tx, key, "cancelled by elsewhere", new Date()));
    });
    const started = await startRun(api, "default/events");
    const run = await waitForRun(api, "default/events", started.id);
    unsubscribe();
    expect(run).toMatchObject({ state: "cancelled", reason: "cancelled by elsewhere" });
    expect(task(run, "second")).toMatchObject({ state: "cancelled", startedAt: null, attempts: [] });
  });
});

describe("processes a task leaves behind", () => {
  it("ends the task when its function returns and kills what it left running", async () => {
    const run = await waitForRun(api, "default/leftover", (await startRun(api, "default/leftover")).id);
    const spawner = task(run, "spawner");
    expect(spawner).toMatchObject({ state: "successful", exitCode: 0 });
    // Not held open by the 30 s child that still had the task's stderr.
    expect(ms(spawner.endedAt) - ms(spawner.startedAt)).toBeLessThan(5_000);
    expect(await readLog(api, "default/leftover", run.id, "spawner")).toMatch(/left child (\d+) behind/);
    await waitFor(() => processesWith(`${CHILD_MARKER}-leftover`).length === 0 || undefined, 5_000, "the child to die");
  });
});

describe("the end of a task's output", () => {
  it("keeps every line up to the task's end, a last one without a newline and a queued 200 KB alike", async () => {
    const run = await waitForRun(api, "default/tails", (await startRun(api, "default/tails")).id);
    expect(run.state).toBe("successful");
    expect(outputLines(await readLog(api, "default/tails", run.id, "open"))).toEqual(["first", "no newline at the end"]);
    const bulk = outputLines(await readLog(api, "default/tails", run.id, "bulk"));
    const stdout = bulk.filter((line) => line.startsWith("bulk line "));
    expect(stdout).toHaveLength(2000);
    expect(stdout.at(-1)).toStartWith("bulk line 2000 ");
    expect(bulk).toContain("[err] done on stderr");
    // The runner's end-of-task markers are never in a log.
    expect(await readLog(api, "default/tails", run.id, "bulk")).not.toMatch(/gantry-done|gantry-end/);
  });

  it("keeps what exit listeners write, added by the task or after it returned", async () => {
    const run = await waitForRun(api, "default/endings", (await startRun(api, "default/endings")).id);
    expect(task(run, "farewell")).toMatchObject({ state: "successful", exitCode: 0 });
    expect(outputLines(await readLog(api, "default/endings", run.id, "farewell"))).toEqual(["said at exit", "[err] said at exit, added later"]);
  });

  it("is not ended early by output that looks like the runner's end: the task goes on and fails as it does", async () => {
    const run = await waitForRun(api, "default/endings", (await startRun(api, "default/endings")).id);
    expect(task(run, "forger")).toMatchObject({ state: "failed", exitCode: 1, reason: "threw: failed after a forged end" });
    const lines = outputLines(await readLog(api, "default/endings", run.id, "forger"));
    expect(lines).toContain("still running");
    expect(lines.filter((line) => line.includes("gantry-end 0"))).toHaveLength(3);
  });
});

describe("versions", () => {
  it("finishes a run on the version it started with while new runs use the edited file", async () => {
    const file = join(gantry.pipelinesDir, "versioned.ts");
    const source = (label: string) => `${HEADER}
export default definePipeline({
  id: "versioned",
  tasks: {
    work: run(async (ctx) => {
      ctx.log("started ${label}");
      ${waitForFlag("versioned-release")}
      ctx.log("code ${label}");
    }),
    // Starts only after the edit: it must still load the run's version, not the file's.
    after: run((ctx) => ctx.log("after ${label}"), { needs: { work: "success" } }),
  },
});`;
    writeFile(file, source("v1"));
    await waitForPipeline(api, "default/versioned", 10_000);

    const first = await startRun(api, "default/versioned");
    expect(first.version).toBe(1);
    await waitForLog(api, "default/versioned", first.id, "work", /started v1/);

    writeFile(file, source("v2"));
    await waitFor(
      async () => {
        const body = (await (await api("/pipelines/default/versioned")).json()) as { pipeline: { version: number } };
        return body.pipeline.version === 2 || undefined;
      },
      10_000,
      "v2 to load",
    );
    const v2LoadedAt = Date.now();
    await Bun.write(flag("versioned-release"), "go");

    const finished = await waitForRun(api, "default/versioned", first.id);
    expect(finished.state).toBe("successful");
    expect(finished.version).toBe(1);
    const oldLog = await readLog(api, "default/versioned", first.id, "work");
    expect(oldLog).toContain("code v1");
    expect(oldLog).not.toContain("v2");
    const afterLog = await readLog(api, "default/versioned", first.id, "after");
    expect(afterLog).toContain("after v1");
    expect(afterLog).not.toContain("v2");
    expect(ms(task(finished, "after").startedAt)).toBeGreaterThan(v2LoadedAt);

    const second = await waitForRun(api, "default/versioned", (await startRun(api, "default/versioned")).id);
    expect(second.state).toBe("successful");
    expect(second.version).toBe(2);
    const newLog = await readLog(api, "default/versioned", second.id, "work");
    expect(newLog).toContain("code v2");
    expect(newLog).not.toContain("v1");
    expect(await readLog(api, "default/versioned", second.id, "after")).toContain("after v2");
  });
});

describe("environment", () => {
  const SERVER_ONLY = "GANTRY_TEST_SERVER_ONLY_VALUE";

  it("layers pipeline, task and run variables under system variables that cannot be overridden", async () => {
    process.env.SERVER_ONLY_SECRET = SERVER_ONLY;
    let run: RunJson;
    try {
      run = await waitForRun(
        api,
        "default/environment",
        (await startRun(api, "default/environment", { OVERRIDDEN: "run", FROM_RUN: "run" })).id,
      );
    } finally {
      delete process.env.SERVER_ONLY_SECRET;
    }
    expect(run.state).toBe("successful");
    expect(run.variables).toEqual({ OVERRIDDEN: "run", FROM_RUN: "run" });
    const log = await readLog(api, "default/environment", run.id, "show");
    const env = JSON.parse(/ENV (.*)$/m.exec(log)![1]!) as Record<string, string>;
    const processEnv = JSON.parse(/PROCESS (.*)$/m.exec(log)![1]!) as Record<string, string>;

    expect(env.FROM_PIPELINE).toBe("pipeline");
    expect(env.FROM_TASK).toBe("task");
    expect(env.TASK_WINS).toBe("task");
    expect(env.FROM_RUN).toBe("run");
    expect(env.OVERRIDDEN).toBe("run");
    expect(env.GANTRY_NAMESPACE).toBe("default");
    expect(env.GANTRY_PIPELINE_ID).toBe("environment");
    expect(env.GANTRY_RUN_ID).toBe(String(run.id));
    expect(env.GANTRY_TASK_ID).toBe("show");
    expect(env.GANTRY_API_URL).toBe(gantry.url);
    // In the sandbox the workspace is at /workspace, as in containers.
    expect(env.GANTRY_WORKSPACE).toBe("/workspace");
    expect(log).toContain("WORKSPACE_EXISTS true CWD_IS_WORKSPACE true");
    expect(env.GANTRY_API_TOKEN).toBeUndefined();
    // ctx.env is the process environment; the server's own variables do not leak into it.
    expect(processEnv).toEqual(env);
    expect(JSON.stringify(env)).not.toContain(SERVER_ONLY);
    expect(log).toContain("shell sees run and show");
    // The shell (ctx.$, and Bun's own used directly) starts in the workspace with the task's environment.
    expect(log).toContain("SHELL_PWD /workspace BUN_SHELL task in /workspace");
    // The workspace outlives the run (for inspection) until the janitor prunes it.
    expect(existsSync(join(gantry.dataDir, "workspaces", "default", "environment", String(run.id)))).toBe(true);
  });

  it("refuses a run variable in the reserved GANTRY_ namespace", async () => {
    for (const name of ["GANTRY_RUN_ID", "GANTRY_X", "gantry_workspace"]) {
      const response = await api("/pipelines/default/environment/runs", { method: "POST", body: JSON.stringify({ variables: { [name]: "x" } }) });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("invalid");
      expect(body.error.message).toContain(name);
      expect(body.error.message).toContain("reserved");
    }
  });

  it("refuses a run variable that is not an environment variable name", async () => {
    const response = await api("/pipelines/default/environment/runs", { method: "POST", body: JSON.stringify({ variables: { "NOT-A-NAME": "x" } }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain("NOT-A-NAME");
  });
});

describe("logs", () => {
  it("streams a log with ?follow=1 while the task runs and ends with an end event", async () => {
    const started = await startRun(api, "default/follow");
    const response = await api(`/pipelines/default/follow/runs/${started.id}/tasks/talk/logs?follow=1`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const lines: string[] = [];
    let end: { state: string; exitCode: number | null } | undefined;
    let stateWhenFirstLineArrived: string | undefined;
    for await (const message of readSse(response)) {
      if (message.event === "end") {
        end = JSON.parse(message.data);
        break;
      }
      lines.push(...message.data.split("\n"));
      if (!stateWhenFirstLineArrived && lines.some((line) => line.includes("waiting for the flag"))) {
        const run = (await (await api(`/pipelines/default/follow/runs/${started.id}`)).json()) as { run: RunJson };
        stateWhenFirstLineArrived = task(run.run, "talk").state;
        await Bun.write(flag("follow-release"), "go");
      }
    }
    // The first line came while the task was still running (it waits for the flag).
    expect(stateWhenFirstLineArrived).toBe("running");
    expect(end).toEqual({ state: "successful", exitCode: 0 });
    const text = lines.join("\n");
    expect(text.indexOf("waiting for the flag")).toBeLessThan(text.indexOf("released"));
    expect(text).toContain("bye");
    // Each streamed line is a timestamped log line.
    for (const line of lines.filter(Boolean)) expect(line).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("ends a follow of a finished task at once with the whole log", async () => {
    const run = await waitForRun(api, "default/dag", (await startRun(api, "default/dag")).id);
    const response = await api(`/pipelines/default/dag/runs/${run.id}/tasks/build/logs?follow=1`);
    const messages = [];
    for await (const message of readSse(response)) messages.push(message);
    expect(messages.at(-1)).toEqual({ event: "end", data: JSON.stringify({ state: "successful", exitCode: 0 }) });
    expect(messages.slice(0, -1).map((m) => m.data).join("\n")).toContain("built");
  });

  it("caps a log at GANTRY_LOG_MAX_BYTES, keeping its head and tail around a truncation marker", async () => {
    const cap = 4000;
    const noisy = `${HEADER}
export default definePipeline({
  id: "noisy",
  tasks: {
    ascii: run(() => { for (let i = 0; i < 2000; i++) console.log("line " + i + " " + "x".repeat(40)); }),
    // 1500 bytes but 500 characters a line: the cap must count bytes.
    utf8: run(() => { for (let i = 0; i < 50; i++) console.log("€".repeat(500)); }),
  },
});`;
    const small = await startWithPipelines({ "noisy.ts": noisy }, { env: { GANTRY_LOG_MAX_BYTES: String(cap) } });
    try {
      const smallApi = (path: string, init?: RequestInit) => small.api(path, init);
      const run = await waitForRun(smallApi, "default/noisy", (await startRun(smallApi, "default/noisy")).id);
      expect(run.state).toBe("successful");
      for (const id of ["ascii", "utf8"]) {
        const log = await readLog(smallApi, "default/noisy", run.id, id);
        expect(log.match(/\[gantry\] [\d,]+ lines \(.+\) dropped here: the log is capped at/g)).toHaveLength(1);
        // The task wrote far more than the cap; the log holds its start and its end.
        expect(Buffer.byteLength(log)).toBeLessThanOrEqual(cap);
        expect(Buffer.byteLength(log)).toBeGreaterThan(cap / 3);
      }
      const ascii = await readLog(smallApi, "default/noisy", run.id, "ascii");
      expect(ascii).toContain("line 0 ");
      expect(ascii.trimEnd()).toEndWith(`line 1999 ${"x".repeat(40)}`);
      expect((await readLog(smallApi, "default/noisy", run.id, "utf8")).trimEnd()).toEndWith("€".repeat(500));
    } finally {
      await small.stop();
    }
  });
});

describe("events", () => {
  it("records run and task transitions in order", async () => {
    const before = (await (await api("/events?limit=1000")).json()) as { events: { id: number }[] };
    const cursor = before.events.at(-1)?.id ?? 0;
    const run = await waitForRun(api, "default/events", (await startRun(api, "default/events")).id);
    expect(run.state).toBe("successful");

    const response = await api(`/events?after=${cursor}&limit=1000`);
    expect(response.status).toBe(200);
    const { events } = (await response.json()) as {
      events: { id: number; kind: string; pipeline: string; run: number | null; task: string | null; data: Record<string, unknown> }[];
    };
    expect(events.every((event) => event.id > cursor)).toBe(true);
    const ids = events.map((event) => event.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const mine = events.filter((event) => event.pipeline === "events" && event.run === run.id);
    expect(mine.map((event) => `${event.kind}${event.task ? `:${event.task}` : ""}:${event.data.state}`)).toEqual([
      "run.created:queued",
      "run.started:running",
      "task.started:first:running",
      "task.finished:first:successful",
      "task.finished:handler:skipped",
      "task.started:second:running",
      "task.finished:second:successful",
      "run.finished:successful",
    ]);
  });
});
