// Restarts lose nothing: a server killed with kill -9 (or stopped with SIGTERM) and
// started again on the same data resumes its runs — run() tasks cut off count as a failed
// attempt and are retried, containers are found again by their stored names and followed
// to their end (log continued, timeout from their start, real exit codes), queued runs
// stay queued and start. And a cancel or pause made through one server on a database is
// acted on by the server driving the run.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { processesWith } from "./helpers/processes.ts";
import { outputLines, readLog, startGantryProcess, waitFor, waitForLog, waitForRun, type GantryProcess, type RunJson } from "./helpers/gantry.ts";
import { sharedDir, tempDir, writeFile } from "./helpers/temp.ts";

// Servers, containers and restarts need more than bun test's 5 s default.
setDefaultTimeout(90_000);

const IMAGE = "local/busybox:latest";
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const HEADER = `import { definePipeline, container, run } from "gantry";\n`;

const flags = sharedDir("gantry-flags-");
const flag = (name: string) => join(flags, name);
/** A task body that waits until a flag file exists. */
const waitForFlag = (name: string) => `while (!(await Bun.file(${JSON.stringify(flag(name))}).exists())) await Bun.sleep(50);`;

const servers: GantryProcess[] = [];
/** Marks the processes tasks start, to find them on the host from outside their sandbox. */
const CHILD_MARKER = `gantry-restart-test-${process.pid}`;

afterAll(async () => {
  for (const server of servers) if (server.proc.exitCode === null && server.proc.signalCode === null) await server.kill9();
  // Only if a test failed midway: our task processes and containers go.
  for (const pid of processesWith(CHILD_MARKER)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
  const left = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } });
  for (const info of left) {
    if (info.Labels["gantry.pipeline"]?.startsWith("rs-")) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
});

type Api = (path: string, init?: RequestInit) => Promise<Response>;
const apiOf =
  (server: GantryProcess, secret = server.token): Api =>
  (path, init = {}) =>
    fetch(`${server.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
    });

async function start(pipelinesDir: string, dataDir: string, env: Record<string, string> = {}): Promise<GantryProcess> {
  const server = await startGantryProcess({ pipelinesDir, dataDir, env: { GANTRY_KILL_GRACE: "1s", ...env } });
  servers.push(server);
  return server;
}

async function startRun(api: Api, pipeline: string): Promise<RunJson> {
  const response = await api(`/pipelines/${pipeline}/runs`, { method: "POST", body: "{}" });
  expect(response.status).toBe(201);
  return ((await response.json()) as { run: RunJson }).run;
}

async function getRun(api: Api, pipeline: string, run: number): Promise<RunJson> {
  const response = await api(`/pipelines/${pipeline}/runs/${run}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { run: RunJson }).run;
}

const task = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)!;

async function containersOf(pipelineId: string, run: number): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: ["gantry.managed=true", `gantry.pipeline=${pipelineId}`, `gantry.run=${run}`] } });
}

