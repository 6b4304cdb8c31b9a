// Issue 17: `gantry runner-image` on the real Docker engine: the compiled binary (built here
// into a temp file, ~2 s) and its shared libraries FROM local/busybox:latest, never pulled; the image answers
// `version`, carries its labels, and its runner, started as runnerServiceSpec describes the
// swarm service (command, env, workspace mount, an init), fetches its run's bundle from a real
// server over host networking, runs the task and exits with its outcome. Then run() tasks on a
// one-node swarm through a real `gantry serve` with GANTRY_EXECUTOR=swarm: refused with a clear
// reason while the runner image is not there, and once it is, run as services of it (a shared
// workspace, a masked secret, a thrown error's reason, a cancel, a re-attach after kill -9),
// leaving no service behind. The engine is
// made a swarm manager for the file when it is not one, and put back as it was.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { prepareBundleToken } from "../app/auth/bundle-tokens.ts";
import { getVersion } from "../app/db/repos/pipelines.ts";
import { insertToken } from "../app/db/repos/tokens.ts";
import { runnerImageProblem } from "../app/engine/executors/runner-image.ts";
import { runnerExit, runnerResultOf, runnerServiceSpec, type RunnerLaunch } from "../app/engine/executors/runner-service.ts";
import { BUNDLE_TOKEN_ENV } from "../app/engine/task-runner/command.ts";
import { GANTRY_VERSION } from "../app/version.ts";
import {
  outputLines,
  readLog,
  startGantryProcess,
  startRun,
  startWithPipelines,
  waitFor,
  waitForLog,
  waitForRun,
  type GantryProcess,
  type RunJson,
  type TestGantry,
} from "./helpers/gantry.ts";
import { ensureSwarm, type TestSwarm } from "./helpers/swarm.ts";
import { REPO_ROOT, sharedDir, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(120_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const TAG = `local/gantry-runner:test-${crypto.randomUUID().slice(0, 8)}`;
const RELEASE = join(sharedDir(), "release");

const PIPELINE = `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "swarmish",
  tasks: {
    hold: run(async () => { while (!(await Bun.file(${JSON.stringify(RELEASE)}).exists())) await Bun.sleep(20); }),
    work: run(async (ctx) => {
      ctx.log("in the runner image: " + process.execPath);
      await Bun.write(ctx.workspace + "/out.json", JSON.stringify({ cwd: process.cwd(), workspace: ctx.workspace, echoed: (await ctx.$\`echo from busybox\`.text()).trim() }));
    }, { needs: { hold: "success" }, workdir: "sub" }),
    boom: run(() => { throw new Error("boom in a container"); }, { needs: { hold: "success" } }),
  },
});
`;

/** run() tasks on the swarm: every pipeline id starts with it, so clean-up touches only ours. */
const SWARM_PREFIX = "swr-";
const SWARM_SECRET = `swarm-runner-secret-${crypto.randomUUID().slice(0, 8)}`;
const SWARM_PIPELINES: Record<string, string> = {
  "swr-tasks.ts": `import { definePipeline, run, secret } from "gantry";
export default definePipeline({
  id: "swr-tasks",
  tasks: {
    write: run(async (ctx) => {
      ctx.log("token=" + ctx.env.TOKEN);
      await Bun.write(ctx.workspace + "/note.txt", "written by the first runner");
    }, { env: { TOKEN: secret("swr_token") } }),
    read: run(async (ctx) => {
      ctx.log("read: " + (await Bun.file(ctx.workspace + "/note.txt").text()));
      ctx.log("runner: " + process.execPath + " in " + ctx.workspace);
      // The runner's start-up environment (the bundle's and objects' tokens), as a child of its task could read it.
      const peek = Bun.spawnSync(["cat", "/proc/" + process.pid + "/environ"], { stderr: "pipe" });
      ctx.log("child reads the runner's environ: " + (peek.exitCode === 0 ? "yes" : peek.stderr.toString().includes("Permission denied") ? "permission denied" : peek.stderr.toString()));
    }, { needs: { write: "success" } }),
    boom: run(() => { throw new Error("boom in a runner service"); }),
  },
});
`,
  "swr-slow.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "swr-slow", tasks: { slow: run(async (ctx) => { ctx.log("before"); await Bun.sleep(3000); ctx.log("after"); }) } });
`,
  "swr-cancel.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "swr-cancel",
  tasks: {
    wait: run(async (ctx) => {
      ctx.log("waiting");
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      ctx.log("aborted: " + ctx.signal.reason);
    }),
  },
});
`,
  "swr-missing.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "swr-missing", tasks: { t: run((ctx) => ctx.log("never")) } });
`,
};

const SWARM_ENV = { GANTRY_EXECUTOR: "swarm", GANTRY_RUNNER_IMAGE: TAG };

let binary: string;
let gantry: TestGantry | undefined;
let swarm: TestSwarm | undefined;
let server: GantryProcess | undefined;
const api = (path: string, init?: RequestInit) => server!.api(path, init);

/** Our services (running or not) of one pipeline. */
async function servicesOf(pipelineId: string): Promise<{ ID: string; Spec: { Labels: Record<string, string> } }[]> {
  const services = (await docker.listServices({ filters: { label: ["gantry.managed=true"] } })) as { ID: string; Spec: { Labels: Record<string, string> } }[];
  return services.filter((service) => service.Spec.Labels["gantry.pipeline"]?.startsWith(pipelineId));
}

const taskOf = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)!;

async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const child = Bun.spawn(argv, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, out, err };
}

/** A `gantry serve` from source running run() tasks as services of the runner image TAG (not built yet). */
async function startSwarmServer(): Promise<void> {
  swarm = await ensureSwarm(docker);
  const pipelinesDir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(SWARM_PIPELINES)) writeFile(join(pipelinesDir, name), source);
  server = await startGantryProcess({ pipelinesDir, env: SWARM_ENV });
  expect((await api("/secrets/swr_token", { method: "PUT", body: JSON.stringify({ value: SWARM_SECRET }) })).status).toBeLessThan(300);
  const { pipelines } = (await (await api("/pipelines")).json()) as { pipelines: { id: string; error?: unknown }[] };
  expect(pipelines.filter((pipeline) => pipeline.error)).toEqual([]);
}

beforeAll(async () => {
  const started = Date.now();
  // Built where no other build writes (the suite runs files side by side; binary.test.ts builds dist/gantry).
  binary = join(tempDir("gantry-runner-bin-"), "gantry");
  const [build] = await Promise.all([run([process.execPath, join(REPO_ROOT, "scripts", "build-binary.ts"), "--outfile", binary]), startSwarmServer()]);
  if (build.code !== 0) throw new Error(`building the binary failed (${build.code}):\n${build.out}${build.err}`);
  console.log(`binary built, swarm and server started in ${Date.now() - started} ms`);
});

afterAll(async () => {
  await Bun.write(RELEASE, "");
  await gantry?.stop();
  await server?.stop();
  // Only after a failure midway: our services go, nobody else's.
  for (const service of await servicesOf(SWARM_PREFIX).catch(() => [])) await docker.getService(service.ID).remove().catch(() => undefined);
  // Swarm removes a removed service's containers in its own time (minutes, on this engine): ours go now.
  const ours = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } }).catch(() => []);
  for (const info of ours.filter((container) => container.Labels["gantry.pipeline"]?.startsWith(SWARM_PREFIX))) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  await swarm?.restore();
  await docker.getImage(TAG).remove({ force: true }).catch(() => undefined);
});

describe("run() tasks on a swarm without the runner image", () => {
  it("fail at start, saying the image is not on the engine and how to make it", async () => {
    const { id } = await startRun(api, "default/swr-missing");
    const ended = await waitForRun(api, "default/swr-missing", id, 20_000);
    expect(ended.state).toBe("failed");
    expect(taskOf(ended, "t")).toMatchObject({
      state: "failed",
      exitCode: null,
      reason: `the runner image ${TAG} is not on this engine: run \`gantry runner-image --tag ${TAG}\` (with GANTRY_EXECUTOR=swarm, run() tasks run in it)`,
    });
    expect(await servicesOf("swr-missing")).toEqual([]);
  });
});

