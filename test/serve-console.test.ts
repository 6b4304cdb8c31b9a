// `gantry serve`'s console on a real server process: a line per run as it starts and ends
// (how long, which tasks failed and why), and with --log-format json every line one JSON
// object a log collector can read; a bad --log-format is refused.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startGantryProcess, startRun, TEST_ENV, waitFor, waitForRun, type GantryProcess } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const HEADER = `import { definePipeline, run } from "gantry";\n`;
const PIPELINES = {
  "ok.ts": `${HEADER}export default definePipeline({ id: "ok", tasks: { a: run(() => {}) } });\n`,
  "bad.ts": `${HEADER}export default definePipeline({ id: "bad", tasks: { a: run(() => { throw new Error("boom"); }), b: run(() => {}) } });\n`,
};

const servers: GantryProcess[] = [];
const spawned: Bun.Subprocess[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
  for (const child of spawned) {
    child.kill("SIGTERM");
    await child.exited;
  }
});

function pipelinesDir(): string {
  const dir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(dir, name), source);
  return dir;
}

describe("gantry serve's console", () => {
  it("prints a line as each run starts and ends, with how long it took and which tasks failed and why", async () => {
    const server = await startGantryProcess({ pipelinesDir: pipelinesDir() });
    servers.push(server);
    const api = server.api;
    await waitFor(async () => (await api("/pipelines/default/bad")).status === 200, 20_000);
    const ok = await waitForRun(api, "default/ok", (await startRun(api, "default/ok")).id);
    const bad = await waitForRun(api, "default/bad", (await startRun(api, "default/bad")).id);
    expect([ok.state, bad.state]).toEqual(["successful", "failed"]);
    // Whole lines only (the pipe may deliver the failed run's line in two pieces).
    const lines = await waitFor(() => {
      const all = server.output().split("\n").slice(0, -1);
      return all.some((line) => line.includes(`run default/bad#${bad.id} failed`)) ? all : undefined;
    }, 10_000, "the failed run's line");
    const time = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
    expect(lines.some((line) => new RegExp(`^${time} run default/ok#${ok.id} started \\(api by bootstrap\\)$`).test(line))).toBe(true);
    expect(lines.some((line) => new RegExp(`^${time} run default/ok#${ok.id} successful in \\d+ms \\(api by bootstrap\\)$`).test(line))).toBe(true);
    expect(lines.find((line) => line.includes(`run default/bad#${bad.id} failed`))).toMatch(
      new RegExp(`^${time} run default/bad#${bad.id} failed in \\d+ms \\(api by bootstrap\\): failed a \\(threw: boom\\)$`),
    );
  });

  it("prints the runs that start while the Docker engine has not answered yet", async () => {
    // An engine that takes the connection and never answers: the start-up's Docker check waits.
    const socket = join(tempDir("gantry-docker-"), "silent.sock");
    const silent = Bun.listen({ unix: socket, socket: { data() {} } });
    try {
      const server = await startGantryProcess({ pipelinesDir: pipelinesDir(), env: { GANTRY_DOCKER_HOST: `unix://${socket}` } });
      servers.push(server);
      await waitFor(async () => (await server.api("/pipelines/default/ok")).status === 200, 20_000);
      const ok = await waitForRun(server.api, "default/ok", (await startRun(server.api, "default/ok")).id);
      expect(server.output()).not.toContain("docker:");
      await waitFor(() => server.output().includes(`run default/ok#${ok.id} successful`) || undefined, 10_000, "the run's end on the console");
      expect(server.output()).toContain(`run default/ok#${ok.id} started (api by bootstrap)`);
    } finally {
      silent.stop(true);
    }
  });

  it("writes one JSON object per line with --log-format json", async () => {
    const dataDir = tempDir("gantry-data-");
    const child = Bun.spawn([process.execPath, join(REPO_ROOT, "app", "main.ts"), "serve", "--log-format", "json"], {
      cwd: dataDir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...(process.env.TMPDIR && { TMPDIR: process.env.TMPDIR }), ...TEST_ENV, GANTRY_DATA_DIR: dataDir, GANTRY_PIPELINES_DIR: pipelinesDir() },
      stdout: "pipe",
      stderr: "pipe",
    });
    spawned.push(child);
    let out = "";
    void (async () => {
      for await (const chunk of child.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
    })();
    // Whole lines only: a chunk may end mid-line.
    const entries = () =>
      out
        .slice(0, out.lastIndexOf("\n") + 1)
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    const started = await waitFor(() => entries().find((entry) => entry.event === "server.started"), 30_000, "the server.started line");
    const url = String(started.url);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.level).toBe("info");
    expect(String(started.msg)).toContain("listening");
    // Written after server.started: the pipe may deliver it a moment later.
    const firstStart = await waitFor(() => entries().find((entry) => entry.event === "server.first_start"), 10_000, "the server.first_start line");
    expect(String(firstStart.loginUrl)).toContain("/login?code=");
    const token = (await Bun.file(join(dataDir, "bootstrap-token")).text()).trim();
    const api = (path: string, init: RequestInit = {}) => fetch(`${url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
    await waitFor(async () => (await api("/pipelines/default/bad")).status === 200, 20_000);
    const bad = await waitForRun(api, "default/bad", (await startRun(api, "default/bad")).id);
    const finished = await waitFor(() => entries().find((entry) => entry.event === "run.finished" && entry.run === bad.id), 10_000, "the run.finished line");
    expect(typeof finished.durationMs).toBe("number");
    expect(finished).toMatchObject({
      level: "error",
      msg: `run default/bad#${bad.id} failed`,
      namespace: "default",
      pipeline: "bad",
      state: "failed",
      trigger: { kind: "api", by: "bootstrap" },
      failedTasks: [{ id: "a", reason: "threw: boom" }],
    });
    // Every line of stdout is JSON (entries() would have thrown otherwise).
    expect(entries().some((entry) => entry.event === "run.started" && entry.run === bad.id)).toBe(true);
  });

  it("refuses a log format it does not know", async () => {
    const child = Bun.spawn([process.execPath, join(REPO_ROOT, "app", "main.ts"), "serve", "--log-format=xml"], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...TEST_ENV, GANTRY_DATA_DIR: tempDir("gantry-data-") } });
    expect(await child.exited).toBe(2);
    expect(await new Response(child.stderr).text()).toContain('--log-format must be text or json, not "xml"');
  });
});
