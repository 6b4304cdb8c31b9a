// dockerBuild() and dockerPush() against the real Docker engine and a real registry (Debian's
// docker-registry on a free loopback port, once without auth and once with htpasswd): a
// build through BuildKit with readable steps, the image run by a later task, a failing step
// named in the reason, pushes with and without credentials (a wrong password refused and
// never logged), a context that leads out of the workspace refused; images owned by the
// pipeline that built them (no tag taken from another pipeline's image or from one Gantry did
// not build, no push of an image the pipeline did not build); and, through the executor
// itself, the classic builder, a stopped build and a build lost to a restart.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { createDockerExecutor } from "../app/engine/executors/docker.ts";
import type { TaskLaunch } from "../app/engine/executors/executor.ts";
import { createDockerClient } from "../app/engine/executors/docker-client.ts";
import { prepareBuildContext } from "../app/engine/executors/build-context.ts";
import { dockerBuild } from "../app/sdk/index.ts";
import type { TaskSpec } from "../app/domain/pipeline-spec.ts";
import type { LogStream, LogWriter } from "../app/stores/logs.ts";
import { readLog, startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { maskingLogWriter } from "../app/stores/log-masking.ts";

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
  "image-auth.ts": `import { definePipeline, run, dockerBuild, dockerPush, secret } from "gantry";
export default definePipeline({
  id: "image-auth",
  variables: { REGISTRY: "set-by-the-run" },
  tasks: {
    prepare: ${writeContext(`FROM ${BASE}\nCOPY nonce.txt /nonce.txt\n`)},
    // Only an image the pipeline built itself may be pushed.
    image: dockerBuild({ context: "app", tags: ["${REPO}:auth"], needs: { prepare: "success" } }),
    good: dockerPush({ image: "${REPO}:auth", registry: "\${REGISTRY}", auth: secret("registry_good"), needs: { image: "success" } }),
    // One after another: the engine shares the upload of a layer between pushes running at once.
    bad: dockerPush({ image: "${REPO}:auth", registry: "\${REGISTRY}", auth: secret("registry_bad"), needs: { good: "any" } }),
    anonymous: dockerPush({ image: "${REPO}:auth", registry: "\${REGISTRY}", needs: { bad: "any" } }),
  },
});
`,
  // Tries to take the name of an image Gantry did not build (one the other tasks run with pull: never).
  "image-take-base.ts": `import { definePipeline, run, dockerBuild } from "gantry";
export default definePipeline({
  id: "image-take-base",
  tasks: {
    prepare: ${writeContext(`FROM ${BASE}\nRUN echo swapped > /swapped.txt\n`)},
    image: dockerBuild({ context: "app", tags: ["${REPO}:never-given", "${BASE}"], needs: { prepare: "success" } }),
  },
});
`,
  // Pushes an image it did not build: one Gantry did not build at all.
  "image-push-base.ts": `import { definePipeline, dockerPush } from "gantry";
export default definePipeline({
  id: "image-push-base",
  variables: { REGISTRY: "set-by-the-run" },
  tasks: {
    publish: dockerPush({ image: "${BASE}", registry: "\${REGISTRY}" }),
  },
});
`,
  // Two pipelines on one server: A builds ${REPO}:shared (its Dockerfile's LABEL lines pretending
  // to be someone else), B may neither take that name nor push A's image.
  "image-owner-a.ts": `import { definePipeline, run, dockerBuild } from "gantry";
export default definePipeline({
  id: "image-owner-a",
  tasks: {
    prepare: ${writeContext(`FROM ${BASE}\nLABEL gantry.pipeline=image-owner-b gantry.namespace=elsewhere\nRUN echo built by a > /who.txt\n`)},
    image: dockerBuild({ context: "app", tags: ["${REPO}:shared"], needs: { prepare: "success" } }),
  },
});
`,
  "image-owner-b.ts": `import { definePipeline, run, dockerBuild, dockerPush } from "gantry";
export default definePipeline({
  id: "image-owner-b",
  variables: { REGISTRY: "set-by-the-run" },
  tasks: {
    prepare: ${writeContext(`FROM ${BASE}\nRUN echo built by b > /who.txt\n`)},
    image: dockerBuild({ context: "app", tags: ["${REPO}:shared"], needs: { prepare: "success" } }),
    publish: dockerPush({ image: "${REPO}:shared", registry: "\${REGISTRY}", needs: { image: "any" } }),
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

/** The images these tests make, by tag (their layers go with the last tag). */
const testTags = () => [
  `${REPO}:1`,
  `${REPO}:run-1`,
  `${REPO}:broken`,
  `${REPO}:escape`,
  `${REPO}:classic`,
  `${REPO}:stopped`,
  `${REPO}:auth`,
  `${REPO}:never-given`,
  `${REPO}:shared`,
  `${REPO}:raced`,
  ...(open ? [`${open.address}/${REPO}:1`, `${open.address}/${REPO}:shared`, `${open.address}/${BASE}`] : []),
  ...(guarded ? [`${guarded.address}/${REPO}:auth`] : []),
];

beforeAll(async () => {
  [open, guarded] = await Promise.all([startRegistry(), startRegistry(GOOD_LOGIN)]);
  // Left over from an interrupted earlier run, they would not be this server's to replace.
  for (const tag of testTags()) await docker.getImage(tag).remove({ noprune: false }).catch(() => undefined);
  gantry = await startWithPipelines(PIPELINES);
  for (const [key, value] of [["registry_good", GOOD_LOGIN], ["registry_bad", WRONG_LOGIN]] as const) {
    const put = await api(`/pipelines/default/image-auth/secrets/${key}`, { method: "PUT", body: JSON.stringify({ value }) });
    expect(put.status).toBeLessThan(300);
  }
});

afterAll(async () => {
  await gantry?.stop();
  await Promise.all([open?.stop(), guarded?.stop()]);
  for (const tag of testTags()) await docker.getImage(tag).remove({ noprune: false }).catch(() => undefined);
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
    // Whose image it is.
    expect(info.Config.Labels).toMatchObject({ "gantry.namespace": "default", "gantry.pipeline": "image-build", "gantry.run": String(run.id) });

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
    const target = `${guarded.address}/${REPO}:auth`;
    expect(task(run, "image")).toMatchObject({ state: "successful", exitCode: 0 });
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
    expect((await guarded.get(`/v2/${REPO}/tags/list`)).status).toBe(401);
    const tags = (await (await guarded.get(`/v2/${REPO}/tags/list`, GOOD_LOGIN)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["auth"]);
  });

  it("refuse a tag naming an image Gantry did not build: the base image stays as it was", async () => {
    const before = await docker.getImage(BASE).inspect();
    const run = await runToEnd("image-take-base");
    const image = task(run, "image");
    expect(image.state).toBe("failed");
    expect(image.reason).toContain(`tag ${BASE} would replace an image Gantry did not build`);
    const after = await docker.getImage(BASE).inspect();
    expect(after.Id).toBe(before.Id);
    expect(after.Config.Labels?.["gantry.pipeline"]).toBeUndefined();
    // No name given at all, not even the free one.
    expect(await docker.getImage(`${REPO}:never-given`).inspect().catch(() => "absent")).toBe("absent");
  });

  it("refuse to push an image the pipeline did not build", async () => {
    const run = await runToEnd("image-push-base", { REGISTRY: open.address });
    const publish = task(run, "publish");
    expect(publish.state).toBe("failed");
    expect(publish.reason).toBe(
      `image ${BASE} was not built by this pipeline (default/image-push-base): Gantry did not build it; dockerPush pushes only images a dockerBuild task of the same pipeline made`,
    );
    expect(await docker.getImage(`${open.address}/${BASE}`).inspect().catch(() => "absent")).toBe("absent");
    expect((await open.get("/v2/local/busybox/tags/list")).status).toBe(404);
  });

  it("keep one pipeline's image from another: no retag, no push; the pipeline itself may build it again", async () => {
    const first = await runToEnd("image-owner-a");
    expect(task(first, "image")).toMatchObject({ state: "successful", exitCode: 0 });
    const built = await docker.getImage(`${REPO}:shared`).inspect();
    // Gantry's labels win over the Dockerfile's LABEL lines.
    expect(built.Config.Labels).toMatchObject({ "gantry.namespace": "default", "gantry.pipeline": "image-owner-a", "gantry.run": String(first.id) });

    const other = await runToEnd("image-owner-b", { REGISTRY: open.address });
    expect(task(other, "image").state).toBe("failed");
    expect(task(other, "image").reason).toBe(
      `tag ${REPO}:shared names an image built by pipeline default/image-owner-a; pipeline default/image-owner-b may not take it (choose another name)`,
    );
    expect(task(other, "publish").state).toBe("failed");
    expect(task(other, "publish").reason).toContain(`image ${REPO}:shared was not built by this pipeline (default/image-owner-b): it was built by pipeline default/image-owner-a`);
    expect((await docker.getImage(`${REPO}:shared`).inspect()).Id).toBe(built.Id);
    expect(await docker.getImage(`${open.address}/${REPO}:shared`).inspect().catch(() => "absent")).toBe("absent");

    // Its own pipeline replaces it.
    const again = await runToEnd("image-owner-a");
    expect(task(again, "image")).toMatchObject({ state: "successful", exitCode: 0 });
    const rebuilt = await docker.getImage(`${REPO}:shared`).inspect();
    expect(rebuilt.Id).not.toBe(built.Id);
    expect(rebuilt.Config.Labels?.["gantry.run"]).toBe(String(again.id));
    // The image it replaced, left without a name, is Gantry's to remove.
    await docker.getImage(built.Id).remove().catch(() => undefined);
  });

  it("refuse gantry.* labels: they name who built the image", () => {
    expect(() => dockerBuild({ context: ".", tags: ["app:1"], labels: { "gantry.pipeline": "other" } })).toThrow(`label "gantry.pipeline" may not be set`);
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

describe("the build context", () => {
  const drain = async (stream: AsyncIterable<Uint8Array>) => {
    let bytes = 0;
    for await (const chunk of stream) bytes += chunk.length;
    return bytes;
  };

  it("send nothing from outside when a folder is swapped for a symlink after it was listed", async () => {
    const workspace = tempDir("gantry-image-ctx-");
    const outside = tempDir("gantry-image-outside-");
    writeFile(join(workspace, "ctx", "Dockerfile"), `FROM ${BASE}\n`);
    writeFile(join(workspace, "ctx", "sub", "a.txt"), "inside\n");
    writeFile(join(outside, "a.txt"), "OUTSIDE");
    const context = await prepareBuildContext(workspace, "ctx");
    expect(context.files).toBe(2);
    expect(await drain(context.stream())).toBeGreaterThan(0);
    expect(context.problem()).toBeUndefined();

    rmSync(join(workspace, "ctx", "sub"), { recursive: true });
    symlinkSync(outside, join(workspace, "ctx", "sub"));
    const error = await drain(context.stream()).catch((thrown: Error) => thrown);
    expect(error).toBeInstanceOf(Error);
    expect(context.problem()).toBe("the build context leads out of the workspace: ctx/sub is a symlink; refusing to follow it");
    // Listed again, the link is a link: sent as one, its target never read.
    const again = await prepareBuildContext(workspace, "ctx");
    expect(again.files).toBe(1);
  });

  it("take only regular files: a named pipe as the Dockerfile is refused at once", async () => {
    const workspace = tempDir("gantry-image-ctx-");
    mkdirSync(join(workspace, "ctx"));
    expect(Bun.spawnSync(["mkfifo", join(workspace, "ctx", "Dockerfile")]).exitCode).toBe(0);
    const error = await prepareBuildContext(workspace, "ctx").catch((thrown: Error) => thrown);
    expect((error as Error).message).toBe("the build context could not be read: ctx/Dockerfile is not a regular file (it is a named pipe)");
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
    const launch: TaskLaunch = { namespace: "default", pipeline: "p", run: 1, task, attempt: 1, ref: "r", bundlePath: "", env: {}, workspace, log: maskingLogWriter(log) };
    return { launch, text: () => lines.map(([stream, text]) => `${stream} ${text}`).join("\n") };
  };

  it("build with the classic builder when asked, its steps and failure read the same way", async () => {
    const ok = buildLaunch(`FROM ${BASE}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt\n`, `${REPO}:classic`);
    expect(await executor("classic").start(ok.launch).exited).toEqual({ exitCode: 0 });
    // The classic builder sets labels as LABEL steps after the Dockerfile's: Gantry's three last.
    expect(ok.text()).toContain("out Step 3/6 : RUN cat /hello.txt");
    expect(ok.text()).toContain("out Step 6/6 : LABEL gantry.run=1");
    expect(ok.text()).toContain("classic builder");

    const broken = buildLaunch(`FROM ${BASE}\nRUN echo classic failure && exit 4\n`, `${REPO}:classic`);
    const exit = await executor("classic").start(broken.launch).exited;
    expect(exit.reason).toStartWith("image build failed at Step 2/5 : RUN echo classic failure && exit 4: ");
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

  it("check each tag again when the image is built: a name taken meanwhile is not replaced, the image is removed", async () => {
    // The nonce: a step BuildKit has cached would print nothing.
    const slow = buildLaunch(`FROM ${BASE}\nRUN echo ${NONCE} > /nonce.txt && echo started && sleep 2\n`, `${REPO}:raced`);
    const handle = executor().start(slow.launch);
    const deadline = Date.now() + 30_000;
    while (!/#\d+ started$/m.test(slow.text()) && Date.now() < deadline) await Bun.sleep(50);
    expect(slow.text()).toMatch(/#\d+ started$/m);
    // Free when the build started; given to an image Gantry did not build while it ran.
    await docker.getImage(BASE).tag({ repo: REPO, tag: "raced" });
    const exit = await handle.exited;
    expect(exit).toEqual({ exitCode: null, reason: `tag ${REPO}:raced would replace an image Gantry did not build (a pipeline may only give its images a name that is free or that names an image it built itself)` });
    expect((await docker.getImage(`${REPO}:raced`).inspect()).Id).toBe((await docker.getImage(BASE).inspect()).Id);
    const built = /built ([0-9a-f]{12}), but did not tag it/.exec(slow.text())?.[1];
    expect(built).toBeDefined();
    expect(await docker.getImage(built!).inspect().catch(() => "absent")).toBe("absent");
  });

  it("report a build lost after a restart: it cannot be followed again", async () => {
    const { launch } = buildLaunch(`FROM ${BASE}\n`, `${REPO}:classic`);
    expect(await executor().attach({ launch, stored: { out: 0, err: 0 } })).toEqual({
      status: "lost",
      reason: "the server restarted during the image build; a build cannot be followed again",
    });
  });
});
