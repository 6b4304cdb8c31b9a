// The CLI of the durable run engine against a real server: re-runs (all tasks, or only the
// failed ones with the rest reused), pause and resume with runs waiting queued, where a
// queued run stands and why, and a task's attempts and each attempt's log. Each command runs
// as a subprocess and is judged by its exit code, stdout and stderr.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import * as v from "valibot";
import { runAnswer, systemAnswer } from "../app/api-contract/answers.ts";
import { startWithPipelines, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { runCli, startedRun, cliInBackground as background } from "./helpers/cli.ts";

setDefaultTimeout(60_000);

const PIPELINES: Record<string, string> = {
  "greet.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "greet",
      tasks: {
        say: run((ctx) => ctx.log("hello")),
        check: run((ctx) => ctx.log("checked"), { needs: { say: "success" } }),
      },
    });`,
  // check fails the first time it runs in a workspace and passes once the flag file it
  // leaves is there: a re-run of the failed tasks (which starts from a copy of the
  // workspace) succeeds, a re-run of all tasks (a fresh workspace) fails again.
  "flaky.ts": `
    import { definePipeline, run } from "gantry";
    import { existsSync, writeFileSync } from "node:fs";
    export default definePipeline({
      id: "flaky",
      tasks: {
        prepare: run((ctx) => {
          writeFileSync(ctx.workspace + "/prepared", "yes");
          ctx.log("prepared");
        }),
        check: run((ctx) => {
          const flag = ctx.workspace + "/tried";
          if (!existsSync(flag)) {
            writeFileSync(flag, "1");
            throw new Error("fails the first time on purpose");
          }
          ctx.log("passes the second time");
        }, { needs: { prepare: "success" } }),
      },
    });`,
  "retry.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "retry",
      tasks: {
        wobbly: run((ctx) => {
          ctx.log("attempt " + ctx.attempt + " here");
          if (ctx.attempt === 1) throw new Error("the first attempt fails");
        }, { retries: 1 }),
      },
    });`,
  "slow.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "slow",
      tasks: {
        wait: run(async (ctx) => {
          for (let i = 0; i < 600 && !ctx.signal.aborted; i++) await Bun.sleep(100);
        }),
      },
    });`,
  "limited.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "limited",
      concurrency: { limit: 1 },
      tasks: { hold: run(async () => { await Bun.sleep(1500); }) },
    });`,
};

let gantry: TestGantry;

/** Runs `gantry <args>` from source against the test server. */
const cli = (args: string[]) => runCli(args, { server: gantry });

/** Starts `gantry <args>` against the test server in the background. */
const cliInBackground = (args: string[]) => background(args, { server: gantry });

async function runState(pipeline: string, run: number): Promise<RunJson> {
  const response = await gantry.api(`/pipelines/${pipeline}/runs/${run}`);
  return ((await response.json()) as { run: RunJson }).run;
}

beforeAll(async () => {
  gantry = await startWithPipelines(PIPELINES);
});

afterAll(async () => {
  // Never leave the server paused for whatever runs next.
  await gantry.api("/system/resume", { method: "POST" });
  await gantry.stop();
});

