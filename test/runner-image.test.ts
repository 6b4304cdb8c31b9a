// Issue 17: `gantry runner-image` on the real Docker engine: the compiled binary (built here
// into a temp file, ~2 s) and its shared libraries FROM local/busybox:latest, never pulled; the image answers
// `version`, carries its labels, and its runner, started as runnerServiceSpec describes the
// swarm service (command, env, workspace mount, an init), fetches its run's bundle from a real
// server over host networking, runs the task and exits with its outcome.
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
import { startRun, startWithPipelines, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, sharedDir, tempDir } from "./helpers/temp.ts";

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

let binary: string;
let gantry: TestGantry | undefined;

async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const child = Bun.spawn(argv, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, out, err };
}

beforeAll(async () => {
  // Built where no other build writes (the suite runs files side by side; binary.test.ts builds dist/gantry).
  binary = join(tempDir("gantry-runner-bin-"), "gantry");
  const build = await run([process.execPath, join(REPO_ROOT, "scripts", "build-binary.ts"), "--outfile", binary]);
  if (build.code !== 0) throw new Error(`building the binary failed (${build.code}):\n${build.out}${build.err}`);
});

afterAll(async () => {
  await Bun.write(RELEASE, "");
  await gantry?.stop();
  await docker.getImage(TAG).remove({ force: true }).catch(() => undefined);
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
