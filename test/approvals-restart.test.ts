// An approval gate across a kill -9 of a real `gantry serve`: the run still waits after the
// restart, a decision made then lets it go on, and a gate's timeout keeps counting from when
// it began waiting, not from the restart.
import { afterEach, describe, expect, it, setDefaultTimeout } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startGantryProcess, waitFor, type GantryProcess } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(90_000);

const PIPELINE = `import { definePipeline, run, approval } from "gantry";
export default definePipeline({
  id: "ship",
  tasks: {
    build: run((ctx) => ctx.log("built")),
    gate: approval({ needs: { build: "success" }, message: "ship?" }),
    short: approval({ needs: { build: "success" }, timeout: "5s" }),
    deploy: run((ctx) => ctx.log("deployed"), { needs: { gate: "success" } }),
  },
});
`;

interface Execution {
  id: string;
  state: string;
  reason?: string;
  approval?: { waitingSince?: string; decideBy?: string; decision?: { at: string; by: string } };
}
interface Run {
  id: number;
  state: string;
  tasks: Execution[];
}

let server: GantryProcess | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function readRun(gantry: GantryProcess, id: number): Promise<Run> {
  return ((await (await gantry.api(`/pipelines/default/ship/runs/${id}`)).json()) as { run: Run }).run;
}

const task = (run: Run, id: string) => run.tasks.find((candidate) => candidate.id === id)!;

describe("an approval gate and kill -9", () => {
  it("still waits after the restart, its timeout counting from when it began, and a decision then lets the run go on", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataDir = tempDir("gantry-data-");
    writeFile(join(pipelinesDir, "ship.ts"), PIPELINE);
    server = await startGantryProcess({ pipelinesDir, dataDir });
    await waitFor(async () => (await server!.api("/pipelines/default/ship")).status === 200 && ((await (await server!.api("/pipelines/default/ship")).json()) as { pipeline: { version: number | null } }).pipeline.version !== null, 20_000);
    const other = await server.api("/tokens", { method: "POST", body: JSON.stringify({ name: "alice", roles: ["admin"] }) });
    const alice = ((await other.json()) as { secret: string }).secret;
    const started = await server.api("/pipelines/default/ship/runs", { method: "POST", body: "{}" });
    expect(started.status).toBe(201);
    const { id } = ((await started.json()) as { run: Run }).run;
    const waiting = await waitFor(async () => {
      const run = await readRun(server!, id);
      return task(run, "gate").state === "waiting" && task(run, "short").state === "waiting" ? run : undefined;
    }, 20_000);
    const since = new Date(task(waiting, "short").approval!.waitingSince!).getTime();

    // A read may see a write up to ~10 ms before its group is committed (app/db/client.ts): let
    // the gates' waiting be durable before the kill, or the restart rightly starts them anew.
    await Bun.sleep(200);
    await server.kill9();
    // Down for a while: the short gate's timeout must not start again from the restart.
    await Bun.sleep(2_000);
    server = await startGantryProcess({ pipelinesDir, dataDir });
    const restartedAt = Date.now();
    const after = await readRun(server, id);
    expect(after.state).toBe("running");
    expect(task(after, "gate").state).toBe("waiting");

    const timedOut = await waitFor(async () => {
      const run = await readRun(server!, id);
      return task(run, "short").state === "failed" ? run : undefined;
    }, 20_000);
    const seenAfterRestart = Date.now() - restartedAt;
    const decided = new Date(task(timedOut, "short").approval!.decision!.at).getTime();
    expect(task(timedOut, "short").reason).toBe("rejected: nobody decided after 5s");
    // Dated at its deadline, 5 s after it began waiting, however long the server was down.
    expect(decided - since).toBe(5_000);
    // And it ended on its old deadline (at most ~3 s off, the kill and the 2 s down), not a
    // fresh 5 s after the restart.
    expect(seenAfterRestart).toBeLessThan(4_000);

    const approved = await fetch(`${server.url}/api/v1/pipelines/default/ship/runs/${id}/tasks/gate/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" },
      body: JSON.stringify({ comment: "after the crash" }),
    });
    expect(approved.status).toBe(200);
    const done = await waitFor(async () => {
      const run = await readRun(server!, id);
      return run.state !== "running" ? run : undefined;
    }, 20_000);
    expect(task(done, "gate")).toMatchObject({ state: "successful", reason: "approved by alice: after the crash" });
    expect(task(done, "deploy").state).toBe("successful");
    // The short gate was rejected, so the run failed; it ended, nothing was left waiting.
    expect(done.state).toBe("failed");
  });
});

describe("two servers on one database", () => {
  it("a gate decided through the server that does not drive its run ends on the one that does", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataA = tempDir("gantry-data-");
    const dataB = tempDir("gantry-data-");
    writeFile(join(pipelinesDir, "ship.ts"), PIPELINE);
    const shared = { GANTRY_DB_URL: `file:${join(dataA, "shared.db")}`, GANTRY_SECRET_KEY: Buffer.alloc(32, 7).toString("base64") };
    const a = await startGantryProcess({ pipelinesDir, dataDir: dataA, env: shared });
    server = a;
    copyFileSync(join(dataA, "bootstrap-token"), join(dataB, "bootstrap-token"));
    const b = await startGantryProcess({ pipelinesDir, dataDir: dataB, env: shared });
    try {
      await waitFor(async () => ((await (await a.api("/pipelines/default/ship")).json()) as { pipeline?: { version: number | null } }).pipeline?.version != null, 20_000);
      const alice = ((await (await a.api("/tokens", { method: "POST", body: JSON.stringify({ name: "alice", roles: ["admin"] }) })).json()) as { secret: string }).secret;
      const started = await a.api("/pipelines/default/ship/runs", { method: "POST", body: "{}" });
      const { id, node } = ((await started.json()) as { run: Run & { node: string } }).run;
      expect(node).toBe(readFileSync(join(dataA, "node-id"), "utf8").trim());
      await waitFor(async () => task(await readRun(a, id), "gate").state === "waiting", 20_000);
      const decided = await fetch(`${b.url}/api/v1/pipelines/default/ship/runs/${id}/tasks/gate/reject`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" },
        body: JSON.stringify({ comment: "through B" }),
      });
      expect(decided.status).toBe(200);
      // The gate's end and the skip of what needs it are written one after the other: wait for both.
      const ended = await waitFor(async () => {
        const run = await readRun(b, id);
        return task(run, "gate").state === "failed" && task(run, "deploy").state !== "pending" ? run : undefined;
      }, 10_000);
      expect(task(ended, "gate").reason).toBe("rejected by alice: through B");
      expect(task(ended, "deploy").state).toBe("skipped");
    } finally {
      await b.stop();
    }
  });
});