describe("gantry runner-image", () => {
  it("builds the image from the compiled binary FROM the local base, printing its progress and the tag", async () => {
    const built = await run([process.execPath, join(REPO_ROOT, "app", "main.ts"), "runner-image", "--binary", binary, "--tag", TAG]);
    expect(built.err).toBe("");
    expect(built.code).toBe(0);
    expect(built.out).toContain(`building ${TAG} FROM local/busybox:latest: gantry ${GANTRY_VERSION} (${binary})`);
    expect(built.out).toMatch(/\n {2}\/lib\/x86_64-linux-gnu\/libc\.so\.6\n/);
    expect(built.out).toMatch(new RegExp(`\\nbuilt ${TAG.replace(/[.:]/g, "\\$&")} \\([0-9a-f]{12}\\): gantry ${GANTRY_VERSION.replace(/\./g, "\\.")}\\n$`));
    const info = await docker.getImage(TAG).inspect();
    expect(info.Config.Labels).toMatchObject({ "gantry.runner": GANTRY_VERSION, "gantry.runner-base": "local/busybox:latest" });
    expect(runnerImageProblem(TAG, info.Config.Labels)).toBeUndefined();
    expect(info.Config.Entrypoint).toEqual(["/usr/local/bin/gantry"]);
  });

  it("runs the binary in the image: docker run --rm <tag> version", async () => {
    const answered = await run(["docker", "run", "--rm", TAG, "version"]);
    expect(answered).toEqual({ code: 0, out: `${GANTRY_VERSION}\n`, err: "" });
  });

  it("says what is wrong instead of building: a base that is not there (never pulled), an engine that does not answer", async () => {
    const noBase = await run([process.execPath, join(REPO_ROOT, "app", "main.ts"), "runner-image", "--binary", binary, "--tag", TAG, "--base", "local/no-such-base:1"]);
    expect(noBase.code).toBe(2);
    expect(noBase.err).toContain("the base image local/no-such-base:1 is not on the Docker engine at unix:///var/run/docker.sock, and gantry runner-image never pulls");
    const noEngine = await run([process.execPath, join(REPO_ROOT, "app", "main.ts"), "runner-image", "--binary", binary], { GANTRY_DOCKER_HOST: "tcp://127.0.0.1:9" });
    expect(noEngine.code).toBe(2);
    expect(noEngine.err).toContain("Docker engine unreachable at tcp://127.0.0.1:9");
  });
});