describe("a server killed with kill -9", () => {
  it("retries a run() task it cut off, keeps what was recorded, and starts the queued run", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataDir = tempDir("gantry-data-");
    const marks = flag("cut-attempts");
    writeFile(join(pipelinesDir, "rs-quick.ts"), `${HEADER}export default definePipeline({ id: "rs-quick", tasks: { a: run((ctx) => ctx.log("quick and done")) } });\n`);
    writeFile(
      join(pipelinesDir, "rs-cut.ts"),
      `${HEADER}
import { appendFileSync } from "node:fs";
export default definePipeline({
  id: "rs-cut",
  tasks: {
    flaky: run(async (ctx) => {
      appendFileSync(${JSON.stringify(marks)}, ctx.attempt + "\\n");
      if (ctx.attempt > 1) { ctx.log("attempt " + ctx.attempt + " made it"); return; }
      const child = Bun.spawn(["sh", "-c", "sleep 300; : ${CHILD_MARKER}"]);
      ctx.log(\`runner pid \${process.pid} child pid \${child.pid}\`);
      await Bun.sleep(300_000);
    }, { retries: 1 }),
    fragile: run(async (ctx) => { ctx.log("fragile started"); await Bun.sleep(300_000); }),
    after: run((ctx) => ctx.log("after ran"), { needs: { flaky: "success" } }),
  },
});
`,
    );
    writeFile(
      join(pipelinesDir, "rs-held.ts"),
      `${HEADER}export default definePipeline({ id: "rs-held", concurrency: { limit: 1 }, tasks: { hold: run(async (ctx) => { ctx.log("holding"); ${waitForFlag("held-release")} }) } });\n`,
    );

    const first = await start(pipelinesDir, dataDir);
    const api1 = apiOf(first);
    const done = await waitForRun(api1, "default/rs-quick", (await startRun(api1, "default/rs-quick")).id);
    expect(done.state).toBe("successful");
    const doneLog = await readLog(api1, "default/rs-quick", done.id, "a");
    const tokenResponse = await api1("/tokens", { method: "POST", body: JSON.stringify({ name: "survivor", roles: ["viewer"] }) });
    const { secret: survivorSecret } = (await tokenResponse.json()) as { secret: string };

    const cut = await startRun(api1, "default/rs-cut");
    await waitForLog(api1, "default/rs-cut", cut.id, "flaky", /runner pid (\d+) child pid (\d+)/);
    // Those pids are the sandbox's own: on the host, the runner is found by its bundle path and the child by its marker.
    const leftovers = () => [...processesWith(join(dataDir, "bundles")), ...processesWith(CHILD_MARKER)];
    expect(leftovers().length).toBeGreaterThan(0);
    await waitForLog(api1, "default/rs-cut", cut.id, "fragile", /fragile started/);
    const held1 = await startRun(api1, "default/rs-held");
    await waitForLog(api1, "default/rs-held", held1.id, "hold", /holding/);
    const held2 = await startRun(api1, "default/rs-held");
    expect(held2.state).toBe("queued");

    await first.kill9();
    // The sandbox dies with the server that started it, and everything in it.
    await waitFor(() => leftovers().length === 0 || undefined, 10_000, "the task processes to exit");

    const second = await start(pipelinesDir, dataDir);
    expect(second.token).toBe(first.token);
    // The start's lines arrive as the pipe delivers them: "listening" may come before the rest.
    await waitFor(() => second.output().includes("resumed 2 run(s)") || undefined, 5_000, "the start to say it resumed 2 runs");
    const api2 = apiOf(second);

    // The cut-off attempts failed with the reason; flaky's retry ran, fragile had none.
    const after = await waitForRun(api2, "default/rs-cut", cut.id);
    expect(after.state).toBe("failed");
    expect(after.reason).toBe("task fragile failed");
    expect(task(after, "flaky")).toMatchObject({ state: "successful", attempt: 2 });
    expect(task(after, "flaky").attempts.map((attempt) => [attempt.attempt, attempt.state, attempt.reason ?? null])).toEqual([
      [1, "failed", "the server restarted during this attempt"],
      [2, "successful", null],
    ]);
    expect(task(after, "fragile")).toMatchObject({ state: "failed", reason: "the server restarted during this attempt" });
    expect(task(after, "after").state).toBe("successful");
    // Run once per attempt: never beyond its retries.
    expect(readFileSync(marks, "utf8")).toBe("1\n2\n");
    const flakyLog = await readLog(api2, "default/rs-cut", cut.id, "flaky");
    expect(flakyLog).toContain("[gantry] the server restarted during this attempt");
    expect(flakyLog).toContain("attempt 2 made it");
    // Each attempt's part of the log on its own.
    const second1 = await (await api2(`/pipelines/default/rs-cut/runs/${cut.id}/tasks/flaky/logs?attempt=2`)).text();
    expect(second1).toContain("attempt 2 made it");
    expect(second1).not.toContain("runner pid");

    // The held run was cut off too; the queued one then started in its turn.
    const held1After = await waitForRun(api2, "default/rs-held", held1.id);
    expect(held1After.state).toBe("failed");
    await waitFor(async () => (await getRun(api2, "default/rs-held", held2.id)).state === "running" || undefined, 10_000, "the queued run to start");
    writeFile(flag("held-release"), "go");
    expect((await waitForRun(api2, "default/rs-held", held2.id)).state).toBe("successful");

    // Everything recorded before is still there.
    expect((await getRun(api2, "default/rs-quick", done.id)).state).toBe("successful");
    expect(await readLog(api2, "default/rs-quick", done.id, "a")).toBe(doneLog);
    expect((await apiOf(second, survivorSecret)("/pipelines")).status).toBe(200);
    // The run's task tokens (issued by the first server) died with the run.
    const tokens = ((await (await api2("/tokens")).json()) as { tokens: { name: string; revokedAt: string | null }[] }).tokens;
    const cutTokens = tokens.filter((token) => token.name.startsWith(`run default/rs-cut#${cut.id} `));
    expect(cutTokens.length).toBeGreaterThan(0);
    expect(cutTokens.every((token) => token.revokedAt !== null)).toBe(true);
    const events = ((await (await api2("/events?limit=1000")).json()) as { events: { kind: string; pipeline: string | null }[] }).events;
    expect(events.some((event) => event.kind === "run.recovered" && event.pipeline === "rs-cut")).toBe(true);
    // Run ids carry on where they stopped.
    expect((await startRun(api2, "default/rs-quick")).id).toBe(done.id + 1);
    await second.stop();
    expect(second.proc.exitCode).toBe(0);
  });

  it("follows containers again: logs go on with no line lost or twice, timeouts count from the start, exit codes are real", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataDir = tempDir("gantry-data-");
    const sh = (script: string, options = "") => `container({ image: "${IMAGE}", command: ["sh", "-c", ${JSON.stringify(script)}], network: "none", ${options} })`;
    writeFile(
      join(pipelinesDir, "rs-stream.ts"),
      `${HEADER}export default definePipeline({ id: "rs-stream", tasks: { count: ${sh("i=1; while [ $i -le 50 ]; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done")} } });\n`,
    );
    writeFile(join(pipelinesDir, "rs-deadline.ts"), `${HEADER}export default definePipeline({ id: "rs-deadline", tasks: { slow: ${sh("echo started; exec sleep 300", `timeout: "4s"`)} } });\n`);
    writeFile(join(pipelinesDir, "rs-exit.ts"), `${HEADER}export default definePipeline({ id: "rs-exit", tasks: { quit: ${sh("sleep 3; echo finishing; exit 3")} } });\n`);

    const first = await start(pipelinesDir, dataDir);
    const api1 = apiOf(first);
    const stream = await startRun(api1, "default/rs-stream");
    const deadline = await startRun(api1, "default/rs-deadline");
    const exit = await startRun(api1, "default/rs-exit");
    await waitForLog(api1, "default/rs-stream", stream.id, "count", /line 4\n/);
    await waitForLog(api1, "default/rs-deadline", deadline.id, "slow", /started/);
    await first.kill9();
    const killedAt = Date.now();

    // Docker owns the containers: they go on without the server. One ends meanwhile.
    const [quitInfo] = await containersOf("rs-exit", exit.id);
    await waitFor(async () => (await docker.getContainer(quitInfo!.Id).inspect()).State.Status === "exited" || undefined, 10_000, "rs-exit's container to end");
    // Long enough that a timeout counted again from the restart would show.
    await Bun.sleep(Math.max(0, 4_000 - (Date.now() - killedAt)));

    const second = await start(pipelinesDir, dataDir);
    const restartedAt = Date.now();
    const api2 = apiOf(second);
    const streamed = await waitForRun(api2, "default/rs-stream", stream.id, 30_000);
    expect(streamed.state).toBe("successful");
    const lines = outputLines(await readLog(api2, "default/rs-stream", stream.id, "count"));
    const numbers = Array.from({ length: 50 }, (_, i) => i + 1);
    expect(lines.filter((line) => line.startsWith("line "))).toEqual(numbers.map((n) => `line ${n}`));
    expect(lines.filter((line) => line.startsWith("[err] "))).toEqual(numbers.map((n) => `[err] err ${n}`));
    expect(await readLog(api2, "default/rs-stream", stream.id, "count")).toContain("[gantry] re-attached after a server restart");
    expect(task(streamed, "count").attempts).toHaveLength(1);

    const timedOut = await waitForRun(api2, "default/rs-deadline", deadline.id, 30_000);
    expect(timedOut.state).toBe("failed");
    expect(task(timedOut, "slow").reason).toBe("timed out after 4s");
    const slow = task(timedOut, "slow");
    // From its start: stopped at once on re-attach (over 5 s had passed), within its stop
    // grace (2 s, for a sleep that ignores SIGTERM: ~3.7 s after the server is up here), not
    // 4 s after it and then its grace (6 s or more); however long the restart took under load.
    expect(new Date(slow.endedAt!).getTime() - new Date(slow.startedAt!).getTime()).toBeGreaterThan(4_000);
    expect(new Date(slow.endedAt!).getTime() - restartedAt).toBeLessThan(5_000);

    const quit = await waitForRun(api2, "default/rs-exit", exit.id, 30_000);
    expect(quit.state).toBe("failed");
    expect(task(quit, "quit")).toMatchObject({ state: "failed", exitCode: 3, reason: "exited with code 3" });
    expect(outputLines(await readLog(api2, "default/rs-exit", exit.id, "quit"))).toEqual(["finishing"]);
    for (const [pipeline, run] of [["rs-stream", stream.id], ["rs-deadline", deadline.id], ["rs-exit", exit.id]] as const) {
      await waitFor(async () => (await containersOf(pipeline, run)).length === 0 || undefined, 10_000, `${pipeline}'s containers to go`);
    }

    // A graceful stop leaves the container running; the next start takes it back.
    const again = await startRun(api2, "default/rs-stream");
    await waitForLog(api2, "default/rs-stream", again.id, "count", /line 5\n/);
    await second.stop();
    expect(second.proc.exitCode).toBe(0);
    expect((await containersOf("rs-stream", again.id)).map((info) => `${info.State} ${info.Status}`)).toEqual([expect.stringMatching(/^running /)]);
    const third = await start(pipelinesDir, dataDir);
    const api3 = apiOf(third);
    expect((await waitForRun(api3, "default/rs-stream", again.id, 30_000)).state).toBe("successful");
    const againLines = outputLines(await readLog(api3, "default/rs-stream", again.id, "count"));
    expect(againLines.filter((line) => line.startsWith("line "))).toEqual(numbers.map((n) => `line ${n}`));
    await waitFor(async () => (await containersOf("rs-stream", again.id)).length === 0 || undefined, 10_000, "the container to go");
    await third.stop();
  });
});

