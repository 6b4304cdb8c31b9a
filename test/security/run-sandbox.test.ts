// Finding 1 of the hardening pass: pipeline code (run() tasks and the top-level code of a
// pipeline file) used to run with the server's rights. Each escape the report found is tried
// here against a real server with the bubblewrap sandbox on, and must fail.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readLog, startRun, startWithPipelines, waitFor, waitForPipeline, waitForRun, type TestGantry } from "../helpers/gantry.ts";
import { webLogin } from "../helpers/web.ts";
import { processesWith } from "../helpers/processes.ts";
import { startGantryProcess, type GantryProcess } from "../helpers/gantry.ts";
import { REPO_ROOT, sharedDir, tempDir, writeFile } from "../helpers/temp.ts";
import { prepareRunSandbox } from "../../app/engine/executors/run-sandbox.ts";

setDefaultTimeout(60_000);

/** A run() task that tries to read each path and logs what it got, one line per path. */
const probeReads = (paths: string) => `
import { definePipeline, run } from "gantry";
import { readFileSync } from "node:fs";
const tryRead = (path: string) => {
  try {
    return "READ " + readFileSync(path, "utf8").slice(0, 40).replace(/\\n/g, " ");
  } catch (error) {
    return "BLOCKED " + (error as NodeJS.ErrnoException).code;
  }
};
export default definePipeline({
  id: "probe",
  tasks: {
    look: run(async (ctx) => {
      for (const path of ${paths}) ctx.log(path, "=>", tryRead(path));
      ctx.log("uid", process.getuid!());
      ctx.log("env", Object.keys(process.env).sort().join(","));
    }),
  },
});
`;

