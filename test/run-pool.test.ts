// Warm run() runners (GANTRY_RUN_POOL): a new run's first run() task runs on a sandboxed
// runner that booted before the run; a later one on a spare that takes over the workspace
// when no other task of the run uses it, else on a runner booted while the task before ran;
// the task sees what a runner started for it sees; a new run finding every spare still
// booting waits a moment for one; nothing is left behind, and a hand-over a killed server
// cut off midway is finished as the next one starts.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readLog, startGantryProcess, startRun, startWithPipelines, waitFor, waitForPipeline, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { processesWith } from "./helpers/processes.ts";
import { sweepResultFolders } from "../app/engine/executors/bun-process.ts";
import { createRunnerPool, handOver, repairHandOvers, type RunnerPool } from "../app/engine/executors/runner-pool.ts";
import type { RunSandbox } from "../app/engine/executors/run-sandbox.ts";
import { POOL_READY } from "../app/engine/task-runner/command.ts";
import { sharedDir, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const HEADER = `import { definePipeline, run, secret } from "gantry";\n`;
/** A task that says when its process started (its runner's boot) and what it sees. */
const REPORT = `(ctx) => ctx.log("ORIGIN " + Math.round(performance.timeOrigin) + " WS " + ctx.workspace + " CWD " + process.cwd() + " ARGV " + process.argv.slice(2).join(" "))`;
const PIPELINES = {
  "one.ts": `${HEADER}export default definePipeline({ id: "one", variables: { GREETING: "hello" }, tasks: {
  only: run(async (ctx) => {
    (${REPORT})(ctx);
    await Bun.write(ctx.workspace + "/made.txt", ctx.env.GREETING + " " + ctx.env.TOKEN);
    ctx.log("TOKEN " + ctx.env.TOKEN);
  }, { env: { TOKEN: secret("token") } }),
} });\n`,
  "startup.ts": `${HEADER}export default definePipeline({ id: "startup", variables: { BUN_CONFIG_VERBOSE_FETCH: "false" }, tasks: {
  only: run(${REPORT}),
} });\n`,
  "missing.ts": `${HEADER}export default definePipeline({ id: "missing", tasks: {
  only: run(() => {}, { env: { X: secret("no-such-secret") } }),
} });\n`,
  "handover.ts": `${HEADER}export default definePipeline({ id: "handover", tasks: {
  first: run(async (ctx) => {
    (${REPORT})(ctx);
    await ctx.$\`mkdir -p deep/er && echo nested > deep/er/file.txt && echo hidden > .hidden && ln -s deep/er/file.txt link && printf '#!/bin/sh\\necho ran-tool\\n' > tool.sh && chmod 755 tool.sh && chmod 2750 .\`;
  }),
  second: run(async (ctx) => {
    (${REPORT})(ctx);
    ctx.log("SEEN " + (await ctx.$\`cat deep/er/file.txt .hidden link; ./tool.sh; stat -c %a .\`.text()).trim().split("\\n").join("|"));
    await Bun.write("second.txt", "from second");
  }, { needs: { first: "success" } }),
  third: run(async (ctx) => {
    (${REPORT})(ctx);
    ctx.log("THIRD " + (await Bun.file("second.txt").text()) + " " + (await ctx.$\`ls -A\`.text()).trim().split("\\n").sort().join(","));
  }, { needs: { second: "success" } }),
} });\n`,
  "side.ts": `${HEADER}
const meet = (mine: string, theirs: string) => async (ctx) => {
  await Bun.write(mine, "here");
  for (let i = 0; i < 200 && !(await Bun.file(theirs).exists()); i++) await Bun.sleep(25);
  ctx.log("SAW " + theirs + " " + (await Bun.file(theirs).exists()));
  await Bun.sleep(200);
};
export default definePipeline({ id: "side", tasks: {
  left: run(meet("left.txt", "right.txt")),
  right: run(meet("right.txt", "left.txt")),
  after: run(async (ctx) => { (${REPORT})(ctx); ctx.log("AFTER " + (await ctx.$\`ls\`.text()).trim().split("\\n").join(",")); }, { needs: { left: "success", right: "success" } }),
} });\n`,
  "chain.ts": `${HEADER}export default definePipeline({ id: "chain", tasks: {
  first: run(async (ctx) => { (${REPORT})(ctx); await ctx.$\`mkdir sub\`; await Bun.sleep(400); }),
  second: run(async (ctx) => { (${REPORT})(ctx); }, { needs: { first: "success" }, workdir: "sub" }),
  offline: run(${REPORT}, { needs: { second: "success" }, network: "none" }),
} });\n`,
};

const originOf = (log: string) => Number(/ORIGIN (\d+)/.exec(log)![1]);
const poolDir = (gantry: { dataDir: string }) => join(gantry.dataDir, "runner-pool");
/** The spares waiting: their folders (a run takes one's folder as its workspace). */
const spares = (gantry: { dataDir: string }) => {
  const root = poolDir(gantry);
  if (!existsSync(root)) return 0;
  return readdirSync(root).reduce((count, node) => count + readdirSync(join(root, node)).length, 0);
};

describe("warm run() runners", () => {
  let gantry: TestGantry;
  beforeAll(async () => {
    gantry = await startWithPipelines(PIPELINES, { env: { GANTRY_RUN_POOL: "2" } });
    expect((await gantry.api("/secrets/token", { method: "PUT", body: JSON.stringify({ value: "s3cr3t-pool-value" }) })).status).toBe(201);
  });
  afterAll(() => gantry?.stop());

  it("runs a new run's first run() task on a runner that booted before the run, which sees what it would have seen", async () => {
    // A spare's folder is there as it starts booting, before it is ready: under load a run may
    // come before any spare is, and gets a runner of its own. Within a few runs one is warm.
    let run!: Awaited<ReturnType<typeof waitForRun>>;
    let log = "";
    for (let tries = 0; tries < 4; tries++) {
      await waitFor(() => spares(gantry) === 2, 10_000);
      await Bun.sleep(300);
      run = await waitForRun(gantry.api, "default/one", (await startRun(gantry.api, "default/one")).id);
      expect(run.state).toBe("successful");
      log = await readLog(gantry.api, "default/one", run.id, "only");
      if (originOf(log) < Date.parse(run.createdAt)) break;
    }
    // Its process started before the run was created.
    expect(originOf(log)).toBeLessThan(Date.parse(run.createdAt));
    expect(log).toContain("WS /workspace CWD /workspace");
    // Its command line is a runner's for this task (the bundle a copy in its private /tmp).
    expect(log).toMatch(/ARGV \/tmp\/[0-9a-f]+\.js only 1 /);
    // The secret came with the task, and is masked.
    expect(log).toContain("TOKEN ***");
    expect(log).not.toContain("s3cr3t-pool-value");
    // The runner's folder became the run's workspace.
    const workspace = join(gantry.dataDir, "workspaces", "default", "one", String(run.id));
    expect(readFileSync(join(workspace, "made.txt"), "utf8")).toBe("hello s3cr3t-pool-value");
    // The pool fills again.
    await waitFor(() => spares(gantry) === 2, 10_000);
  });

  it("runs later run() tasks on a runner booted while the task before ran; a task without the network starts its own", async () => {
    const run = await waitForRun(gantry.api, "default/chain", (await startRun(gantry.api, "default/chain")).id);
    const task = (id: string) => run.tasks.find((each) => each.id === id)!;
    expect({ state: run.state, tasks: run.tasks.map((each) => [each.id, each.state, each.reason ?? null]) }).toEqual({ state: "successful", tasks: [["first", "successful", null], ["second", "successful", null], ["offline", "successful", null]] });
    const second = await readLog(gantry.api, "default/chain", run.id, "second");
    expect(originOf(second)).toBeLessThan(Date.parse(task("second").startedAt!));
    // Its workdir and its view: the workspace at /workspace, nothing above it of the host's.
    expect(second).toContain("CWD /workspace/sub");
    const offline = await readLog(gantry.api, "default/chain", run.id, "offline");
    expect(originOf(offline)).toBeGreaterThanOrEqual(Date.parse(task("offline").startedAt!) - 5);
    // What was booted for the run and not used is gone with it; the spares stay.
    await waitFor(() => processesWith(join(gantry.dataDir, "workspaces", "default", "chain")).length === 0, 10_000);
    await waitFor(() => spares(gantry) === 2, 10_000);
  });

  it("starts a runner of its own for a task that sets a variable only a starting process reads", async () => {
    await waitFor(() => spares(gantry) === 2, 10_000);
    const run = await waitForRun(gantry.api, "default/startup", (await startRun(gantry.api, "default/startup")).id);
    expect(run.state).toBe("successful");
    const log = await readLog(gantry.api, "default/startup", run.id, "only");
    expect(originOf(log)).toBeGreaterThanOrEqual(Date.parse(run.tasks[0]!.startedAt!) - 5);
  });

  it("leaves no runner behind for a task that never starts (its secret is missing)", async () => {
    await waitFor(() => spares(gantry) === 2, 10_000);
    const run = await waitForRun(gantry.api, "default/missing", (await startRun(gantry.api, "default/missing")).id);
    expect(run.state).toBe("failed");
    expect(run.tasks[0]!.reason).toContain("no-such-secret");
    // The runner given to it (a spare, whose command line names the pool's folder) ends with the run: left are the spares, a bwrap outside and one inside each.
    await waitFor(() => spares(gantry) === 2 && processesWith(poolDir(gantry)).length === 4, 10_000);
  });

  it("gives a run only a spare whose sandbox is set up: runs started back to back all succeed", async () => {
    // Each takes a spare and the pool boots another at once: moving a booting spare's folder failed its sandbox.
    const started = [];
    for (let i = 0; i < 40; i++) started.push((await startRun(gantry.api, "default/one")).id);
    const runs = await Promise.all(started.map((id) => waitForRun(gantry.api, "default/one", id)));
    expect(runs.map((run) => [run.id, run.state, run.tasks[0]!.reason ?? null])).toEqual(started.map((id) => [id, "successful", null]));
  });

  it("replaces a spare that dies while it waits", async () => {
    await waitFor(() => spares(gantry) === 2, 10_000);
    const [victim] = processesWith(poolDir(gantry));
    expect(victim).toBeDefined();
    process.kill(victim!, "SIGKILL");
    // Replaced once the victim is gone and the pool is whole again (a bwrap outside and one
    // inside each spare): right after the kill its folder still counts, and a run taking
    // that spare before the server has seen it die fails.
    await waitFor(() => {
      const left = processesWith(poolDir(gantry));
      return !left.includes(victim!) && left.length === 4 && spares(gantry) === 2;
    }, 10_000);
    const run = await waitForRun(gantry.api, "default/one", (await startRun(gantry.api, "default/one")).id);
    expect(run.state).toBe("successful");
  });
});

describe("a new run finding every spare still booting (the pool alone, its runners stand-ins that say when they are ready)", () => {
  const MARK = `gantry-pool-stand-in-${process.pid}`;
  let pools = 0;
  /**
   * A sandbox whose runners run `script` (sh): what they print first tells the pool whether
   * they are ready. Their command lines carry `mark` (MARK and the pool's number: a stand-in
   * of the test before, killed but not gone yet, is not this pool's).
   */
  const standIns = (script: string, mark = MARK): RunSandbox => ({
    status: { state: "on" },
    wrap: () => ({ cmd: ["sh", "-c", `${script} # ${mark}`] }),
    own: async () => {},
    reclaim: async () => {},
  });
  const ready = (afterSeconds: number) => `sleep ${afterSeconds}; echo '${POOL_READY}'; exec cat`;
  /** A pool of one spare, asked for a workspace once that spare is booting. */
  async function adoptWhileBooting(script: string, during?: (pool: RunnerPool) => void) {
    const root = tempDir("gantry-pool-");
    const mark = `${MARK}-${++pools}.`;
    const pool = createRunnerPool({ sandbox: standIns(script, mark), dir: join(root, "pool"), size: 1 });
    pool.warm();
    await waitFor(() => processesWith(mark).length > 0 || undefined, 5_000, "the spare to start booting");
    const workspace = join(root, "workspaces", "1");
    const started = performance.now();
    const adopting = pool.adoptWorkspace(workspace, 1);
    during?.(pool);
    const adopted = await adopting;
    const waited = performance.now() - started;
    const { misses } = pool.state();
    pool.close();
    return { adopted, waited, made: existsSync(workspace), misses };
  }

  afterAll(() => waitFor(() => processesWith(MARK).length === 0 || undefined, 5_000, "the stand-ins to end"));

  it("waits for it, and takes it", async () => {
    const { adopted, made, misses } = await adoptWhileBooting(ready(0.05));
    expect({ adopted, made, misses }).toEqual({ adopted: true, made: true, misses: 0 });
  });

  it("waits 100 ms at most for one that takes longer, then boots its own", async () => {
    const { adopted, waited, made, misses } = await adoptWhileBooting(ready(2));
    // Counted as a miss (GET /metrics: the pool too small for how often runs start).
    expect({ adopted, made, misses }).toEqual({ adopted: false, made: false, misses: 1 });
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(1_000);
  });

  it("stops waiting when the pool closes", async () => {
    const { adopted, waited, misses } = await adoptWhileBooting(ready(2), (pool) => setTimeout(() => pool.close(), 10));
    expect({ adopted, misses }).toEqual({ adopted: false, misses: 0 });
    expect(waited).toBeLessThan(90);
  });

  it("neither counts nor hands out a spare killed a moment ago, before the server heard of it", async () => {
    const root = tempDir("gantry-pool-");
    const mark = `${MARK}-${++pools}.`;
    // No exec: the spare's own process keeps the mark in its command line.
    const pool = createRunnerPool({ sandbox: standIns(`echo '${POOL_READY}'; sleep 30`, mark), dir: join(root, "pool"), size: 1 });
    pool.warm();
    await waitFor(() => pool.state().ready === 1 || undefined, 5_000, "the spare to be ready");
    const [spare] = processesWith(mark).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sh"));
    expect(spare).toBeDefined();
    process.kill(spare!, "SIGKILL");
    // Dead to the kernel (a zombie until this process reaps it), not yet to the event loop:
    // nothing is awaited until the pool has been asked.
    const zombie = () => /^[ZX]/.test(readFileSync(`/proc/${spare}/stat`, "utf8").split(") ")[1] ?? "");
    const until = Date.now() + 2_000;
    while (!zombie() && Date.now() < until);
    expect(zombie()).toBe(true);
    expect(pool.state().ready).toBe(0);
    pool.close();
  });

  it("does not keep a spare that says something else than ready: it goes, as do its replacements", async () => {
    const root = tempDir("gantry-pool-");
    const starts = join(root, "starts");
    const pool = createRunnerPool({ sandbox: standIns(`echo started >> ${starts}; echo not-ready; exec sleep 30`), dir: join(root, "pool"), size: 1 });
    pool.warm();
    // Each is killed (left, it would hold the pool's place, and a run would wait for it) and
    // replaced; after three in a row the pool stops.
    const started = () => (existsSync(starts) ? readFileSync(starts, "utf8").split("\n").filter(Boolean).length : 0);
    await waitFor(() => started() === 3 || undefined, 5_000, "three spares to start");
    await waitFor(() => processesWith(MARK).length === 0 || undefined, 5_000, "the spares that said something else to end");
    await Bun.sleep(200);
    expect(started()).toBe(3);
    expect(await pool.adoptWorkspace(join(root, "workspaces", "1"), 1)).toBe(false);
    pool.close();
  });
});

describe("a later task on a spare that takes over the workspace", () => {
  let gantry: TestGantry;
  beforeAll(async () => {
    gantry = await startWithPipelines(PIPELINES, { env: { GANTRY_RUN_POOL: "4" } });
  });
  afterAll(() => gantry?.stop());

  it("runs each task of a chain on a runner that booted before the run, in the same workspace with all its entries", async () => {
    // Spares may still be booting under load: within a few runs all three tasks find one ready.
    let run!: Awaited<ReturnType<typeof waitForRun>>;
    const logs: Record<string, string> = {};
    for (let tries = 0; tries < 4; tries++) {
      await waitFor(() => spares(gantry) === 4, 10_000);
      await Bun.sleep(300);
      run = await waitForRun(gantry.api, "default/handover", (await startRun(gantry.api, "default/handover")).id);
      expect(run.tasks.map((task) => [task.id, task.state, task.reason ?? null])).toEqual([
        ["first", "successful", null],
        ["second", "successful", null],
        ["third", "successful", null],
      ]);
      for (const task of ["first", "second", "third"]) logs[task] = await readLog(gantry.api, "default/handover", run.id, task);
      if (["second", "third"].every((task) => originOf(logs[task]!) < Date.parse(run.createdAt))) break;
    }
    // Spares: their processes started before the run was (a runner booted ahead starts after).
    for (const task of ["first", "second", "third"]) expect(originOf(logs[task]!)).toBeLessThan(Date.parse(run.createdAt));
    // What the first task left, as it left it: a nested file, a dotfile, a link, a script's mode, the folder's own mode.
    expect(logs.second).toContain("SEEN nested|hidden|nested|ran-tool|2750");
    expect(logs.second).toContain("WS /workspace CWD /workspace");
    expect(logs.third).toContain("THIRD from second .hidden,deep,link,second.txt,tool.sh");
    // On the host: one folder at the workspace's path, holding it all; no hand-over left half done.
    const workspace = join(gantry.dataDir, "workspaces", "default", "handover", String(run.id));
    expect(readdirSync(workspace).sort()).toEqual([".hidden", "deep", "link", "second.txt", "tool.sh"]);
    expect(statSync(workspace).mode & 0o7777).toBe(0o2750);
    const pool = readdirSync(poolDir(gantry)).flatMap((node) => readdirSync(join(poolDir(gantry), node)));
    expect(pool.filter((name) => name.endsWith(".handover"))).toEqual([]);
    await waitFor(() => spares(gantry) === 4, 10_000);
  });

  it("keeps tasks that run side by side in one workspace, and hands it over to the task after them", async () => {
    await waitFor(() => spares(gantry) === 4, 10_000);
    const run = await waitForRun(gantry.api, "default/side", (await startRun(gantry.api, "default/side")).id);
    expect(run.tasks.map((task) => [task.id, task.state])).toEqual([
      ["left", "successful"],
      ["right", "successful"],
      ["after", "successful"],
    ]);
    // Each saw the other's file while both ran: no spare took the workspace from under either.
    expect(await readLog(gantry.api, "default/side", run.id, "left")).toContain("SAW right.txt true");
    expect(await readLog(gantry.api, "default/side", run.id, "right")).toContain("SAW left.txt true");
    expect(await readLog(gantry.api, "default/side", run.id, "after")).toContain("AFTER left.txt,right.txt");
  });
});

describe("a hand-over cut off midway", () => {
  /** A workspace with entries, the pool's folder and an empty spare's folder in it. */
  const layout = () => {
    const root = tempDir("gantry-handover-");
    const workspace = join(root, "workspaces", "default", "p", "1");
    for (const [path, text] of [["a.txt", "a"], ["b.txt", "b"], [".c", "c"], ["d/e.txt", "e"]] as const) writeFile(join(workspace, path), text);
    const pool = join(root, "runner-pool", "node-1");
    const slot = join(pool, "run-spare");
    mkdirSync(slot, { recursive: true });
    return { workspace, pool, slot };
  };
  const contents = (workspace: string) => ["a.txt", "b.txt", ".c", "d/e.txt"].map((path) => readFileSync(join(workspace, path), "utf8")).join("");

  it("moves the entries into the spare's folder, which takes the workspace's path and mode", () => {
    const { workspace, slot } = layout();
    chmodSync(workspace, 0o2750);
    const before = statSync(workspace).ino;
    const spareFolder = statSync(slot).ino;
    handOver(slot, workspace);
    expect(contents(workspace)).toBe("abce");
    expect(statSync(workspace).ino).toBe(spareFolder);
    expect(statSync(workspace).ino).not.toBe(before);
    expect(statSync(workspace).mode & 0o7777).toBe(0o2750);
    expect(existsSync(slot)).toBe(false);
    expect(existsSync(`${slot}.handover`)).toBe(false);
  });

  it("is finished or undone by the next start, wherever it stopped", () => {
    // Stopped after two entries moved.
    const half = layout();
    writeFileSync(`${half.slot}.handover`, half.workspace);
    renameSync(join(half.workspace, "a.txt"), join(half.slot, "a.txt"));
    renameSync(join(half.workspace, "d"), join(half.slot, "d"));
    expect(repairHandOvers(half.pool)).toEqual([half.workspace]);
    expect(contents(half.workspace)).toBe("abce");
    expect(readdirSync(half.pool)).toEqual([]);
    // Stopped after the workspace's old folder was removed, before the spare's took its path.
    const moved = layout();
    writeFileSync(`${moved.slot}.handover`, moved.workspace);
    for (const name of readdirSync(moved.workspace)) renameSync(join(moved.workspace, name), join(moved.slot, name));
    rmdirSync(moved.workspace);
    repairHandOvers(moved.pool);
    expect(contents(moved.workspace)).toBe("abce");
    expect(readdirSync(moved.pool)).toEqual([]);
    // Stopped after the last rename, before the journal went: nothing to do but remove it.
    const done = layout();
    handOver(done.slot, done.workspace);
    writeFileSync(`${done.slot}.handover`, done.workspace);
    repairHandOvers(done.pool);
    expect(contents(done.workspace)).toBe("abce");
    expect(readdirSync(done.pool)).toEqual([]);
  });

  it("is repaired by a server as it starts, before its runs are taken back", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    writeFile(join(pipelinesDir, "one.ts"), PIPELINES["one.ts"]);
    const first = await startGantryProcess({ pipelinesDir, env: { GANTRY_RUN_POOL: "1" } });
    await first.stop();
    const nodeId = readFileSync(join(first.dataDir, "node-id"), "utf8").trim();
    const workspace = join(first.dataDir, "workspaces", "default", "one", "7");
    writeFile(join(workspace, "stayed.txt"), "stayed");
    const slot = join(first.dataDir, "runner-pool", nodeId, "run-cut-off");
    writeFile(join(slot, "moved.txt"), "moved");
    writeFileSync(`${slot}.handover`, workspace);
    // A spare's folder is empty: one holding files (a journal lost with the power) is left alone, not removed.
    const stray = join(first.dataDir, "runner-pool", nodeId, "run-stray");
    writeFile(join(stray, "keep.txt"), "a run's file");
    const second = await startGantryProcess({ pipelinesDir, dataDir: first.dataDir, env: { GANTRY_RUN_POOL: "1" } });
    try {
      expect(readdirSync(workspace).sort()).toEqual(["moved.txt", "stayed.txt"]);
      expect(existsSync(slot) || existsSync(`${slot}.handover`)).toBe(false);
      await waitFor(() => spares(second) === 2, 10_000);
      expect(readFileSync(join(stray, "keep.txt"), "utf8")).toBe("a run's file");
    } finally {
      await second.stop();
    }
  });
});

