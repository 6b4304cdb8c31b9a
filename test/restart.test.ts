// kill -9 of the server: the task processes it started die with it, and the next server
// on the same data finishes the run as orphaned while keeping everything recorded before.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import {
  processAlive,
  readLog,
  startGantryProcess,
  startRun,
  waitFor,
  waitForLog,
  waitForRun,
  type GantryProcess,
  type RunJson,
} from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

// Servers and task processes need more than bun test's 5 s default; each test file sets its own.
setDefaultTimeout(60_000);

const HEADER = `import { definePipeline, run } from "gantry";\n`;

const servers: GantryProcess[] = [];
const pids: number[] = [];

afterAll(async () => {
  for (const server of servers) if (server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
  // Only if the test failed midway: do not leave our task processes behind.
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
});

const client = (server: GantryProcess, secret = server.token) => (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
  });

describe("server restart", () => {
  it("kills the task processes of a killed server and finishes its runs as orphaned on the next start", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataDir = tempDir("gantry-data-");
    writeFile(join(pipelinesDir, "quick.ts"), `${HEADER}export default definePipeline({ id: "quick", tasks: { a: run((ctx) => ctx.log("quick and done")) } });\n`);
    writeFile(
      join(pipelinesDir, "long.ts"),
      `${HEADER}
export default definePipeline({
  id: "long",
  tasks: {
    work: run(async (ctx) => {
      const child = Bun.spawn(["sleep", "300"]);
      ctx.log(\`runner pid \${process.pid} child pid \${child.pid}\`);
      await Bun.sleep(300_000);
    }),
    next: run((ctx) => ctx.log("never"), { needs: { work: "success" } }),
  },
});
`,
    );

    // First server: a finished run, a token, then a long run in flight.
    const env = { GANTRY_KILL_GRACE: "300ms" };
    const first = await startGantryProcess({ pipelinesDir, dataDir, env });
    servers.push(first);
    const api1 = client(first);
    const done = await waitForRun(api1, "default/quick", (await startRun(api1, "default/quick")).id);
    expect(done.state).toBe("successful");
    const doneLog = await readLog(api1, "default/quick", done.id, "a");
    expect(doneLog).toContain("quick and done");
    const tokenResponse = await api1("/tokens", { method: "POST", body: JSON.stringify({ name: "survivor", roles: ["viewer"] }) });
    expect(tokenResponse.status).toBe(201);
    const { secret: survivorSecret } = (await tokenResponse.json()) as { secret: string };

    const long = await startRun(api1, "default/long");
    const match = await waitForLog(api1, "default/long", long.id, "work", /runner pid (\d+) child pid (\d+)/);
    const runnerPid = Number(match[1]);
    const childPid = Number(match[2]);
    pids.push(runnerPid, childPid);
    expect(processAlive(runnerPid)).toBe(true);
    expect(processAlive(childPid)).toBe(true);

    // kill -9: no clean-up at all from the server.
    await first.kill9();

    // The runner notices its parent is gone (it checks every second) and takes its children with it.
    await waitFor(() => !processAlive(runnerPid) || undefined, 10_000, `runner ${runnerPid} to exit`);
    await waitFor(() => !processAlive(childPid) || undefined, 10_000, `the task's child ${childPid} to exit`);

    // Second server on the same data.
    const second = await startGantryProcess({ pipelinesDir, dataDir, env });
    servers.push(second);
    expect(second.token).toBe(first.token);
    expect(second.output()).toContain("orphaned");
    const api2 = client(second);

    const orphanResponse = await api2(`/pipelines/default/long/runs/${long.id}`);
    expect(orphanResponse.status).toBe(200);
    const orphan = ((await orphanResponse.json()) as { run: RunJson }).run;
    expect(orphan.state).toBe("failed");
    expect(orphan.reason).toBe("orphaned");
    expect(orphan.endedAt).not.toBeNull();
    const work = orphan.tasks.find((task) => task.id === "work")!;
    expect(work).toMatchObject({ state: "failed", reason: "orphaned" });
    expect(work.endedAt).not.toBeNull();
    expect(orphan.tasks.find((task) => task.id === "next")).toMatchObject({ state: "cancelled", reason: "orphaned" });

    // Everything recorded before is still there.
    const kept = ((await (await api2(`/pipelines/default/quick/runs/${done.id}`)).json()) as { run: RunJson }).run;
    expect(kept).toMatchObject({ state: "successful", id: done.id, version: 1 });
    expect(await readLog(api2, "default/quick", done.id, "a")).toBe(doneLog);
    expect((await client(second, survivorSecret)("/pipelines")).status).toBe(200);
    const tokens = ((await (await api2("/tokens")).json()) as { tokens: { name: string }[] }).tokens.map((token) => token.name);
    expect(tokens).toEqual(expect.arrayContaining(["bootstrap", "survivor"]));
    // The orphaned run's task token died with the run, not with nothing.
    const runTokens = ((await (await api2("/tokens")).json()) as { tokens: { name: string; revokedAt: string | null }[] }).tokens.filter((token) =>
      token.name.startsWith(`run default/long#${long.id}`),
    );
    expect(runTokens.length).toBeGreaterThan(0);
    expect(runTokens.every((token) => token.revokedAt !== null)).toBe(true);
    const events = ((await (await api2("/events?limit=1000")).json()) as { events: { kind: string; run: number | null; pipeline: string; data: { reason?: string } }[] }).events;
    expect(events.some((event) => event.kind === "run.finished" && event.pipeline === "long" && event.data.reason === "orphaned")).toBe(true);

    // Run ids carry on where they stopped.
    const again = await startRun(api2, "default/long");
    expect(again.id).toBe(long.id + 1);
    const cancel = await api2(`/pipelines/default/long/runs/${again.id}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(202);
    expect((await waitForRun(api2, "default/long", again.id)).state).toBe("cancelled");
    await second.stop();
    expect(second.proc.exitCode).toBe(0);
  });
});