describe("run() tasks in the sandbox", () => {
  let gantry: TestGantry;
  beforeAll(async () => {
    process.env.GANTRY_SERVER_ONLY_MARKER = "server-secret-env";
    gantry = await startWithPipelines({});
  });
  afterAll(async () => {
    delete process.env.GANTRY_SERVER_ONLY_MARKER;
    await gantry?.stop();
  });

  it("cannot read the secret key, the bootstrap token, the database or another run's workspace", async () => {
    const other = join(gantry.dataDir, "workspaces", "default", "other", "1");
    await Bun.write(join(other, "private.txt"), "another pipeline's file");
    const targets = [
      join(gantry.dataDir, "secret-key"),
      join(gantry.dataDir, "bootstrap-token"),
      join(gantry.dataDir, "gantry.db"),
      join(other, "private.txt"),
    ];
    for (const target of targets.slice(0, 3)) expect(existsSync(target)).toBe(true);
    await Bun.write(join(gantry.pipelinesDir, "probe.ts"), probeReads(JSON.stringify(targets)));
    await waitForPipeline(gantry.api, "default/probe");
    const run = await startRun(gantry.api, "default/probe");
    const done = await waitForRun(gantry.api, "default/probe", run.id);
    const log = await readLog(gantry.api, "default/probe", run.id, "look");
    expect(done.state).toBe("successful");
    for (const target of targets) expect(log).toContain(`${target} => BLOCKED ENOENT`);
    expect(log).not.toContain("READ ");
    // An unprivileged user, and nothing of the server's environment.
    if (process.getuid?.() === 0) expect(log).not.toMatch(/uid 0\b/);
    expect(log).not.toContain("GANTRY_SERVER_ONLY_MARKER");
    expect(log).toContain("GANTRY_RUN_ID");
  });

  it("writes its workspace, but not the system, the stored bundle or the host's /tmp", async () => {
    await Bun.write(
      join(gantry.pipelinesDir, "writer.ts"),
      `import { definePipeline, run } from "gantry";
import { writeFileSync } from "node:fs";
const tryWrite = (path: string) => { try { writeFileSync(path, "x"); return "WROTE"; } catch (error) { return "BLOCKED " + (error as NodeJS.ErrnoException).code; } };
export default definePipeline({ id: "writer", tasks: { go: run(async (ctx) => {
  ctx.log("workspace", tryWrite(ctx.workspace + "/made-here.txt"));
  ctx.log("usr", tryWrite("/usr/gantry-escape"));
  ctx.log("bundle", tryWrite(process.argv.find((arg) => arg.endsWith(".js"))!));
  ctx.log("tmp", tryWrite("/tmp/gantry-sandbox-private-${process.pid}"));
}) } });
`,
    );
    await waitForPipeline(gantry.api, "default/writer");
    const bundles = () => readdirSync(join(gantry.dataDir, "bundles")).map((name) => [name, readFileSync(join(gantry.dataDir, "bundles", name), "utf8")]);
    const before = bundles();
    const run = await startRun(gantry.api, "default/writer");
    await waitForRun(gantry.api, "default/writer", run.id);
    const log = await readLog(gantry.api, "default/writer", run.id, "go");
    expect(log).toContain("workspace WROTE");
    expect(log).toMatch(/usr BLOCKED E(ROFS|ACCES)/);
    // The bundle a task started with is read-only, or (a warm runner's) a copy in its private /tmp: the stored ones never change.
    expect(log).toMatch(/bundle (BLOCKED E(ROFS|ACCES)|WROTE)/);
    expect(bundles()).toEqual(before);
    expect(log).toContain("tmp WROTE");
    expect(existsSync(`/tmp/gantry-sandbox-private-${process.pid}`)).toBe(false);
    expect(existsSync(join(gantry.dataDir, "workspaces", "default", "writer", String(run.id), "made-here.txt"))).toBe(true);
  });

  it("keeps no process alive after the task, setsid and nohup children included, on cancel and on exit", async () => {
    const marker = `gantry-orphan-${process.pid}`;
    await Bun.write(
      join(gantry.pipelinesDir, "orphans.ts"),
      `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "orphans", tasks: {
  quick: run(async (ctx) => {
    Bun.spawn(["setsid", "sh", "-c", "sleep 300; : ${marker}-quick-setsid"], { stdio: ["ignore", "ignore", "ignore"] }).unref();
    Bun.spawn(["nohup", "sh", "-c", "sleep 300; : ${marker}-quick-nohup"], { stdio: ["ignore", "ignore", "ignore"] }).unref();
    await Bun.sleep(200);
    ctx.log("started");
  }),
  slow: run(async (ctx) => {
    Bun.spawn(["setsid", "sh", "-c", "sleep 300; : ${marker}-slow-setsid"], { stdio: ["ignore", "ignore", "ignore"] }).unref();
    Bun.spawn(["nohup", "sh", "-c", "sleep 300; : ${marker}-slow-nohup"], { stdio: ["ignore", "ignore", "ignore"] }).unref();
    await Bun.sleep(200);
    ctx.log("waiting");
    await Bun.sleep(300_000);
  }, { needs: { quick: "success" } }),
} });
`,
    );
    await waitForPipeline(gantry.api, "default/orphans");
    const run = await startRun(gantry.api, "default/orphans");
    const alive = (suffix: string) => processesWith(`${marker}-${suffix}`).length;
    // The quick task ended: what it left behind ended with its sandbox.
    let seenSlow = false;
    for (let i = 0; i < 200 && !seenSlow; i++) {
      await Bun.sleep(100);
      seenSlow = alive("slow-setsid") > 0 && alive("slow-nohup") > 0;
    }
    expect(seenSlow).toBe(true);
    expect(alive("quick-setsid")).toBe(0);
    expect(alive("quick-nohup")).toBe(0);
    const cancelled = await gantry.api(`/pipelines/default/orphans/runs/${run.id}/cancel`, { method: "POST" });
    expect(cancelled.status).toBeLessThan(300);
    const done = await waitForRun(gantry.api, "default/orphans", run.id);
    expect(done.state).toBe("cancelled");
    await Bun.sleep(200);
    expect(alive("slow-setsid")).toBe(0);
    expect(alive("slow-nohup")).toBe(0);
  });

  it("lets a runner see the processes its task left in its sandbox, and no others", async () => {
    // A runner ends with its end marker only when it sees none: one left could still write to
    // the workspace after the server took the task for ended (task-runner/runner-end.ts).
    const sandbox = prepareRunSandbox("on");
    const script = `
      import { processesBesideRunner } from ${JSON.stringify(join(REPO_ROOT, "app", "engine", "task-runner", "runner-end.ts"))};
      const alone = processesBesideRunner();
      const child = Bun.spawn(["sleep", "30"]);
      const beside = processesBesideRunner();
      child.kill("SIGKILL");
      await child.exited;
      console.log(JSON.stringify({ alone, beside, after: processesBesideRunner() }));`;
    const checked = Bun.spawnSync({ ...sandbox.wrap([process.execPath, "-e", script], { cwd: "/", readOnly: [], writable: [] }), stdout: "pipe", stderr: "pipe" });
    expect(checked.stderr.toString()).toBe("");
    // The host's own processes (this test's, at least) are not the sandbox's.
    expect(JSON.parse(checked.stdout.toString())).toEqual({ alone: false, beside: true, after: false });
  });

  it('has no network with network: "none", and the host network by default', async () => {
    await Bun.write(
      join(gantry.pipelinesDir, "net.ts"),
      `import { definePipeline, run } from "gantry";
const reach = async (url: string) => { try { const r = await fetch(url, { signal: AbortSignal.timeout(3000) }); return "REACHED " + r.status; } catch { return "UNREACHABLE"; } };
export default definePipeline({ id: "net", tasks: {
  online: run(async (ctx) => ctx.log("api", await reach(ctx.env.GANTRY_API_URL + "/api/v1/health"))),
  offline: run(async (ctx) => ctx.log("api", await reach(ctx.env.GANTRY_API_URL + "/api/v1/health")), { network: "none" }),
} });
`,
    );
    await waitForPipeline(gantry.api, "default/net");
    const run = await startRun(gantry.api, "default/net");
    await waitForRun(gantry.api, "default/net", run.id);
    expect(await readLog(gantry.api, "default/net", run.id, "online")).toContain("api REACHED 200");
    expect(await readLog(gantry.api, "default/net", run.id, "offline")).toContain("api UNREACHABLE");
  });

  it("does not hang on a fifo a task left for its result, nor read a bunfig.toml or .env a container wrote", async () => {
    await Bun.write(
      join(gantry.pipelinesDir, "traps.ts"),
      `import { definePipeline, run, container } from "gantry";
export default definePipeline({ id: "traps", tasks: {
  plant: container({ image: "local/busybox:latest", command: ["sh", "-c",
    "echo 'preload = [\\"./evil.ts\\"]' > $GANTRY_WORKSPACE/bunfig.toml && echo 'console.log(\\"PRELOADED\\")' > $GANTRY_WORKSPACE/evil.ts && echo INJECTED=yes > $GANTRY_WORKSPACE/.env"] }),
  look: run(async (ctx) => { ctx.log("injected:", String(process.env.INJECTED)); }, { needs: { plant: "success" } }),
  fifo: run(async () => {
    const result = process.argv.find((arg) => /gantry-result-.*\\.json$/.test(arg))!;
    Bun.spawnSync(["mkfifo", result]);
    process.exit(3);
  }),
} });
`,
    );
    await waitForPipeline(gantry.api, "default/traps");
    const run = await startRun(gantry.api, "default/traps");
    const done = await waitForRun(gantry.api, "default/traps", run.id, 20_000);
    const fifo = done.tasks.find((task) => task.id === "fifo")!;
    expect(fifo).toMatchObject({ state: "failed", reason: "exited with code 3" });
    expect(done.tasks.find((task) => task.id === "plant")!.state).toBe("successful");
    const log = await readLog(gantry.api, "default/traps", run.id, "look");
    expect(log).toContain("injected: undefined");
    expect(log).not.toContain("PRELOADED");
    // The server kept answering all along.
    expect((await fetch(`${gantry.url}/api/v1/health`)).status).toBe(200);
  });

  it("survives a pipeline file that answers the import with a report made to hurt it", async () => {
    await Bun.write(
      join(gantry.pipelinesDir, "hostile.ts"),
      `const deep = "[".repeat(20000) + "]".repeat(20000);
process.stdout.write("\\n" + '{"ok":true,"definition":{"id":"hostile","tasks":' + deep + '}}' + "\\n");
process.exit(0);
`,
    );
    await Bun.write(join(gantry.pipelinesDir, "zz-after.ts"), `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "zz-after", tasks: { t: run(async () => {}) } });\n`);
    // A file sorted after it still loads, and the hostile one is a load error.
    await waitForPipeline(gantry.api, "default/zz-after");
    const listed = (await (await gantry.api("/pipelines")).json()) as { pipelines: { id: string; error?: { issues: { message: string }[] } }[] };
    const hostile = listed.pipelines.find((entry) => entry.id === "hostile");
    expect(hostile?.error?.issues[0]?.message ?? "").toContain("nested deeper than 64 levels");
  });

  it("bundles a pipeline file in the sandbox: a macro or a text import cannot reach host files", async () => {
    const key = join(gantry.dataDir, "secret-key");
    const proof = join(gantry.dataDir, `macro-ran-${process.pid}`);
    await Bun.write(join(gantry.pipelinesDir, "macro-helper.ts"), `import { writeFileSync } from "node:fs";
export function stamp(): string {
  try { writeFileSync(${JSON.stringify(proof)}, "x"); return "WROTE"; } catch (error) { return "BLOCKED " + (error as NodeJS.ErrnoException).code; }
}
`);
    await Bun.write(
      join(gantry.pipelinesDir, "macro.ts"),
      `import { definePipeline, run } from "gantry";
import { stamp } from "./macro-helper.ts" with { type: "macro" };
export default definePipeline({ id: "macro", description: stamp(), tasks: { t: run(async () => {}) } });
`,
    );
    await Bun.write(
      join(gantry.pipelinesDir, "textimport.ts"),
      `import { definePipeline, run } from "gantry";
import key from ${JSON.stringify(key)} with { type: "text" };
export default definePipeline({ id: "textimport", description: "key " + key.length, tasks: { t: run(async () => {}) } });
`,
    );
    await waitForPipeline(gantry.api, "default/macro");
    const { pipeline } = (await (await gantry.api("/pipelines/default/macro")).json()) as { pipeline: { description: string } };
    // The macro ran at build time, in the sandbox: the data dir was not there to write to.
    expect(pipeline.description).toBe("BLOCKED ENOENT");
    expect(existsSync(proof)).toBe(false);
    const text = await waitFor(async () => {
      const listed = (await (await gantry.api("/pipelines")).json()) as { pipelines: { id: string; version: number | null; error?: { issues: { message: string }[] } }[] };
      return listed.pipelines.find((entry) => entry.id === "textimport" && entry.error);
    });
    expect(text.version).toBeNull();
    expect(JSON.stringify(text.error)).toContain("secret-key");
  });

  it("lets run() tasks change what a container wrote, in a run and in its re-run's copy", async () => {
    const flags = sharedDir("gantry-mixed-");
    await Bun.write(
      join(gantry.pipelinesDir, "mixed.ts"),
      `import { definePipeline, run, container } from "gantry";
import { appendFileSync, existsSync } from "node:fs";
export default definePipeline({ id: "mixed", tasks: {
  make: container({ image: "local/busybox:latest", command: ["sh", "-c", "mkdir -p $GANTRY_WORKSPACE/build/deep && echo from-container > $GANTRY_WORKSPACE/build/deep/c.txt"] }),
  edit: run(async (ctx) => {
    appendFileSync(ctx.workspace + "/build/deep/c.txt", "edited by run " + ctx.env.GANTRY_RUN_ID + "\\n");
    await Bun.write(ctx.workspace + "/build/deep/r" + ctx.env.GANTRY_RUN_ID + ".txt", "new");
    if (!existsSync(${JSON.stringify(join(flags, "pass"))})) throw new Error("failing on purpose the first time");
  }, { needs: { make: "success" } }),
} });
`,
    );
    await waitForPipeline(gantry.api, "default/mixed");
    const first = await waitForRun(gantry.api, "default/mixed", (await startRun(gantry.api, "default/mixed")).id);
    // It wrote into the container's folder and file, then failed on purpose.
    expect(first.tasks.find((task) => task.id === "edit")!.reason).toContain("failing on purpose");
    await Bun.write(join(flags, "pass"), "go");
    const rerun = await gantry.api(`/pipelines/default/mixed/runs/${first.id}/rerun`, { method: "POST", body: JSON.stringify({ only: "failed" }) });
    expect(rerun.status).toBe(201);
    const { run: started } = (await rerun.json()) as { run: { id: number } };
    const second = await waitForRun(gantry.api, "default/mixed", started.id);
    expect(second.state).toBe("successful");
    const workspace = join(gantry.dataDir, "workspaces", "default", "mixed", String(second.id));
    const text = await Bun.file(join(workspace, "build", "deep", "c.txt")).text();
    expect(text).toBe(`from-container\nedited by run ${first.id}\nedited by run ${second.id}\n`);
    expect(existsSync(join(workspace, "build", "deep", `r${second.id}.txt`))).toBe(true);
  });

  it("runs a pipeline file's top-level code in the sandbox too", async () => {
    const key = join(gantry.dataDir, "secret-key");
    await Bun.write(
      join(gantry.pipelinesDir, "toplevel.ts"),
      `import { definePipeline, run } from "gantry";
import { readFileSync } from "node:fs";
let seen: string;
try { seen = "LEAKED " + readFileSync(${JSON.stringify(key)}, "utf8").slice(0, 12); } catch (error) { seen = "BLOCKED " + (error as NodeJS.ErrnoException).code; }
export default definePipeline({ id: "toplevel", description: seen, tasks: { t: run(async () => {}) } });
`,
    );
    await waitForPipeline(gantry.api, "default/toplevel");
    const { pipeline } = (await (await gantry.api("/pipelines/default/toplevel")).json()) as { pipeline: { description: string } };
    expect(pipeline.description).toBe("BLOCKED ENOENT");
  });

  it("does not follow a symlink a container left in the workspace out to host files", async () => {
    const key = join(gantry.dataDir, "secret-key");
    await Bun.write(
      join(gantry.pipelinesDir, "links.ts"),
      `import { definePipeline, run, container } from "gantry";
import { readFileSync } from "node:fs";
export default definePipeline({ id: "links", tasks: {
  plant: container({ image: "local/busybox:latest", command: ["sh", "-c", "busybox ln -s ${key} $GANTRY_WORKSPACE/key && busybox ln -s / $GANTRY_WORKSPACE/root && echo from-container > $GANTRY_WORKSPACE/shared.txt"] }),
  // The workspace is shared both ways: the container's file is readable, the task's file too.
  after: container({ image: "local/busybox:latest", command: ["sh", "-c", "cat $GANTRY_WORKSPACE/from-task.txt"], needs: { follow: "success" } }),
  follow: run(async (ctx) => {
    for (const path of ["key", "root${key}"]) {
      try { ctx.log(path, "READ", readFileSync(ctx.workspace + "/" + path, "utf8").length); }
      catch (error) { ctx.log(path, "BLOCKED", (error as NodeJS.ErrnoException).code); }
    }
    ctx.log("shared:", readFileSync(ctx.workspace + "/shared.txt", "utf8").trim());
    await Bun.write(ctx.workspace + "/from-task.txt", "from-task");
  }, { needs: { plant: "success" } }),
} });
`,
    );
    await waitForPipeline(gantry.api, "default/links");
    const run = await startRun(gantry.api, "default/links");
    const done = await waitForRun(gantry.api, "default/links", run.id);
    expect(done.tasks.map((task) => `${task.id} ${task.state}`).sort()).toEqual(["after successful", "follow successful", "plant successful"]);
    const log = await readLog(gantry.api, "default/links", run.id, "follow");
    expect(log).toContain("key BLOCKED ENOENT");
    expect(log).toContain(`root${key} BLOCKED ENOENT`);
    expect(log).not.toContain("READ");
    expect(log).toContain("shared: from-container");
    expect(await readLog(gantry.api, "default/links", run.id, "after")).toContain("from-task");
  });
});

