// Issue 17: a run's version bundle over the API (GET .../runs/:run/bundle), readable with the
// run's own bundle token or pipelines:read and nothing else, served only from its stored path
// and only while its sha256 holds; and the task runner's fetch mode, end to end without Docker:
// the runner started as the swarm service would start it (runnerServiceSpec), against a real
// server, downloads the bundle, runs a task, and reports how it ended.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareBundleToken } from "../app/auth/bundle-tokens.ts";
import { createToken } from "../app/auth/tokens.ts";
import { getVersion } from "../app/db/repos/pipelines.ts";
import { insertToken, revokeRunTokensOf } from "../app/db/repos/tokens.ts";
import { runnerExit, runnerLog, runnerPlan, runnerResultOf, runnerServiceSpec, type RunnerLaunch } from "../app/engine/executors/runner-service.ts";
import { CONTAINER_WORKSPACE } from "../app/engine/executors/container-plan.ts";
import { containerServiceSpec } from "../app/engine/executors/swarm-service-spec.ts";
import type { TaskLaunch } from "../app/engine/executors/executor.ts";
import type { LogWriter } from "../app/stores/logs.ts";
import { BUNDLE_SHA256_ENV, BUNDLE_TOKEN_ENV, BUNDLE_URL_ENV } from "../app/engine/task-runner/command.ts";
import { buildRunner, taskRunnerCommand } from "../app/engine/task-runner/runner-command.ts";
import { fetchBundle, takeBundleSource } from "../app/engine/task-runner/bundle-fetch.ts";
import type { RunKey } from "../app/domain/run-key.ts";
import { startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, tempDir } from "./helpers/temp.ts";

setDefaultTimeout(30_000);

const flags = sharedDir();
const RELEASE = join(flags, "release");

const FETCHED = `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "fetched",
  variables: { GREETING: "hello" },
  tasks: {
    // Keeps the run going (its tokens live) until the test lets it end.
    hold: run(async () => { while (!(await Bun.file(${JSON.stringify(RELEASE)}).exists())) await Bun.sleep(20); }),
    work: run(async (ctx) => {
      ctx.log("fetched runner says " + ctx.env.GREETING + " on attempt " + ctx.attempt);
      const leaked = Object.keys(process.env).filter((name) => name.startsWith("GANTRY_BUNDLE"));
      await Bun.write(ctx.workspace + "/work.json", JSON.stringify({ leaked, cwd: process.cwd(), workspace: ctx.workspace }));
    }, { needs: { hold: "success" }, workdir: "sub" }),
    boom: run(() => { throw new Error("boom from the fetched bundle"); }, { needs: { hold: "success" } }),
  },
});
`;
const simple = (id: string) => `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "${id}", tasks: { a: run((ctx) => ctx.log("${id} ran")) } });
`;

let gantry: TestGantry;
let held: RunJson;
const fetchedRun: RunKey = { namespace: "default", id: "fetched", run: 1 };
let bundleToken: string;

beforeAll(async () => {
  gantry = await startWithPipelines({ "fetched.ts": FETCHED, "other.ts": simple("other"), "damaged.ts": simple("damaged") });
  held = await startRun(gantry.api, "default/fetched");
  expect(held.id).toBe(1);
  // The token the engine issues a fetching runner (deps' issueBundle makes the same row).
  const { row, secret } = prepareBundleToken(fetchedRun, new Date());
  await insertToken(gantry.deps.db, row);
  bundleToken = secret;
  for (const id of ["other", "damaged"]) await waitForRun(gantry.api, `default/${id}`, (await startRun(gantry.api, `default/${id}`)).id);
});

afterAll(async () => {
  writeFileSync(RELEASE, "");
  await gantry?.stop();
});

const as = (secret: string | undefined, path: string) => fetch(`${gantry.url}/api/v1${path}`, { headers: secret ? { authorization: `Bearer ${secret}` } : {} });
const bundlePath = (pipeline: string, run: number | string) => `/pipelines/${pipeline}/runs/${run}/bundle`;