describe("gantry run rerun", () => {
  it("re-runs only the failed tasks with --failed --wait: the successful one is reused, exit 0", async () => {
    const first = await cli(["run", "start", "flaky", "--wait"]);
    expect(first.exitCode).toBe(1);
    const original = startedRun(first.stdout);

    const rerun = await cli(["run", "rerun", "flaky", String(original), "--failed", "--wait"]);
    expect(rerun.exitCode).toBe(0);
    const again = startedRun(rerun.stdout);
    expect(again).toBeGreaterThan(original);
    expect(rerun.stdout).toContain(
      `started run default/flaky #${again}, a re-run of #${original} (failed tasks), waiting for it to end (also at ${gantry.url}/pipelines/default/flaky/runs/${again})`,
    );
    expect(rerun.stdout).toMatch(new RegExp(`↺ prepare\\s+reused from run ${original}\\n`));
    expect(rerun.stdout).toMatch(/✓ check\s+successful in /);
    expect(rerun.stdout).toMatch(new RegExp(`✓ run default/flaky #${again} successful in \\S+\\n$`));

    const shown = await cli(["run", "get", "flaky", String(again)]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`re-run of\\s+#${original} \\(failed tasks\\)`));
    expect(shown.stdout).toMatch(new RegExp(`prepare\\s+run\\s+↺ reused\\s+.*reused from run ${original}`));
    expect(shown.stdout).toMatch(/check\s+run\s+✓ successful\s+0\s+1\s/);
    const listed = await cli(["run", "ls", "flaky"]);
    expect(listed.stdout).toMatch(new RegExp(`#${again}\\s+✓ successful\\s+api \\(bootstrap\\), re-run of #${original} \\(failed tasks\\)`));

    // The reused task's log is the one of the run that executed it.
    const log = await cli(["logs", "flaky", String(again), "prepare"]);
    expect(log.exitCode).toBe(0);
    expect(log.stdout).toContain("prepared");
  });

  it("re-runs all tasks by default and, with --wait, exits 1 when the new run fails", async () => {
    const original = startedRun((await cli(["run", "start", "flaky", "--wait"])).stdout);

    const started = await cli(["run", "rerun", "flaky", String(original)]);
    expect(started.exitCode).toBe(0);
    const again = startedRun(started.stdout);
    expect(started.stdout.trim()).toBe(`started run default/flaky #${again} (running), a re-run of #${original} (all tasks): ${gantry.url}/pipelines/default/flaky/runs/${again}`);
    const ended = await waitForRun(gantry.api, "default/flaky", again);
    // Every task executed again, in a fresh workspace, so check failed as the first time.
    expect(ended.state).toBe("failed");
    expect(ended.tasks.map((task) => task.state)).toEqual(["successful", "failed"]);

    const waited = await cli(["run", "rerun", "flaky", String(original), "--wait"]);
    expect(waited.exitCode).toBe(1);
    expect(waited.stdout).toMatch(/✓ prepare\s+successful in /);
    expect(waited.stdout).toMatch(/✗ check\s+failed in .*fails the first time on purpose/);

    const json = await cli(["run", "rerun", "flaky", String(original), "--json"]);
    expect(json.exitCode).toBe(0);
    const body = JSON.parse(json.stdout) as { run: RunJson & { rerunOf: number; rerunOnly: string } };
    expect(body.run).toMatchObject({ rerunOf: original, rerunOnly: "all" });
    await waitForRun(gantry.api, "default/flaky", body.run.id);
  });

  it("refuses with the server's message and exit 2: a run still running, a run with nothing failed", async () => {
    const slow = startedRun((await cli(["run", "start", "slow"])).stdout);
    await waitFor(async () => (await runState("default/slow", slow)).state === "running", 15_000, "slow to run");
    const running = await cli(["run", "rerun", "slow", String(slow)]);
    expect(running.exitCode).toBe(2);
    expect(running.stderr).toBe(`gantry: run ${slow} of default/slow is running: only a run that has ended can be re-run\n`);
    expect((await cli(["run", "cancel", "slow", String(slow)])).exitCode).toBe(0);

    const good = startedRun((await cli(["run", "start", "greet", "--wait"])).stdout);
    const nothing = await cli(["run", "rerun", "greet", String(good), "--failed"]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain("has no failed, skipped or cancelled task to re-run");

    const usage = await cli(["run", "rerun", "greet"]);
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain("missing <run>");
    expect(usage.stderr).toContain("usage: gantry run rerun <ns/id> <run> [--failed] [--wait] [--json]");
    await waitForRun(gantry.api, "default/slow", slow);
  });
});