describe("the runner image as a service runs it", () => {
  /** Starts the runner as the service spec says (host network for the loopback server), returns how it ended. */
  async function runTask(task: string, workspace: string, token: string) {
    if (!gantry) throw new Error("no server");
    const version = await getVersion(gantry.deps.db, { namespace: "default", id: "swarmish" }, 1);
    const launch: RunnerLaunch = {
      namespace: "default",
      pipeline: "swarmish",
      run: 1,
      attempt: 1,
      task: { id: task, ...(task === "work" && { workdir: "sub" }) },
      bundlePath: version!.bundlePath,
      workspace,
      env: { GANTRY_NAMESPACE: "default", GANTRY_PIPELINE_ID: "swarmish", GANTRY_RUN_ID: "1", GANTRY_TASK_ID: task, GANTRY_API_URL: gantry.url, [BUNDLE_TOKEN_ENV]: token },
    };
    const spec = runnerServiceSpec(launch, { image: TAG });
    const [entrypoint, ...args] = spec.command;
    // Values come from this process's environment ("-e NAME"), so no secret is on a command line.
    const argv = ["docker", "run", "--rm", "--network", "host", ...(spec.init ? ["--init"] : []), "--entrypoint", entrypoint!, "-w", spec.workdir];
    for (const mount of spec.mounts) argv.push("-v", `${mount.source}:${mount.target}${mount.readonly ? ":ro" : ""}`);
    for (const name of Object.keys(spec.env)) argv.push("-e", name);
    const ended = await run([...argv, spec.image, ...args], spec.env);
    const result = runnerResultOf(ended.err.trimEnd().split("\n").at(-1) ?? "");
    return { ...ended, exit: runnerExit(ended.code, result) };
  }

  it("fetches the run's bundle with the run's token, runs the task in the workspace and reports how it ended", async () => {
    gantry = await startWithPipelines({ "swarmish.ts": PIPELINE });
    expect((await startRun(gantry.api, "default/swarmish")).id).toBe(1);
    const { row, secret } = prepareBundleToken({ namespace: "default", id: "swarmish", run: 1 }, new Date());
    await insertToken(gantry.deps.db, row);

    const workspace = tempDir("gantry-runner-ws-");
    mkdirSync(join(workspace, "sub"));
    const worked = await runTask("work", workspace, secret);
    expect(worked.err).toBe("");
    expect(worked.exit).toEqual({ exitCode: 0 });
    expect(worked.out).toContain("in the runner image: /usr/local/bin/gantry");
    expect(JSON.parse(readFileSync(join(workspace, "out.json"), "utf8"))).toEqual({ cwd: "/workspace/sub", workspace: "/workspace", echoed: "from busybox" });

    const failed = await runTask("boom", workspace, secret);
    expect(failed.exit).toEqual({ exitCode: 1, reason: "threw: boom in a container" });

    const refused = await runTask("work", workspace, "gty_not-a-token");
    expect(refused.exit.exitCode).toBeNull();
    expect(refused.exit.reason).toContain("the runner could not fetch the pipeline bundle: the server refused the bundle");
    expect(refused.exit.reason).toContain("401: invalid token");
  });
});

