// Files of the hardening pass: the database, logs and keys are the server's alone, and a
// workspace belongs to the sandbox user (with containers in its group), never 0777.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startGantryProcess, startRun, waitForPipeline, waitForRun, type GantryProcess } from "../helpers/gantry.ts";
import { tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(60_000);

const mode = (path: string) => statSync(path).mode & 0o7777;

describe("the data dir of a running server", () => {
  let server: GantryProcess;
  const dataDir = tempDir("gantry-data-");
  beforeAll(async () => {
    // What an older version left: a world-readable data dir, database and log tree.
    chmodSync(dataDir, 0o755);
    writeFile(join(dataDir, "logs", "default", "old", "1", "t.log"), "old log\n");
    chmodSync(join(dataDir, "logs"), 0o755);
    chmodSync(join(dataDir, "logs", "default", "old", "1", "t.log"), 0o644);
    const pipelines = tempDir("gantry-pipelines-");
    writeFile(
      join(pipelines, "modes.ts"),
      `import { definePipeline, run, container } from "gantry";
export default definePipeline({ id: "modes", tasks: {
  made: run(async (ctx) => { await Bun.write(ctx.workspace + "/by-task.txt", "task"); ctx.log("wrote"); }),
  box: container({ image: "local/busybox:latest", command: ["sh", "-c", "echo box > $GANTRY_WORKSPACE/by-container.txt"], needs: { made: "success" } }),
} });
`,
    );
    server = await startGantryProcess({ dataDir, pipelinesDir: pipelines });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("keeps the database, keys, logs and objects private", async () => {
    // The sandbox user may pass through the data dir to its workspace, but not list it.
    expect(mode(dataDir)).toBe(0o711);
    for (const file of ["gantry.db", "secret-key", "bootstrap-token"]) expect({ file, mode: mode(join(dataDir, file)) }).toEqual({ file, mode: 0o600 });
    for (const file of readdirSync(dataDir).filter((name) => name.startsWith("gantry.db-"))) expect({ file, mode: mode(join(dataDir, file)) }).toEqual({ file, mode: 0o600 });
    expect(mode(join(dataDir, "logs"))).toBe(0o700);
    expect(mode(join(dataDir, "objects"))).toBe(0o700);
    // What the older version left open is closed.
    expect(mode(join(dataDir, "logs", "default", "old", "1", "t.log"))).toBe(0o600);
  });

  it("gives a run's workspace to the sandbox user and its group, not to everyone", async () => {
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" } });
    await waitForPipeline(api, "default/modes");
    const run = await waitForRun(api, "default/modes", (await startRun(api, "default/modes")).id);
    // With each task's reason, should it fail.
    expect({ state: run.state, tasks: run.tasks.map((task) => [task.id, task.state, task.reason ?? null]) }).toEqual({
      state: "successful",
      tasks: [
        ["made", "successful", null],
        ["box", "successful", null],
      ],
    });
    const workspace = join(dataDir, "workspaces", "default", "modes", String(run.id));
    const stat = statSync(workspace);
    expect(stat.mode & 0o7777).toBe(0o2770);
    if (process.getuid?.() === 0) {
      expect(stat.uid).not.toBe(0);
      // What the task and the container wrote both belong to the workspace's group.
      expect(statSync(join(workspace, "by-task.txt")).gid).toBe(stat.gid);
      expect(statSync(join(workspace, "by-container.txt")).gid).toBe(stat.gid);
    }
    // A log the server wrote sits in its private tree, itself private (umask 077).
    const logs = join(dataDir, "logs");
    const logFiles: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
        else logFiles.push(join(dir, entry.name));
      }
    };
    walk(logs);
    expect(logFiles.length).toBeGreaterThan(1);
    for (const file of logFiles) expect({ file, mode: mode(file) & 0o077 }).toEqual({ file, mode: 0 });
  });
});

describe("with the sandbox off", () => {
  it("keeps the whole data dir 0700", async () => {
    const dataDir = tempDir("gantry-data-");
    writeFileSync(join(dataDir, "marker"), "");
    const server = await startGantryProcess({ dataDir, env: { GANTRY_RUN_SANDBOX: "off" } });
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(join(dataDir, "gantry.db"))).toBe(0o600);
    } finally {
      await server.stop();
    }
  });
});