describe("runs queued behind the task slots", () => {
  it("keep no warm runner each: a burst waits without a runner process per run, then every run succeeds", async () => {
    const flags = sharedDir();
    const release = join(flags, "release");
    const gantry = await startWithPipelines(
      {
        ...PIPELINES,
        "blocker.ts": `${HEADER}export default definePipeline({ id: "blocker", tasks: {
  hold: run(async () => { while (!(await Bun.file(${JSON.stringify(release)}).exists())) await Bun.sleep(20); }),
} });\n`,
        "quick.ts": `${HEADER}export default definePipeline({ id: "quick", tasks: { only: run(${REPORT}) } });\n`,
      },
      { env: { GANTRY_RUN_POOL: "2", GANTRY_MAX_PARALLEL_TASKS: "1" } },
    );
    try {
      await waitFor(() => spares(gantry) === 2, 10_000);
      const blocker = (await startRun(gantry.api, "default/blocker")).id;
      const blockerState = async () => ((await (await gantry.api(`/pipelines/default/blocker/runs/${blocker}`)).json()) as { run: RunJson }).run.tasks[0]!.state;
      await waitFor(async () => (await blockerState()) === "running", 10_000);
      const queued: number[] = [];
      for (let i = 0; i < 20; i++) queued.push((await startRun(gantry.api, "default/quick")).id);
      // Each run is running, its task waiting for the one slot; the pool keeps its 2 spares and the blocker's runner (a bwrap outside and one inside each).
      await Bun.sleep(500);
      expect(processesWith(poolDir(gantry)).length).toBeLessThanOrEqual(8);
      writeFileSync(release, "go");
      const runs = await Promise.all(queued.map((id) => waitForRun(gantry.api, "default/quick", id)));
      expect(runs.map((run) => run.state)).toEqual(queued.map(() => "successful"));
      expect((await waitForRun(gantry.api, "default/blocker", blocker)).state).toBe("successful");
    } finally {
      await gantry.stop();
    }
  });
});