describe("two servers on one database", () => {
  it("act on a cancel and a pause made through either of them", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataA = tempDir("gantry-data-");
    const dataB = tempDir("gantry-data-");
    writeFile(join(pipelinesDir, "rs-wait.ts"), `${HEADER}export default definePipeline({ id: "rs-wait", tasks: { wait: run(async (ctx) => { ctx.log("waiting"); ${waitForFlag("wait-release")} }) } });\n`);
    // One database, one secret key; each server its own data dir (and so its own node id).
    const shared = { GANTRY_DB_URL: `file:${join(dataA, "shared.db")}`, GANTRY_SECRET_KEY: Buffer.alloc(32, 7).toString("base64") };
    const a = await start(pipelinesDir, dataA, shared);
    copyFileSync(join(dataA, "bootstrap-token"), join(dataB, "bootstrap-token"));
    const b = await start(pipelinesDir, dataB, shared);
    const apiA = apiOf(a);
    const apiB = apiOf(b, a.token);

    const system = (await (await apiB("/system")).json()) as { paused: boolean; nodes: { id: string; alive: boolean; self: boolean }[] };
    expect(system.paused).toBe(false);
    expect(system.nodes.filter((node) => node.alive)).toHaveLength(2);
    expect(system.nodes.filter((node) => node.self)).toHaveLength(1);
    expect(readFileSync(join(dataA, "node-id"), "utf8")).not.toBe(readFileSync(join(dataB, "node-id"), "utf8"));

    // Driven by A, cancelled through B: A acts on it.
    const first = await startRun(apiA, "default/rs-wait");
    await waitForLog(apiA, "default/rs-wait", first.id, "wait", /waiting/);
    expect((await apiB(`/pipelines/default/rs-wait/runs/${first.id}/cancel`, { method: "POST" })).status).toBe(202);
    const cancelled = await waitForRun(apiB, "default/rs-wait", first.id, 10_000);
    expect(cancelled).toMatchObject({ state: "cancelled", reason: "cancelled by bootstrap" });
    expect(task(cancelled, "wait").state).toBe("cancelled");

    // Paused through B: a run started through A waits; resumed through A, it runs.
    const paused = (await (await apiB("/system/pause", { method: "POST" })).json()) as { paused: boolean; pausedBy: string };
    expect(paused).toMatchObject({ paused: true, pausedBy: "bootstrap" });
    const waiting = await startRun(apiA, "default/rs-wait");
    expect(waiting.state).toBe("queued");
    const queued = await getRun(apiA, "default/rs-wait", waiting.id);
    expect(queued).toMatchObject({ state: "queued", position: 1 });
    expect(queued.waitingFor).toContain("paused");
    writeFile(flag("wait-release"), "go");
    expect(((await (await apiA("/system/resume", { method: "POST" })).json()) as { paused: boolean }).paused).toBe(false);
    expect((await waitForRun(apiB, "default/rs-wait", waiting.id, 15_000)).state).toBe("successful");
    expect(existsSync(join(dataB, "node-id"))).toBe(true);
    await b.stop();
    await a.stop();
  });
});