describe("the sandbox's state", () => {
  it("is reported in health and on the dashboard when an admin turns it off", async () => {
    const gantry = await startWithPipelines({}, { env: { GANTRY_RUN_SANDBOX: "off" } });
    try {
      const health = (await (await fetch(`${gantry.url}/api/v1/health`)).json()) as { status: string; subsystems: { sandbox: { status: string } } };
      expect(health.status).toBe("ok");
      expect(health.subsystems.sandbox.status).toBe("off");
      const web = await webLogin(gantry.url, gantry.token);
      const dashboard = await (await web.get("/")).text();
      expect(dashboard).toContain("The run() sandbox is off");
      expect(dashboard).toContain("sandbox is off");
      // Every page warns, not only the dashboard.
      expect(await (await web.get("/pipelines")).text()).toContain("The run() sandbox is off");
    } finally {
      await gantry.stop();
    }
  });

  it("says so when the sandbox user cannot reach the data dir", async () => {
    if (process.getuid?.() !== 0) return;
    // A data dir below a folder only root may enter (as /root is).
    const closed = tempDir("gantry-closed-");
    chmodSync(closed, 0o700);
    const gantry = await startWithPipelines({}, { dataDir: join(closed, "data") });
    try {
      const health = (await (await fetch(`${gantry.url}/api/v1/health`)).json()) as { subsystems: { sandbox: { status: string; message: string } } };
      expect(health.subsystems.sandbox.status).toBe("unavailable");
      expect(health.subsystems.sandbox.message).toContain(`cannot reach ${join(closed, "data", "workspaces")}`);
    } finally {
      await gantry.stop();
    }
  });

  it("runs a root server's tasks as the sandbox user, without the server's groups or any capability", async () => {
    if (process.getuid?.() !== 0) return;
    const pipelines = tempDir("gantry-pipelines-");
    writeFile(
      join(pipelines, "who.ts"),
      `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "who", tasks: { look: run(async (ctx) => {
  const status = await Bun.file("/proc/self/status").text();
  for (const line of status.split("\\n")) if (/^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapAmb):/.test(line)) ctx.log("STATUS " + line.replace(/\\s+/g, " ").trim());
}) } });\n`,
    );
    // A root server that holds supplementary groups (adm, disk): none may reach its tasks.
    const server = await startGantryProcess({ pipelinesDir: pipelines, command: ["setpriv", "--groups=4,6", process.execPath, join(REPO_ROOT, "app", "main.ts"), "serve"] });
    try {
      const api = (path: string, init: RequestInit = {}) =>
        fetch(`${server.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" } });
      await waitForPipeline(api, "default/who");
      const run = await waitForRun(api, "default/who", (await startRun(api, "default/who")).id);
      expect(run.state).toBe("successful");
      const lines = (await readLog(api, "default/who", run.id, "look")).split("\n").flatMap((line) => (line.includes("STATUS ") ? [line.slice(line.indexOf("STATUS ") + 7)] : []));
      // The user the server made for its sandbox (gantry-sandbox), by its ids.
      const id = (flag: string) => Bun.spawnSync(["id", flag, "gantry-sandbox"]).stdout.toString().trim();
      const [uid, gid] = [id("-u"), id("-g")];
      expect(uid).toMatch(/^[1-9]\d*$/);
      const field = (name: string) => lines.find((line) => line.startsWith(`${name}:`));
      expect(field("Uid")).toBe(`Uid: ${uid} ${uid} ${uid} ${uid}`);
      expect(field("Gid")).toBe(`Gid: ${gid} ${gid} ${gid} ${gid}`);
      expect(field("Groups")).toBe("Groups:");
      for (const caps of ["CapInh", "CapPrm", "CapEff", "CapAmb"]) expect(field(caps)).toBe(`${caps}: 0000000000000000`);
    } finally {
      await server.stop();
    }
  });

  it("sandboxes with user namespaces alone when the server is not root", async () => {
    if (process.getuid?.() !== 0) return;
    const NOBODY = 65534;
    const dataDir = tempDir("gantry-data-");
    const pipelines = tempDir("gantry-pipelines-");
    chownSync(dataDir, NOBODY, NOBODY);
    writeFile(join(pipelines, "probe.ts"), probeReads(JSON.stringify([join(dataDir, "secret-key"), join(dataDir, "gantry.db")])));
    const server = await startGantryProcess({
      dataDir,
      pipelinesDir: pipelines,
      command: ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, join(REPO_ROOT, "app", "main.ts"), "serve"],
    });
    try {
      const health = (await (await fetch(`${server.url}/api/v1/health`)).json()) as { subsystems: { sandbox: { status: string; user?: string } } };
      expect(health.subsystems.sandbox).toEqual({ status: "ok" });
      const api = (path: string, init: RequestInit = {}) =>
        fetch(`${server.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" } });
      await waitForPipeline(api, "default/probe");
      const run = await waitForRun(api, "default/probe", (await startRun(api, "default/probe")).id);
      expect(run.state).toBe("successful");
      const log = await readLog(api, "default/probe", run.id, "look");
      // The server's own files are out of sight although the task runs as the server's user.
      expect(log).toContain(`${join(dataDir, "secret-key")} => BLOCKED ENOENT`);
      expect(log).toContain(`${join(dataDir, "gantry.db")} => BLOCKED ENOENT`);
      expect(log).toContain(`uid ${NOBODY}`);
    } finally {
      await server.stop();
    }
  });

  it("refuses pipeline code, saying why, when bubblewrap is missing", async () => {
    const pipelines = tempDir("gantry-pipelines-");
    writeFile(join(pipelines, "hello.ts"), `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "hello", tasks: { t: run(async () => {}) } });\n`);
    // A PATH with bun alone: no bwrap to be found.
    const onlyBun = tempDir("gantry-path-");
    await Bun.$`ln -s ${process.execPath} ${join(onlyBun, "bun")}`;
    const server = await startGantryProcess({ pipelinesDir: pipelines, env: { PATH: onlyBun } });
    try {
      const health = (await (await fetch(`${server.url}/api/v1/health`)).json()) as { subsystems: { sandbox: { status: string; message: string } } };
      expect(health.subsystems.sandbox.status).toBe("unavailable");
      expect(health.subsystems.sandbox.message).toContain("bubblewrap");
      const api = (path: string) => fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${server.token}` } });
      const errors = await waitFor(async () => {
        const listed = (await (await api("/pipelines")).json()) as { pipelines: { id: string; version?: number; error?: unknown }[] };
        const hello = listed.pipelines.find((entry) => entry.id === "hello" || JSON.stringify(entry.error ?? "").includes("hello"));
        return hello?.error ? JSON.stringify(hello.error) : undefined;
      });
      expect(errors).toContain("GANTRY_RUN_SANDBOX=off");
      expect(server.output()).toContain("bubblewrap");
    } finally {
      await server.stop();
    }
  });

  it("refuses the run() tasks of a version loaded before bubblewrap went missing", async () => {
    const pipelines = tempDir("gantry-pipelines-");
    const dataDir = tempDir("gantry-data-");
    writeFile(join(pipelines, "hello.ts"), `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "hello", tasks: { t: run(async (ctx) => ctx.log("ran")) } });\n`);
    const before = await startGantryProcess({ pipelinesDir: pipelines, dataDir });
    const api = (server: GantryProcess) => (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" } });
    await waitForPipeline(api(before), "default/hello");
    await before.stop();
    const onlyBun = tempDir("gantry-path-");
    await Bun.$`ln -s ${process.execPath} ${join(onlyBun, "bun")}`;
    const after = await startGantryProcess({ pipelinesDir: pipelines, dataDir, env: { PATH: onlyBun } });
    try {
      // The last good version stays; its run() task is refused, saying why and how to fix it.
      const run = await startRun(api(after), "default/hello");
      const done = await waitForRun(api(after), "default/hello", run.id);
      expect(done.state).toBe("failed");
      const task = done.tasks.find((entry) => entry.id === "t")!;
      expect(task.reason).toContain("bubblewrap (bwrap) is not installed");
      expect(task.reason).toContain("GANTRY_RUN_SANDBOX=off");
      expect(await readLog(api(after), "default/hello", run.id, "t")).not.toContain("ran");
    } finally {
      await after.stop();
    }
  });
});