describe("without warm runners", () => {
  it("starts a runner for each task when GANTRY_RUN_POOL is 0", async () => {
    const gantry = await startWithPipelines(PIPELINES, { env: { GANTRY_RUN_POOL: "0" } });
    try {
      expect((await gantry.api("/secrets/token", { method: "PUT", body: JSON.stringify({ value: "a-token-for-the-cold-runs" }) })).status).toBe(201);
      const run = await waitForRun(gantry.api, "default/one", (await startRun(gantry.api, "default/one")).id);
      expect(run.state).toBe("successful");
      const log = await readLog(gantry.api, "default/one", run.id, "only");
      expect(originOf(log)).toBeGreaterThanOrEqual(Date.parse(run.createdAt));
      expect(log).toContain("WS /workspace CWD /workspace");
      expect(existsSync(poolDir(gantry))).toBe(false);
    } finally {
      await gantry.stop();
    }
  });
});

describe("result folders left behind", () => {
  it("are removed when no process runs their attempt and they are over an hour old; others stay", async () => {
    const root = tempDir("gantry-sweep-");
    const folder = (ref: string, hoursAgo: number) => {
      const path = join(root, `gantry-attempt-${ref}`);
      writeFile(join(path, `gantry-result-${ref}.json`), "{}");
      const when = new Date(Date.now() - hoursAgo * 3600_000);
      utimesSync(path, when, when);
      return path;
    };
    const left = folder("run-left-behind", 2);
    const fresh = folder("run-just-made", 0);
    const live = folder("run-still-running", 2);
    // A process whose command line names its result file, as a runner's does (sh's $0 here).
    const runner = Bun.spawn(["sh", "-c", "sleep 30; true", join(live, "gantry-result-run-still-running.json")], { stdout: "ignore", stderr: "ignore" });
    try {
      await waitFor(() => processesWith("gantry-result-run-still-running.json").length > 0, 5_000);
      expect(await sweepResultFolders(root)).toBe(1);
      expect([existsSync(left), existsSync(fresh), existsSync(live)]).toEqual([false, true, true]);
    } finally {
      runner.kill();
    }
  });
});

describe("a server that stops", () => {
  it("takes its warm runners along, on a clean stop and on kill -9", async () => {
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const pipelinesDir = tempDir("gantry-pipelines-");
      writeFile(join(pipelinesDir, "one.ts"), PIPELINES["one.ts"]);
      const server = await startGantryProcess({ pipelinesDir, env: { GANTRY_RUN_POOL: "2" } });
      try {
        await waitForPipeline(server.api, "default/one");
        // Two spares (each a bwrap outside its sandbox and the one inside).
        await waitFor(() => processesWith(join(server.dataDir, "runner-pool")).length >= 2, 15_000);
      } finally {
        server.proc.kill(signal);
        await server.proc.exited;
      }
      await waitFor(() => processesWith(join(server.dataDir, "runner-pool")).length === 0, 10_000);
    }
  });
});