async function errorOf(response: Response, status: number): Promise<string> {
  expect(response.status).toBe(status);
  return ((await response.json()) as { error: { message: string } }).error.message;
}

async function tokenWith(name: string, permissions: { resource: string; target: string; actions: string[] }[]): Promise<string> {
  const made = await createToken(gantry.deps.db, { name, roles: [], permissions: permissions as never }, new Date());
  return made.secret;
}

async function versionOf(pipeline: string) {
  const version = await getVersion(gantry.deps.db, { namespace: "default", id: pipeline }, 1);
  if (!version) throw new Error(`no version 1 of ${pipeline}`);
  return version;
}

describe("GET .../runs/:run/bundle", () => {
  it("answers the run's own bundle token with the bundle file, checked against its version's sha256", async () => {
    const version = await versionOf("fetched");
    const response = await as(bundleToken, bundlePath("default/fetched", 1));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/javascript");
    expect(response.headers.get("x-checksum-sha256")).toBe(version.hash);
    expect(response.headers.get("cache-control")).toBe("private, no-store");
    const body = new Uint8Array(await response.arrayBuffer());
    expect(Buffer.from(body).equals(readFileSync(version.bundlePath))).toBe(true);
    expect(new Bun.CryptoHasher("sha256").update(body).digest("hex")).toBe(version.hash);
  });

  it("refuses the bundle token everywhere else: another run, another pipeline, any other route", async () => {
    for (const path of [bundlePath("default/fetched", 2), bundlePath("default/fetched", "01"), bundlePath("default/other", 1)]) {
      expect(await errorOf(await as(bundleToken, path), 403), path).toMatch(/lacks permission pipelines:read on default\/(fetched|other)/);
    }
    for (const path of ["/pipelines/default/fetched", "/pipelines/default/fetched/runs/1", "/pipelines/default/fetched/runs/1/objects", "/pipelines/default/fetched/versions"]) {
      expect((await as(bundleToken, path)).status, path).toBe(403);
    }
    expect(((await (await as(bundleToken, "/pipelines")).json()) as { pipelines: unknown[] }).pipelines).toEqual([]);
  });

  it("lets pipelines:read read it, and refuses anonymous callers, objects tokens and runs:read alone", async () => {
    const reader = await tokenWith("bundle-reader", [{ resource: "pipelines", target: "default/fetched", actions: ["read"] }]);
    expect((await as(reader, bundlePath("default/fetched", 1))).status).toBe(200);
    expect(await errorOf(await as(reader, bundlePath("default/other", 1)), 403)).toContain("pipelines:read on default/other");
    expect(await errorOf(await as(undefined, bundlePath("default/fetched", 1)), 401)).toContain("Bearer");
    const objects = await createToken(
      gantry.deps.db,
      { name: "objects-like", roles: [], permissions: [{ resource: "objects", target: "default/fetched", actions: ["read", "write"] }], issuedTo: { run: "default/fetched#1", task: "objects", scope: "objects" } },
      new Date(),
    );
    expect(await errorOf(await as(objects.secret, bundlePath("default/fetched", 1)), 403)).toContain("pipelines:read");
    const runsOnly = await tokenWith("runs-only", [{ resource: "runs", target: ".*", actions: ["read"] }]);
    expect((await as(runsOnly, bundlePath("default/fetched", 1))).status).toBe(403);
  });

  it("answers 404 for a run or pipeline that does not exist, and 400 for a run that is not a number", async () => {
    expect(await errorOf(await gantry.api(bundlePath("default/fetched", 999)), 404)).toContain("run 999 of default/fetched not found");
    expect(await errorOf(await gantry.api(bundlePath("default/nope", 1)), 404)).toContain("not found");
    expect((await gantry.api(bundlePath("default/fetched", "x"))).status).toBe(400);
  });

  it("serves no bundle whose bytes changed (409), nor one pruned (404)", async () => {
    const version = await versionOf("damaged");
    const original = readFileSync(version.bundlePath);
    writeFileSync(version.bundlePath, Buffer.concat([original, Buffer.from("\n// tampered\n")]));
    expect(await errorOf(await gantry.api(bundlePath("default/damaged", 1)), 409)).toContain("corrupted");
    Bun.spawnSync(["rm", "-f", version.bundlePath]);
    expect(await errorOf(await gantry.api(bundlePath("default/damaged", 1)), 404)).toContain("is gone");
    writeFileSync(version.bundlePath, original);
    expect((await gantry.api(bundlePath("default/damaged", 1))).status).toBe(200);
  });
});