describe("gantry system", () => {
  it("reports one alive node, the one that answered, that runs are not paused, and the warm runners", async () => {
    // Once the pool is full, so the text below tells the same counts.
    const json = await waitFor(async () => {
      const answer = await cli(["system", "status", "--json"]);
      return (JSON.parse(answer.stdout) as { runners?: { pool: { ready: number } } }).runners?.pool.ready === 4 ? answer : undefined;
    }, 20_000, "the warm runners to be ready");
    expect(json.exitCode).toBe(0);
    const body = JSON.parse(json.stdout) as {
      paused: boolean;
      nodes: { id: string; alive: boolean; self: boolean; pid: number; runs: number }[];
      runners: { pool: { ready: number; size: number; misses: number }; started: { warm: number; booting: number; own: number } };
    };
    expect(body.paused).toBe(false);
    expect(body.nodes).toHaveLength(1);
    expect(body.nodes[0]).toMatchObject({ alive: true, self: true, pid: process.pid });
    // This server's warm runners (GANTRY_RUN_POOL's default, 4), and how its run() tasks got theirs.
    expect(body.runners.pool.size).toBe(4);
    expect([body.runners.pool.ready, body.runners.pool.misses, ...Object.values(body.runners.started)].every(Number.isInteger)).toBe(true);

    const text = await cli(["system", "status"]);
    expect(text.exitCode).toBe(0);
    const { pool, started } = body.runners;
    expect(text.stdout).toStartWith(
      `runs: not paused\nwarm runners (this server): ${pool.ready} of 4 ready; run() tasks in its sandbox since it started: ${started.warm} warm, ${started.booting} waited for one booting, ${started.own} started their own${pool.misses ? "; " : "\n"}`,
    );
    expect(text.stdout).toMatch(/NODE\s+HOST\s+PID\s+VERSION\s+STATE\s+HEARTBEAT\s+RUNS/);
    expect(text.stdout).toMatch(new RegExp(`${body.nodes[0]!.id} \\(self\\)\\s+\\S+\\s+${process.pid}\\s+\\S+\\s+alive\\s+\\S+ ago\\s+\\d+`));
  });

  it("answers pause and resume without the warm runners to a token that may not read the system", async () => {
    const role = await gantry.api("/roles/switch-only", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "system", target: ".*", actions: ["write"] }] }) });
    expect(role.status).toBeLessThan(300);
    const { secret } = (await (await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "switch-only", roles: ["switch-only"] }) })).json()) as { secret: string };
    const as = (path: string) => fetch(`${gantry.url}/api/v1${path}`, { method: "POST", headers: { authorization: `Bearer ${secret}` } });
    const paused = (await (await as("/system/pause")).json()) as { paused: boolean; runners?: unknown };
    const resumed = (await (await as("/system/resume")).json()) as { paused: boolean; runners?: unknown };
    expect([paused.paused, "runners" in paused, resumed.paused, "runners" in resumed]).toEqual([true, false, false, false]);
    // An admin's answer has them.
    expect("runners" in ((await (await gantry.api("/system")).json()) as object)).toBe(true);
  });

  it("pauses: a started run waits queued with its place and reason, and runs once resumed", async () => {
    const paused = await cli(["system", "pause"]);
    expect(paused.exitCode).toBe(0);
    expect(paused.stdout).toMatch(/^paused by bootstrap since .* ago\): new runs wait queued until `gantry system resume`/);
    expect((await cli(["system", "status"])).stdout).toMatch(/^runs: paused by bootstrap since .*; new runs wait queued/);

    const started = await cli(["run", "start", "greet"]);
    expect(started.exitCode).toBe(0);
    const queued = startedRun(started.stdout);
    expect(started.stdout).toBe(
      `started run default/greet #${queued} (queued): ${gantry.url}/pipelines/default/greet/runs/${queued}\n` +
        `  position 1 in the queue: Gantry is paused: new runs wait until it is resumed\n`,
    );

    // A second one, followed with --wait while it waits.
    const waiter = cliInBackground(["run", "start", "greet", "--wait"]);
    await waitFor(() => waiter.stdout().includes("Gantry is paused"), 15_000, "the waiting run to say why it waits");
    const second = startedRun(waiter.stdout());

    const listed = await cli(["run", "ls", "greet"]);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`#${queued}\\s+⋯ queued \\(1\\)\\s+api \\(bootstrap\\)\\s+v1\\s+\\S+ \\S+\\s+Gantry is paused`));
    // Runs without a concurrency limit do not queue behind each other: each is next.
    expect(listed.stdout).toMatch(new RegExp(`#${second}\\s+⋯ queued \\(1\\)\\s`));
    const shown = await cli(["run", "get", "greet", String(queued)]);
    expect(shown.stdout).toMatch(new RegExp(`run default/greet #${queued}\\s+⋯ queued`));
    expect(shown.stdout).toMatch(/position\s+1 — Gantry is paused: new runs wait until it is resumed\n/);
    expect(shown.stdout).toMatch(/say\s+run\s+· pending/);
    const json = JSON.parse((await cli(["run", "get", "greet", String(second), "--json"])).stdout) as { run: { state: string; position: number; waitingFor: string } };
    expect(json.run).toMatchObject({ state: "queued", position: 1, waitingFor: "Gantry is paused: new runs wait until it is resumed" });

    const resumed = await cli(["system", "resume"]);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stdout).toBe("resumed: queued runs start in order\n");
    const result = await waiter.done;
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`started run default/greet #${second}, waiting for it to end`);
    expect(result.stdout).toMatch(/⋯ queued \(position 1\): Gantry is paused: new runs wait until it is resumed\n/);
    expect(result.stdout).toMatch(/● started after \S+ in the queue\n/);
    expect(result.stdout).toMatch(/✓ say\s+successful in /);
    expect(result.stdout).toMatch(new RegExp(`✓ run default/greet #${second} successful in \\S+\\n$`));
    expect((await waitForRun(gantry.api, "default/greet", queued)).state).toBe("successful");
  });

  it("follows a queued run as the reason it waits changes: paused, then behind a run of its concurrency limit", async () => {
    expect((await cli(["system", "pause"])).exitCode).toBe(0);
    const first = startedRun((await cli(["run", "start", "limited"])).stdout);
    const waiter = cliInBackground(["run", "start", "limited", "--wait"]);
    await waitFor(() => waiter.stdout().includes("Gantry is paused"), 15_000, "the waiting run to say it is paused");
    expect((await cli(["system", "resume"])).exitCode).toBe(0);

    const result = await waiter.done;
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split("\n");
    const paused = lines.findIndex((line) => line.includes("Gantry is paused"));
    const behind = lines.findIndex((line) => line.includes(`waiting for run ${first} (this pipeline runs at most 1 at once)`));
    const started = lines.findIndex((line) => /started after \S+ in the queue/.test(line));
    expect(paused).toBeGreaterThan(0);
    expect(behind).toBeGreaterThan(paused);
    expect(started).toBeGreaterThan(behind);
    expect(lines[behind]).toStartWith("⋯ queued (position 1): ");
    expect((await runState("default/limited", first)).state).toBe("successful");
  });

  it("answers an unknown subcommand or an extra argument with the usage and exit 2", async () => {
    const unknown = await cli(["system", "halt"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown subcommand "system halt"');
    expect(unknown.stderr).toContain("gantry system pause");
    const extra = await cli(["system", "status", "now"]);
    expect(extra.exitCode).toBe(2);
    expect(extra.stderr).toContain('unexpected argument "now"');
  });
});

