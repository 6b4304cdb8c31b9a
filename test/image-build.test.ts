// dockerBuild() and dockerPush() against the real Docker engine and a real registry (Debian's
// docker-registry on a free loopback port, once without auth and once with htpasswd): a
// build through BuildKit with readable steps, the image run by a later task, a failing step
// named in the reason, pushes with and without credentials (a wrong password refused and
// never logged), a context that leads out of the workspace refused; and, through the
// executor itself, the classic builder, a stopped build and a build lost to a restart.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { createDockerExecutor } from "../app/engine/executors/docker.ts";
import type { TaskLaunch } from "../app/engine/executors/executor.ts";
import { createDockerClient } from "../app/engine/executors/docker-client.ts";
import type { TaskSpec } from "../app/domain/pipeline-spec.ts";
import type { LogStream, LogWriter } from "../app/stores/logs.ts";
import { readLog, startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";

setDefaultTimeout(120_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const BASE = "local/busybox:latest";
const REPO = "gantry-image-test/app";
const GOOD_LOGIN = "robot:right-pw-2718";
const WRONG_LOGIN = "robot:wrong-pw-3141";

/** Written into every context, so BuildKit's cache of an earlier test process never answers for a step. */
const NONCE = crypto.randomUUID();

/** A run() task that writes a build context into the workspace folder `app`. */
const writeContext = (dockerfile: string) => `run(async (ctx) => {
    const dir = ctx.workspace + "/app";
    await Bun.write(dir + "/Dockerfile", ${JSON.stringify(dockerfile)});
    await Bun.write(dir + "/hello.txt", "hello from the build context\\n");
    await Bun.write(dir + "/nonce.txt", "${NONCE}");
    await Bun.write(dir + "/notes/secret.txt", "not for the image\\n");
    await Bun.write(dir + "/.dockerignore", "notes\\n");
  })`;

const PIPELINES: Record<string, string> = {
  "image-build.ts": `import { definePipeline, run, container, dockerBuild, dockerPush } from "gantry";
export default definePipeline({
  id: "image-build",
  variables: { REGISTRY: "set-by-the-run" },
  tasks: {
    prepare: ${writeContext(`FROM ${BASE}\nARG GREETING\nCOPY . /ctx\nRUN echo "$GREETING" > /greeting.txt && cat /ctx/hello.txt\n`)},
    image: dockerBuild({
      context: "app",
      tags: ["${REPO}:1", "${REPO}:run-\${GANTRY_RUN_ID}"],
      buildArgs: { GREETING: "hi from a build arg" },
      labels: { "org.example.run": "\${GANTRY_RUN_ID}" },
      needs: { prepare: "success" },
    }),
    use: container({
      image: "${REPO}:1",
      pull: "never",
      network: "none",
      command: ["sh", "-c", "cat /ctx/hello.txt /greeting.txt; test ! -e /ctx/notes && echo notes-ignored"],
      needs: { image: "success" },
    }),
    publish: dockerPush({ image: "${REPO}:1", registry: "\${REGISTRY}", needs: { use: "success" } }),
  },
});
`,
  "image-fail.ts": `import { definePipeline, run, dockerBuild } from "gantry";
export default definePipeline({
  id: "image-fail",
  tasks: {
    prepare: ${writeContext(`FROM ${BASE}\nCOPY hello.txt /hello.txt\nRUN echo about to fail && exit 3\n`)},
    image: dockerBuild({ context: "app", tags: ["${REPO}:broken"], needs: { prepare: "success" } }),
  },
});
`,
  "image-auth.ts": `import { definePipeline, dockerPush, secret } from "gantry";
export default definePipeline({
  id: "image-auth",
  variables: { REGISTRY: "set-by-the-run" },
  tasks: {
    good: dockerPush({ image: "${BASE}", registry: "\${REGISTRY}", auth: secret("registry_good") }),
    // One after another: the engine shares the upload of a layer between pushes running at once.
    bad: dockerPush({ image: "${BASE}", registry: "\${REGISTRY}", auth: secret("registry_bad"), needs: { good: "any" } }),
    anonymous: dockerPush({ image: "${BASE}", registry: "\${REGISTRY}", needs: { bad: "any" } }),
  },
});
`,
  "image-escape.ts": `import { definePipeline, run, dockerBuild } from "gantry";
export default definePipeline({
  id: "image-escape",
  tasks: {
    prepare: run(async (ctx) => {
      const { symlinkSync } = await import("node:fs");
      symlinkSync("/etc", ctx.workspace + "/linked");
    }),
    image: dockerBuild({ context: "linked", tags: ["${REPO}:escape"], needs: { prepare: "success" } }),
  },
});
`,
};

let gantry: TestGantry;
let open: Registry;
let guarded: Registry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const runToEnd = async (id: string, variables?: Record<string, string>) =>
  waitForRun(api, `default/${id}`, (await startRun(api, `default/${id}`, variables)).id, 90_000);
const task = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)!;

beforeAll(async () => {
  [open, guarded] = await Promise.all([startRegistry(), startRegistry(GOOD_LOGIN)]);
  gantry = await startWithPipelines(PIPELINES);
  for (const [key, value] of [["registry_good", GOOD_LOGIN], ["registry_bad", WRONG_LOGIN]] as const) {
    const put = await api(`/pipelines/default/image-auth/secrets/${key}`, { method: "PUT", body: JSON.stringify({ value }) });
    expect(put.status).toBeLessThan(300);
  }
});

afterAll(async () => {
  await gantry?.stop();
  await Promise.all([open?.stop(), guarded?.stop()]);
  // The images these tests made, by tag (their layers go with the last tag).
  const tags = [`${REPO}:1`, `${REPO}:run-1`, `${REPO}:broken`, `${REPO}:escape`, `${REPO}:classic`, `${REPO}:stopped`];
  if (open) tags.push(`${open.address}/${REPO}:1`);
  if (guarded) tags.push(`${guarded.address}/${BASE}`);
  for (const tag of tags) await docker.getImage(tag).remove({ noprune: false }).catch(() => undefined);
});

describe("dockerBuild and dockerPush", () => {
  it("build with BuildKit, show each step, run the image in a later task and push it to a registry", async () => {
    const run = await runToEnd("image-build", { REGISTRY: open.address });
    expect(run.tasks.map((t) => [t.id, t.state, t.reason])).toEqual([
      ["prepare", "successful", undefined],
      ["image", "successful", undefined],
      ["use", "successful", undefined],
      ["publish", "successful", undefined],
    ]);
    expect(task(run, "image").kind).toBe("container");

    const buildLog = await readLog(api, "default/image-build", run.id, "image");
    expect(buildLog).toMatch(/#\d+ \[2\/3\] COPY \. \/ctx/);
    // The step as BuildKit names it: its build arg filled in.
    expect(buildLog).toMatch(/#(\d+) \[3\/3\] RUN echo "hi from a build arg" > \/greeting\.txt && cat \/ctx\/hello\.txt\n.*#\1 hello from the build context\n.*#\1 DONE/);
    expect(buildLog).toContain(`tagged ${REPO}:1, ${REPO}:run-${run.id}`);
    // No BuildKit noise: no base64 trace, no JSON.
    expect(buildLog).not.toContain("moby.buildkit.trace");

    const info = await docker.getImage(`${REPO}:run-${run.id}`).inspect();
    expect(info.Config.Labels?.["org.example.run"]).toBe(String(run.id));

    const useLog = await readLog(api, "default/image-build", run.id, "use");
    expect(useLog).toContain("hello from the build context");
    expect(useLog).toContain("hi from a build arg");
    expect(useLog).toContain("notes-ignored");

    const pushLog = await readLog(api, "default/image-build", run.id, "publish");
    expect(pushLog).toContain(`pushing ${open.address}/${REPO}:1`);
    expect(pushLog).toMatch(/: Pushed/);
    expect(pushLog).toMatch(/pushed .*\(sha256:[0-9a-f]{64}\)/);
    // Layer states once each, not a line per progress tick.
    expect(pushLog.split("\n").filter((line) => line.includes("Pushing")).length).toBeLessThanOrEqual(4);
    const tags = (await (await open.get(`/v2/${REPO}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["1"]);
  });

  it("fail the build at the failing step, named in the reason with its error and output", async () => {
    const run = await runToEnd("image-fail");
    expect(run.state).toBe("failed");
    const image = task(run, "image");
    expect(image.state).toBe("failed");
    expect(image.exitCode).toBeNull();
    expect(image.reason).toContain("image build failed at step [3/3] RUN echo about to fail && exit 3");
    expect(image.reason).toContain("exit code: 3");
    const log = await readLog(api, "default/image-fail", run.id, "image");
    expect(log).toMatch(/#(\d+) \[3\/3\] RUN echo about to fail && exit 3\n.*#\1 about to fail\n.*\[err\] #\1 ERROR: .*exit code: 3/);
    expect(log).toContain("its last output:");
  });

  it("push with the registry's credentials; wrong or missing ones are refused clearly and never logged", async () => {
    const run = await runToEnd("image-auth", { REGISTRY: guarded.address });
    const target = `${guarded.address}/${BASE}`;
    expect(task(run, "good")).toMatchObject({ state: "successful", exitCode: 0 });
    for (const id of ["bad", "anonymous"]) {
      const failed = task(run, id);
      expect(failed.state).toBe("failed");
      expect(failed.reason).toStartWith(`push to ${target} was refused: `);
      expect(failed.reason).toMatch(/unauthorized|authentication required|no basic auth credentials/);
    }
    for (const id of ["good", "bad"]) {
      const log = await readLog(api, "default/image-auth", run.id, id);
      expect(log).not.toContain("right-pw-2718");
      expect(log).not.toContain("wrong-pw-3141");
    }
    expect(JSON.stringify(run)).not.toContain("wrong-pw-3141");
    expect((await guarded.get(`/v2/local/busybox/tags/list`)).status).toBe(401);
    const tags = (await (await guarded.get(`/v2/local/busybox/tags/list`, GOOD_LOGIN)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["latest"]);
  });

  it("refuse a build context that leads out of the workspace", async () => {
    const run = await runToEnd("image-escape");
    const image = task(run, "image");
    expect(image.state).toBe("failed");
    expect(image.reason).toContain('build context "linked" leads out of the workspace');
    expect(image.reason).toContain("is a symlink");
    expect(await docker.getImage(`${REPO}:escape`).inspect().catch(() => "absent")).toBe("absent");
  });
});

describe("the Docker executor's image tasks", () => {
  const { docker: client } = createDockerClient();
  const executor = (builder?: "classic") =>
    createDockerExecutor({
      connection: { docker: client, host: "unix:///var/run/docker.sock" },
      instance: "image-build-test",
      defaultNetwork: "none",
      limits: { defaults: { memoryBytes: 256 * 1024 ** 2, cpus: 1, pids: 256 }, maxima: { memoryBytes: 1024 ** 3, cpus: 2, pids: 1024 } },
      ...(builder && { builder }),
    });

  /** A launch of a build of `dockerfile` in a fresh workspace, its log collected. */
  const buildLaunch = (dockerfile: string, tag: string) => {
    const workspace = tempDir("gantry-image-ws-");
    writeFile(join(workspace, "ctx", "Dockerfile"), dockerfile);
    writeFile(join(workspace, "ctx", "hello.txt"), "hello\n");
    mkdirSync(join(workspace, "ctx", "links"));
    // Sent as a link, never followed: /etc/passwd of the host stays out of the image.
    symlinkSync("/etc/passwd", join(workspace, "ctx", "links", "passwd"));
    const lines: [LogStream, string][] = [];
    const log: LogWriter = { line: (stream, text) => void lines.push([stream, text]), flush() {}, size: 0, close() {} };
    const task: TaskSpec = {
      id: "image",
      kind: "container",
      needs: {},
      env: {},
      retries: 0,
      injectApiToken: false,
      container: { image: tag, pull: "if-missing", capabilities: [], mounts: [], keepContainer: false, build: { context: "ctx", tags: [tag] } },
    };
    const launch: TaskLaunch = { namespace: "default", pipeline: "p", run: 1, task, attempt: 1, ref: "r", bundlePath: "", env: {}, workspace, log };
    return { launch, text: () => lines.map(([stream, text]) => `${stream} ${text}`).join("\n") };
  };

  it("build with the classic builder when asked, its steps and failure read the same way", async () => {
    const ok = buildLaunch(`FROM ${BASE}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt\n`, `${REPO}:classic`);
    expect(await executor("classic").start(ok.launch).exited).toEqual({ exitCode: 0 });
    expect(ok.text()).toContain("out Step 3/3 : RUN cat /hello.txt");
    expect(ok.text()).toContain("classic builder");

    const broken = buildLaunch(`FROM ${BASE}\nRUN echo classic failure && exit 4\n`, `${REPO}:classic`);
    const exit = await executor("classic").start(broken.launch).exited;
    expect(exit.reason).toStartWith("image build failed at Step 2/2 : RUN echo classic failure && exit 4: ");
    expect(exit.reason).toContain("returned a non-zero code: 4");
    expect(broken.text()).toContain("out classic failure");
  });

  it("send symlinks of the context as links, never what they point to", async () => {
    const build = buildLaunch(`FROM ${BASE}\nCOPY links/passwd /passwd\n`, `${REPO}:escape`);
    const exit = await executor().start(build.launch).exited;
    expect(exit.exitCode).toBeNull();
    expect(exit.reason).toContain("[2/2] COPY links/passwd /passwd");
  });

  it("stop a build at once when the task is stopped", async () => {
    const slow = buildLaunch(`FROM ${BASE}\nRUN echo started && sleep 60\n`, `${REPO}:stopped`);
    const handle = executor().start(slow.launch);
    const deadline = Date.now() + 30_000;
    while (!/#\d+ started$/m.test(slow.text()) && Date.now() < deadline) await Bun.sleep(50);
    const stoppedAt = Date.now();
    handle.stop(1000);
    expect(await handle.exited).toEqual({ exitCode: null, reason: "stopped" });
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    expect(await docker.getImage(`${REPO}:stopped`).inspect().catch(() => "absent")).toBe("absent");
  });

  it("report a build lost after a restart: it cannot be followed again", async () => {
    const { launch } = buildLaunch(`FROM ${BASE}\n`, `${REPO}:classic`);
    expect(await executor().attach({ launch, stored: { out: 0, err: 0 } })).toEqual({
      status: "lost",
      reason: "the server restarted during the image build; a build cannot be followed again",
    });
  });
});