/** The launch of a task of run #1 of "fetched", as the engine would hand the executor one. */
async function launchOf(task: string, workspace: string, token = bundleToken): Promise<RunnerLaunch> {
  return {
    namespace: "default",
    pipeline: "fetched",
    run: 1,
    attempt: 1,
    task: { id: task, ...(task === "work" && { workdir: "sub" }) },
    bundlePath: (await versionOf("fetched")).bundlePath,
    workspace,
    env: {
      GREETING: "hello",
      GANTRY_NAMESPACE: "default",
      GANTRY_PIPELINE_ID: "fetched",
      GANTRY_RUN_ID: "1",
      GANTRY_TASK_ID: task,
      GANTRY_API_URL: "http://unused.invalid",
      GANTRY_WORKSPACE: workspace,
      [BUNDLE_TOKEN_ENV]: token,
    },
  };
}

/**
 * Runs the runner as the service would (its command and env), here as a child process: the
 * binary's path and hidden command become the runner from source, the workspace mount its
 * source folder. Its exit code and stderr are what the swarm executor reads.
 */
async function runService(launch: RunnerLaunch, overrides: Record<string, string> = {}) {
  const spec = runnerServiceSpec(launch, { image: "local/gantry-runner:test", apiUrl: `${gantry.url}/` });
  const temp = tempDir("gantry-runner-tmp-");
  const child = Bun.spawn([...taskRunnerCommand(), ...spec.command.slice(2)], {
    cwd: "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...spec.env, GANTRY_WORKSPACE: spec.mounts[0]!.source, TMPDIR: temp, ...overrides },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const lines = err.trimEnd().split("\n");
  const result = runnerResultOf(lines.at(-1) ?? "");
  return { spec, code, out, err, result, exit: runnerExit(code, result), temp };
}

describe("the task runner's build", () => {
  it("is built (by a bun build process) into node_modules/.cache with its bytecode, and is what tasks are started with", async () => {
    // A failed build is logged and tasks run from source: that must not pass silently here.
    await buildRunner();
    const [bun, file] = taskRunnerCommand();
    expect(bun).toBe(process.execPath);
    expect(file).toMatch(/node_modules\/\.cache\/gantry-runner\/[0-9a-f]{16}\/main\.js$/);
    expect(existsSync(`${file}.jsc`)).toBe(true);
  });
});

describe("the runner in fetch mode", () => {
  it("is described as a service: the runner binary in fetch mode, the task's env, the bundle's URL and sha256, the workspace mounted", async () => {
    const workspace = tempDir("gantry-ws-");
    const launch = await launchOf("work", workspace);
    const spec = runnerServiceSpec(launch, { image: "local/gantry-runner:0.1.0", apiUrl: "http://10.0.0.5:8080/" });
    expect(spec.command).toEqual(["/usr/local/bin/gantry", "__task-runner", "--fetch", "work", "1", "sub"]);
    expect(spec.env).toMatchObject({
      GREETING: "hello",
      GANTRY_WORKSPACE: CONTAINER_WORKSPACE,
      GANTRY_API_URL: "http://10.0.0.5:8080",
      [BUNDLE_URL_ENV]: "http://10.0.0.5:8080/api/v1/pipelines/default/fetched/runs/1/bundle",
      [BUNDLE_SHA256_ENV]: (await versionOf("fetched")).hash,
      [BUNDLE_TOKEN_ENV]: bundleToken,
    });
    // No secret on the command line (docker service inspect shows it to anyone with the engine).
    expect(spec.command.join(" ")).not.toContain(bundleToken);
    expect(spec.mounts).toEqual([{ source: workspace, target: CONTAINER_WORKSPACE, readonly: false }]);
    expect(spec.init).toBe(true);
    const { [BUNDLE_TOKEN_ENV]: _, ...withoutToken } = launch.env;
    expect(() => runnerServiceSpec({ ...launch, env: withoutToken }, { image: "x" })).toThrow(/GANTRY_BUNDLE_TOKEN/);
  });

  it("becomes a service as a container task does: labels, default limits, no capability, the workspace group, an init", async () => {
    const workspace = tempDir("gantry-ws-");
    const launch = { ...(await launchOf("work", workspace)), ref: "gantry-default-fetched-1-work-1-abcd1234", task: { id: "work", kind: "run", workdir: "sub" } } as unknown as TaskLaunch;
    const limits = { memoryBytes: 512 * 1024 ** 2, cpus: 2, pids: 256 };
    const plan = runnerPlan(launch, { image: "local/gantry-runner:0.1.0", apiUrl: "http://10.0.0.5:8080", network: "host", instance: "i1", defaultNetwork: "bridge", limits: { defaults: limits, maxima: limits }, workspaceGroup: 999 }, 1);
    const service = containerServiceSpec(plan, { constraints: ["node.id==n1"], stopGraceMs: 2_000 });
    expect(service.Labels).toMatchObject({ "gantry.instance": "i1", "gantry.pipeline": "fetched", "gantry.run": "1", "gantry.task": "work", "gantry.attempt": "1" });
    expect(service.TaskTemplate.ContainerSpec).toMatchObject({
      Image: "local/gantry-runner:0.1.0",
      Command: ["/usr/local/bin/gantry"],
      Args: ["__task-runner", "--fetch", "work", "1", "sub"],
      Dir: "/",
      Groups: ["999"],
      Mounts: [{ Type: "bind", Source: workspace, Target: "/workspace", ReadOnly: false }],
      CapabilityDrop: ["ALL"],
      Init: true,
    });
    expect(service.TaskTemplate.ContainerSpec.Env).toContain(`${BUNDLE_URL_ENV}=http://10.0.0.5:8080/api/v1/pipelines/default/fetched/runs/1/bundle`);
    // Capped at the engine's one CPU.
    expect(service.TaskTemplate).toMatchObject({ Resources: { Limits: { MemoryBytes: limits.memoryBytes, NanoCPUs: 1e9, Pids: 256 } }, Networks: [{ Target: "host" }], Placement: { Constraints: ["node.id==n1"] } });
  });

  it("keeps the runner's result line out of the task log, its last one giving the reason", () => {
    const lines: string[] = [];
    const log = runnerLog({ size: 0, line: (stream, text) => lines.push(`${stream} ${text}`), flush() {}, close() {} } as LogWriter);
    log.line("out", "::gantry-result::{\"error\":\"on stdout it is output\"}");
    log.line("err", "Error: boom");
    log.line("err", '::gantry-result::{"error":"boom"}');
    expect(lines).toEqual(['out ::gantry-result::{"error":"on stdout it is output"}', "err Error: boom"]);
    expect(runnerExit(1, log.result())).toEqual({ exitCode: 1, reason: "threw: boom" });
  });

  it("downloads the run's bundle, runs the task with its environment and exits 0, leaving nothing of the bundle behind", async () => {
    const workspace = tempDir("gantry-ws-");
    mkdirSync(join(workspace, "sub"));
    const run = await runService(await launchOf("work", workspace));
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.exit).toEqual({ exitCode: 0 });
    expect(run.out).toContain("fetched runner says hello on attempt 1");
    const written = JSON.parse(readFileSync(join(workspace, "work.json"), "utf8")) as { leaked: string[]; cwd: string; workspace: string };
    // The bundle's URL, token and sha256 were gone before the task's code ran.
    expect(written).toEqual({ leaked: [], cwd: join(workspace, "sub"), workspace });
    // The private folder the bundle was fetched into went with the runner.
    expect(readdirSync(run.temp)).toEqual([]);
  });

  it("reports a thrown error on its last stderr line, which reads as the attempt's reason", async () => {
    const run = await runService(await launchOf("boom", tempDir("gantry-ws-")));
    expect(run.code).toBe(1);
    expect(run.err).toContain("boom from the fetched bundle");
    expect(run.result).toEqual({ error: "boom from the fetched bundle" });
    expect(run.exit).toEqual({ exitCode: 1, reason: "threw: boom from the fetched bundle" });
  });

  it("runs nothing when the bundle is refused or is not the one the server named", async () => {
    const workspace = tempDir("gantry-ws-");
    mkdirSync(join(workspace, "sub"));
    const objects = await createToken(
      gantry.deps.db,
      { name: "objects-only", roles: [], permissions: [{ resource: "objects", target: "default/fetched", actions: ["read", "write"] }] },
      new Date(),
    );
    const refused = await runService(await launchOf("work", workspace, objects.secret));
    expect(refused.code).toBe(76);
    expect(refused.exit.exitCode).toBeNull();
    expect(refused.exit.reason).toMatch(/^the runner could not fetch the pipeline bundle: the server refused the bundle .*403: token "objects-only" lacks permission pipelines:read/);
    const mismatch = await runService(await launchOf("work", workspace), { [BUNDLE_SHA256_ENV]: "0".repeat(64) });
    expect(mismatch.code).toBe(76);
    expect(mismatch.exit.reason).toContain(`not ${"0".repeat(64)} as the server said: refusing to run it`);
    expect(existsSync(join(workspace, "work.json"))).toBe(false);
  });

  it("refuses a bundle over its size cap, and a URL or token left out of its environment", async () => {
    const source = { url: `${gantry.url}/api/v1${bundlePath("default/fetched", 1)}`, token: bundleToken };
    await expect(fetchBundle(source, { maxBytes: 10 })).rejects.toThrow(/over the runner's limit of 10 bytes/);
    expect(() => takeBundleSource({ [BUNDLE_TOKEN_ENV]: bundleToken })).toThrow(/GANTRY_BUNDLE_URL is not set/);
    const env: Record<string, string | undefined> = { [BUNDLE_URL_ENV]: source.url, [BUNDLE_TOKEN_ENV]: bundleToken, [BUNDLE_SHA256_ENV]: "" };
    expect(takeBundleSource(env)).toEqual(source);
    expect(env).toEqual({});
  });

  it("holds a run token: listed as issued to the run, so the run's clean-up finds and revokes it", async () => {
    const { tokens } = (await (await gantry.api("/tokens")).json()) as { tokens: { issuedTo?: { run: string; task: string; scope: string } }[] };
    expect(tokens.map((token) => token.issuedTo)).toContainEqual({ run: "default/fetched#1", task: "bundle", scope: "bundle" });
    // What a restart's clean-up does for an ended run (the engine revokes what it issued by id).
    writeFileSync(RELEASE, "");
    expect((await waitForRun(gantry.api, "default/fetched", held.id)).state).toBe("failed");
    await revokeRunTokensOf(gantry.deps.db, fetchedRun, new Date());
    expect(await errorOf(await as(bundleToken, bundlePath("default/fetched", 1)), 401)).toContain("revoked");
  });
});