describe("run() tasks on a swarm, in the runner image", () => {
  it("run as services: a file one writes the next reads, a secret masked, a thrown error's reason, no service left", async () => {
    const started = Date.now();
    const { id } = await startRun(api, "default/swr-tasks");
    const ended = await waitForRun(api, "default/swr-tasks", id, 40_000);
    console.log(`run of three run() services in ${Date.now() - started} ms`);
    expect(ended.state).toBe("failed");
    expect(taskOf(ended, "write")).toMatchObject({ kind: "run", state: "successful", exitCode: 0 });
    expect(taskOf(ended, "read")).toMatchObject({ kind: "run", state: "successful", exitCode: 0 });
    expect(taskOf(ended, "boom")).toMatchObject({ kind: "run", state: "failed", exitCode: 1, reason: "threw: boom in a runner service" });

    const write = await readLog(api, "default/swr-tasks", id, "write");
    expect(write).toMatch(/\[gantry\] running on node /);
    expect(outputLines(write)).toEqual(["token=***"]);
    expect(write).not.toContain(SWARM_SECRET);
    // The second runner read what the first wrote: the run's workspace, mounted at /workspace in each.
    // The runner is not dumpable there either (Bun's FFI works in the compiled binary).
    expect(outputLines(await readLog(api, "default/swr-tasks", id, "read"))).toEqual([
      "read: written by the first runner",
      "runner: /usr/local/bin/gantry in /workspace",
      "child reads the runner's environ: permission denied",
    ]);
    const boom = await readLog(api, "default/swr-tasks", id, "boom");
    expect(boom).toContain("boom in a runner service");
    // The runner's result line gives the reason; it is no line of the log.
    expect(boom).not.toContain("::gantry-result::");

    // Each service is removed once its attempt's end is recorded.
    await waitFor(async () => (await servicesOf("swr-tasks")).length === 0 || undefined, 10_000, "swr-tasks' services to go");
  });

  it("stops on cancel: the init in the service hands the runner its SIGTERM, so ctx.signal aborts", async () => {
    const { id } = await startRun(api, "default/swr-cancel");
    await waitForLog(api, "default/swr-cancel", id, "wait", /waiting/, 20_000);
    expect((await api(`/pipelines/default/swr-cancel/runs/${id}/cancel`, { method: "POST" })).status).toBeLessThan(300);
    const ended = await waitForRun(api, "default/swr-cancel", id, 20_000);
    expect(ended.state).toBe("cancelled");
    expect(taskOf(ended, "wait").state).toBe("cancelled");
    expect(outputLines(await readLog(api, "default/swr-cancel", id, "wait"))).toEqual(["waiting", expect.stringMatching(/^aborted: /)]);
    await waitFor(async () => (await servicesOf("swr-cancel")).length === 0 || undefined, 10_000, "swr-cancel's service to go");
  });

  it("is found again after kill -9 and a restart, and followed to its end with its log intact", async () => {
    const { id } = await startRun(api, "default/swr-slow");
    await waitForLog(api, "default/swr-slow", id, "slow", /before/, 20_000);
    const { dataDir, pipelinesDir } = server!;
    await server!.kill9();
    server = await startGantryProcess({ dataDir, pipelinesDir, env: SWARM_ENV });
    const ended = await waitForRun(api, "default/swr-slow", id, 30_000);
    expect(ended.state).toBe("successful");
    expect(taskOf(ended, "slow")).toMatchObject({ state: "successful", exitCode: 0, attempt: 1 });
    const log = await readLog(api, "default/swr-slow", id, "slow");
    expect(outputLines(log)).toEqual(["before", "after"]);
    expect(log).toContain("[gantry] re-attached after a server restart");
    await waitFor(async () => (await servicesOf("swr-slow")).length === 0 || undefined, 10_000, "swr-slow's service to go");
  });
});