describe("a task's attempts", () => {
  it("shows each attempt of a retried task in run get, and prints one attempt's log with --attempt", async () => {
    const started = await cli(["run", "start", "retry", "--wait"]);
    expect(started.exitCode).toBe(0);
    const run = startedRun(started.stdout);
    expect(started.stdout).toMatch(/wobbly\s+successful in \S+ \(attempt 2\)/);

    const shown = await cli(["run", "get", "retry", String(run)]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(/wobbly\s+run\s+✓ successful\s+0\s+2\s/);
    expect(shown.stdout).toMatch(/↳ attempt 1\s+✗ failed\s+1\s+\S+\s+.*the first attempt fails/);
    expect(shown.stdout).toMatch(/↳ attempt 2\s+✓ successful\s+0\s+\S+\n/);
    const json = JSON.parse((await cli(["run", "get", "retry", String(run), "--json"])).stdout) as {
      run: { tasks: { attempts: { attempt: number; state: string; exitCode: number | null }[] }[] };
    };
    expect(json.run.tasks[0]!.attempts.map(({ attempt, state, exitCode }) => ({ attempt, state, exitCode }))).toEqual([
      { attempt: 1, state: "failed", exitCode: 1 },
      { attempt: 2, state: "successful", exitCode: 0 },
    ]);

    const one = await cli(["logs", "retry", String(run), "wobbly", "--attempt", "1"]);
    expect(one.exitCode).toBe(0);
    expect(one.stdout).toContain("attempt 1 here");
    expect(one.stdout).not.toContain("attempt 2 here");
    const two = await cli(["logs", "retry", String(run), "wobbly", "--attempt", "2"]);
    expect(two.stdout).toContain("attempt 2 here");
    expect(two.stdout).not.toContain("attempt 1 here");
    const whole = await cli(["logs", "retry", String(run), "wobbly"]);
    expect(whole.stdout).toContain("attempt 1 here");
    expect(whole.stdout).toContain("attempt 2 here");

    const missing = await cli(["logs", "retry", String(run), "wobbly", "--attempt", "3"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("has no attempt 3");
    for (const args of [["--attempt", "0"], ["--attempt", "1", "-f"]]) {
      const bad = await cli(["logs", "retry", String(run), "wobbly", ...args]);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain("usage: gantry logs");
    }
  });

  it("lists a failed task's one attempt under it", async () => {
    const run = startedRun((await cli(["run", "start", "flaky", "--wait"])).stdout);
    const shown = await cli(["run", "get", "flaky", String(run)]);
    expect(shown.stdout).toMatch(/check\s+run\s+✗ failed\s+1\s+1\s+\S+\s+.*fails the first time on purpose\n\s+↳ attempt 1\s+✗ failed\s+1\s+\S+\s+.*fails the first time on purpose/);
    // A task that succeeded at its first attempt has no attempt rows.
    expect(shown.stdout).not.toMatch(/prepare.*\n\s+↳ attempt/);
  });
});

describe("gantry --help", () => {
  it("lists rerun, the system commands and logs --attempt", async () => {
    const help = await cli(["--help"]);
    expect(help.exitCode).toBe(0);
    for (const command of ["run rerun <ns/id> <run> [--failed] [--wait] [--json]", "system status [--json]", "system pause", "system resume"]) {
      expect(help.stdout).toContain(`gantry ${command}`);
    }
    expect(help.stdout).toContain("gantry logs <ns/id> <run> <task> [-f] [--attempt N]");
  });
});

describe("the CLI's answer schemas", () => {
  it("accept a newer server's fields and states, and an older server without attempts", () => {
    const run = {
      namespace: "default",
      pipeline: "greet",
      id: 4,
      state: "awaiting-approval",
      trigger: { kind: "api" },
      version: 1,
      variables: {},
      startedAt: null,
      endedAt: null,
      approvals: [{ task: "deploy" }],
      tasks: [{ id: "say", kind: "run", state: "waiting", exitCode: null, attempt: 0, startedAt: null, endedAt: null, gate: "manual" }],
    };
    const parsed = v.parse(runAnswer, { run });
    expect(parsed.run.state).toBe("awaiting-approval");
    expect(parsed.run.tasks[0]).toMatchObject({ state: "waiting", attempts: [] });
    const system = { paused: false, pausedBy: null, pausedAt: null, region: "eu", nodes: [] };
    expect(v.parse(systemAnswer, system)).toEqual({ paused: false, pausedBy: null, pausedAt: null, nodes: [] });
  });
});
