// Container tasks against the real Docker engine, end to end through the API of a real
// server: outcomes, logs, environment, workspace, limits, safe defaults and policy,
// cancel and timeout, clean-up (janitor) and a missing engine. Restarts: restart.test.ts.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { join } from "node:path";
import {
  outputLines,
  readLog,
  startRun,
  startTestGantry,
  waitFor,
  waitForRun,
  type RunJson,
  type TestGantry,
} from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

// Containers, servers and restarts need more than bun test's 5 s default.
setDefaultTimeout(60_000);

const IMAGE = "local/busybox:latest";
const docker = new Docker({ socketPath: "/var/run/docker.sock" });

const HEADER = `import { definePipeline, container, run } from "gantry";\n`;

/** A pipeline file with the given tasks (TypeScript source of the tasks object's body). */
const pipeline = (id: string, tasks: string, extra = "") =>
  `${HEADER}export default definePipeline({ id: ${JSON.stringify(id)}, ${extra} tasks: { ${tasks} } });\n`;

/** A container() task running `sh -c <script>` without a network. */
const sh = (script: string, options = "") =>
  `container({ image: ${JSON.stringify(IMAGE)}, command: ["sh", "-c", ${JSON.stringify(script)}], network: "none", ${options} })`;

/** Every pipeline id this file uses starts with this, so clean-up touches only ours. */
const PREFIX = "ct-";

/** Registry credentials (user:password) that are also a valid image name and tag. */
const PULL_SECRET = "robot:s3cretpw";

/** A host folder the admin allows tasks to mount. */
const mountDir = tempDir("gantry-mount-");
writeFile(join(mountDir, "hello.txt"), "hello from the host\n");

const PIPELINES: Record<string, string> = {
  "ct-echo.ts": pipeline("ct-echo", `say: ${sh("echo hello from a container")}`),
  "ct-kept.ts": pipeline("ct-kept", `inspect: ${sh("grep CapEff /proc/self/status", "keepContainer: true")}`),
  "ct-exit.ts": pipeline("ct-exit", `seven: ${sh("echo about to fail; exit 7")}`),
  "ct-streams.ts": pipeline(
    "ct-streams",
    `talk: ${sh("echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; sleep 0.1; echo err2 >&2; sleep 0.1; printf 'no newline at the end'")}`,
  ),
  "ct-many-lines.ts": pipeline("ct-many-lines", `count: ${sh("seq 1 20000; seq 1 500 >&2")}`),
  "ct-env.ts": pipeline(
    "ct-env",
    `show: ${sh("env; echo PWD_IS=$(pwd)", `env: { FROM_TASK: "task", TASK_WINS: "task" }`)}`,
    `variables: { FROM_PIPELINE: "pipeline", OVERRIDDEN: "pipeline", TASK_WINS: "pipeline" },`,
  ),
  "ct-reserved.ts": pipeline("ct-reserved", `t: ${sh("true", `env: { GANTRY_RUN_ID: "mine" }`)}`),
  "ct-timeout.ts": pipeline("ct-timeout", `slow: ${sh("echo sleeping; exec sleep 30", `timeout: "1s"`)}`),
  "ct-cancel.ts": pipeline(
    "ct-cancel",
    `slow: ${sh("echo sleeping; exec sleep 30")}, after: ${sh("echo never", `needs: { slow: "any" }`)}`,
  ),
  "ct-oom.ts": pipeline("ct-oom", `hog: ${sh("dd if=/dev/zero of=/dev/null bs=64M count=1", `memory: "16m"`)}`),
  "ct-137.ts": pipeline("ct-137", `killed: ${sh("exit 137", `memory: "32m"`)}`),
  "ct-handoff.ts": pipeline(
    "ct-handoff",
    `
    write: ${sh('echo "written by a container" > "$GANTRY_WORKSPACE/out.txt"')},
    read: run(async (ctx) => {
      ctx.log("bun read: " + (await Bun.file(\`\${ctx.workspace}/out.txt\`).text()).trim());
      await Bun.write(\`\${ctx.workspace}/in.txt\`, "written by a run() task\\n");
    }, { needs: { write: "success" } }),
    cat: ${sh('echo "container read: $(cat "$GANTRY_WORKSPACE/in.txt")"', `needs: { read: "success" }`)},
  `,
  ),
  "ct-missing-image.ts": pipeline(
    "ct-missing-image",
    `t: container({ image: "local/not-here:1.0", pull: "never", network: "none" })`,
  ),
  // The image's reference contains the pull secret's value, so every message about the
  // failed pull quotes it: the value must still never show.
  "ct-pull-secret.ts": `import { definePipeline, container, secret } from "gantry";
export default definePipeline({ id: "ct-pull-secret", tasks: {
  t: container({ image: ${JSON.stringify(`local/${PULL_SECRET}`)}, pull: "if-missing", pullSecret: secret("registry"), network: "none" }),
} });
`,
  "ct-bad-command.ts": pipeline(
    "ct-bad-command",
    `t: container({ image: ${JSON.stringify(IMAGE)}, command: ["nosuchcmd"], network: "none" })`,
  ),
  "ct-privileged.ts": pipeline("ct-privileged", `t: ${sh("true", "privileged: true")}`),
  "ct-socket.ts": pipeline(
    "ct-socket",
    `t: ${sh("true", `mounts: [{ source: "/var/run/docker.sock", target: "/var/run/docker.sock" }]`)}`,
  ),
  "ct-host-path.ts": pipeline("ct-host-path", `t: ${sh("true", `mounts: [{ source: "/etc", target: "/host-etc", readonly: true }]`)}`),
  "ct-mount.ts": pipeline(
    "ct-mount",
    `t: ${sh("cat /data/hello.txt", `mounts: [{ source: ${JSON.stringify(mountDir)}, target: "/data", readonly: true }]`)}`,
  ),
  "ct-cap-admin.ts": pipeline("ct-cap-admin", `t: ${sh("true", `capabilities: ["SYS_ADMIN"]`)}`),
  "ct-cap-chown.ts": pipeline("ct-cap-chown", `t: ${sh("grep CapEff /proc/self/status", `capabilities: ["CHOWN"]`)}`),
};

/** Pipelines that must not load; the rest must. */
const BROKEN = ["ct-reserved", "ct-privileged", "ct-socket", "ct-host-path", "ct-cap-admin"];

type ContainerInfo = Docker.ContainerInfo;

/** Gantry's containers (running or not) for one of our pipelines, optionally one run. */
async function containersOf(pipelineId: string, run?: number): Promise<ContainerInfo[]> {
  const label = ["gantry.managed=true", `gantry.pipeline=${pipelineId}`, ...(run !== undefined ? [`gantry.run=${run}`] : [])];
  return docker.listContainers({ all: true, filters: { label } });
}

/** Waits until a run's containers are all gone (removal may trail the run's end). */
const waitForNoContainers = (pipelineId: string, run: number) =>
  waitFor(async () => (await containersOf(pipelineId, run)).length === 0 || undefined, 10_000, `containers of ${pipelineId}#${run} to go`);

const task = (run: RunJson, id: string) => {
  const found = run.tasks.find((candidate) => candidate.id === id);
  if (!found) throw new Error(`run has no task ${id}`);
  return found;
};
const ms = (iso: string | null) => new Date(iso!).getTime();

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const extraServers: TestGantry[] = [];

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(dir, name), source);
  gantry = await startTestGantry({
    pipelinesDir: dir,
    env: { GANTRY_KILL_GRACE: "1s", GANTRY_PRUNE_KEEP_LAST: "0", GANTRY_CONTAINER_ALLOWED_MOUNTS: mountDir },
  });
  const { pipelines } = (await (await api("/pipelines")).json()) as { pipelines: { id: string; error?: unknown }[] };
  const wrong = pipelines.filter((p) => Boolean(p.error) !== BROKEN.includes(p.id));
  if (wrong.length) throw new Error(`unexpected load results: ${JSON.stringify(wrong)}`);
  expect(pipelines).toHaveLength(Object.keys(PIPELINES).length);
});

afterAll(async () => {
  await gantry?.stop();
  for (const server of extraServers) await server.stop();
  // Only if a test failed midway: remove the containers our pipelines left, and nobody else's.
  const left = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } });
  for (const info of left) {
    if (info.Labels["gantry.pipeline"]?.startsWith(PREFIX)) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
});

/** Starts a run of one of our pipelines and waits for its end. */
const runToEnd = async (id: string, variables?: Record<string, string>) =>
  waitForRun(api, `default/${id}`, (await startRun(api, `default/${id}`, variables)).id, 30_000);

describe("a container task", () => {
  it("succeeds, logs its output and leaves no container behind", async () => {
    const run = await runToEnd("ct-echo");
    expect(run.state).toBe("successful");
    expect(task(run, "say")).toMatchObject({ kind: "container", state: "successful", exitCode: 0, attempt: 1 });
    expect(outputLines(await readLog(api, "default/ct-echo", run.id, "say"))).toContain("hello from a container");
    await waitForNoContainers("ct-echo", run.id);
  });

  it("fails with the container's exit code", async () => {
    const run = await runToEnd("ct-exit");
    expect(run.state).toBe("failed");
    expect(run.reason).toBe("task seven failed");
    expect(task(run, "seven")).toMatchObject({ state: "failed", exitCode: 7, reason: "exited with code 7" });
    const log = await readLog(api, "default/ct-exit", run.id, "seven");
    expect(log).toContain("about to fail");
    expect(log).toContain("[gantry] failed: exited with code 7");
    await waitForNoContainers("ct-exit", run.id);
  });

  it("logs stdout and stderr interleaved in the order written, stderr marked [err]", async () => {
    const run = await runToEnd("ct-streams");
    expect(run.state).toBe("successful");
    expect(outputLines(await readLog(api, "default/ct-streams", run.id, "talk"))).toEqual([
      "out1",
      "[err] err1",
      "out2",
      "[err] err2",
      "no newline at the end",
    ]);
  });

  it("logs every line of a large output, in order", async () => {
    const run = await runToEnd("ct-many-lines");
    expect(run.state).toBe("successful");
    const lines = outputLines(await readLog(api, "default/ct-many-lines", run.id, "count"));
    const out = lines.filter((line) => !line.startsWith("[err] "));
    const err = lines.filter((line) => line.startsWith("[err] ")).map((line) => line.slice("[err] ".length));
    expect(out).toEqual(Array.from({ length: 20000 }, (_, i) => String(i + 1)));
    expect(err).toEqual(Array.from({ length: 500 }, (_, i) => String(i + 1)));
  });
});

describe("kept containers and the janitor", () => {
  it("labels its containers, runs them locked down, and prunes a kept one beyond keep-last", async () => {
    const run = await runToEnd("ct-kept");
    expect(run.state).toBe("successful");
    const log = await readLog(api, "default/ct-kept", run.id, "inspect");
    expect(log).toContain("[gantry] container kept for debugging");
    // CapDrop ALL: the process has no capability left at all, though it runs as root.
    expect(outputLines(log)).toContain("CapEff:\t0000000000000000");

    const [info, ...more] = await containersOf("ct-kept", run.id);
    expect(more).toHaveLength(0);
    expect(info!.State).toBe("exited");
    expect(info!.Labels).toMatchObject({
      "gantry.managed": "true",
      "gantry.namespace": "default",
      "gantry.pipeline": "ct-kept",
      "gantry.run": String(run.id),
      "gantry.task": "inspect",
      "gantry.attempt": "1",
    });
    // Which server owns it, so another server's janitor on the same engine leaves it alone.
    expect(info!.Labels["gantry.instance"]).toMatch(/^[0-9a-f]{16}$/);
    const inspected = await docker.getContainer(info!.Id).inspect();
    expect(inspected.HostConfig.Privileged).toBe(false);
    expect(inspected.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(inspected.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(inspected.HostConfig.NetworkMode).toBe("none");
    expect(inspected.Config.WorkingDir).toBe("/workspace");

    // GANTRY_PRUNE_KEEP_LAST=0: a kept container of a finished run is past the window.
    const pruned = await gantry.deps.janitor.prune();
    expect(pruned.dockerError).toBeUndefined();
    expect(pruned.containers).toBeGreaterThanOrEqual(1);
    expect(await containersOf("ct-kept", run.id)).toHaveLength(0);
  });
});

describe("two servers on one engine", () => {
  it("leaves the containers of another Gantry server alone", async () => {
    const { id } = await startRun(api, "default/ct-cancel");
    const running = await waitFor(
      async () => (await containersOf("ct-cancel", id)).find((info) => info.State === "running"),
      15_000,
      "the container to run",
    );
    // Another server on its own data, same Docker engine: its prunes (at start and on its
    // timer) must not take the first server's running task away.
    const other = await startTestGantry({ env: { GANTRY_PRUNE_KEEP_LAST: "0" } });
    extraServers.push(other);
    expect((await other.pruned).dockerError).toBeUndefined();
    await other.deps.janitor.prune();
    expect((await docker.getContainer(running.Id).inspect()).State.Running).toBe(true);
    const live = ((await (await api(`/pipelines/default/ct-cancel/runs/${id}`)).json()) as { run: RunJson }).run;
    expect(task(live, "slow").state).toBe("running");

    expect((await api(`/pipelines/default/ct-cancel/runs/${id}/cancel`, { method: "POST" })).status).toBe(202);
    expect((await waitForRun(api, "default/ct-cancel", id)).state).toBe("cancelled");
    await waitForNoContainers("ct-cancel", id);
  });
});

describe("environment", () => {
  it("passes pipeline, task and run variables and the system variables, in /workspace", async () => {
    const run = await runToEnd("ct-env", { OVERRIDDEN: "run", FROM_RUN: "run" });
    expect(run.state).toBe("successful");
    const lines = outputLines(await readLog(api, "default/ct-env", run.id, "show"));
    const env = Object.fromEntries(
      lines.filter((line) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(line)).map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    expect(env).toMatchObject({
      FROM_PIPELINE: "pipeline",
      FROM_TASK: "task",
      TASK_WINS: "task",
      OVERRIDDEN: "run",
      FROM_RUN: "run",
      GANTRY_NAMESPACE: "default",
      GANTRY_PIPELINE_ID: "ct-env",
      GANTRY_RUN_ID: String(run.id),
      GANTRY_TASK_ID: "show",
      GANTRY_API_URL: gantry.url,
      GANTRY_WORKSPACE: "/workspace",
      PWD_IS: "/workspace",
    });
    expect(env.GANTRY_API_TOKEN).toBeUndefined();
  });

  it("refuses to load a task env that sets a reserved GANTRY_ name", async () => {
    const response = await api("/pipelines/default/ct-reserved");
    expect(response.status).toBe(200);
    const { pipeline: body } = (await response.json()) as { pipeline: { version: number | null; error?: { issues: { path: string; message: string }[] } } };
    expect(body.version).toBeNull();
    expect(body.error!.issues).toContainEqual({ path: "tasks.t.env.GANTRY_RUN_ID", message: "GANTRY_* names are reserved" });
    const start = await api("/pipelines/default/ct-reserved/runs", { method: "POST", body: "{}" });
    expect(start.status).toBe(409);
  });
});

describe("stopping a container", () => {
  it("fails a task at its timeout, long before the command would end", async () => {
    const started = Date.now();
    const run = await runToEnd("ct-timeout");
    expect(run.state).toBe("failed");
    const slow = task(run, "slow");
    expect(slow).toMatchObject({ state: "failed", reason: "timed out after 1s" });
    // 1 s timeout + 1 s grace (sh's exec'd sleep is PID 1 and ignores SIGTERM), with room.
    expect(ms(slow.endedAt) - ms(slow.startedAt)).toBeLessThan(8_000);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await readLog(api, "default/ct-timeout", run.id, "slow")).toContain("sleeping");
    await waitForNoContainers("ct-timeout", run.id);
  });

  it("cancels a running container: run and task cancelled, container gone", async () => {
    const { id } = await startRun(api, "default/ct-cancel");
    await waitFor(
      async () => (await containersOf("ct-cancel", id)).some((info) => info.State === "running") || undefined,
      15_000,
      "the container to run",
    );
    const response = await api(`/pipelines/default/ct-cancel/runs/${id}/cancel`, { method: "POST" });
    expect(response.status).toBe(202);
    const cancelledAt = Date.now();
    const run = await waitForRun(api, "default/ct-cancel", id);
    expect(run.state).toBe("cancelled");
    expect(run.reason).toBe("cancelled by bootstrap");
    expect(task(run, "slow")).toMatchObject({ state: "cancelled", reason: "run cancelled" });
    expect(task(run, "after")).toMatchObject({ state: "cancelled", startedAt: null });
    expect(Date.now() - cancelledAt).toBeLessThan(8_000);
    await waitForNoContainers("ct-cancel", id);
  });

  it("cancels runs the moment they start, before or while their containers are created", async () => {
    const ids = await Promise.all([1, 2, 3].map(async () => (await startRun(api, "default/ct-cancel")).id));
    for (const id of ids) expect((await api(`/pipelines/default/ct-cancel/runs/${id}/cancel`, { method: "POST" })).status).toBe(202);
    for (const id of ids) {
      const run = await waitForRun(api, "default/ct-cancel", id);
      expect(run.state).toBe("cancelled");
      expect(task(run, "slow").state).toBe("cancelled");
      await waitForNoContainers("ct-cancel", id);
    }
  });
});

describe("limits", () => {
  it("explains a container killed for using more than its memory limit", async () => {
    const run = await runToEnd("ct-oom");
    expect(run.state).toBe("failed");
    const hog = task(run, "hog");
    expect(hog.state).toBe("failed");
    expect(hog.exitCode).toBe(137);
    // Docker records the OOM kill almost always; when it loses the event, the kill is still named.
    expect(hog.reason).toMatch(/^(killed: out of memory \(the memory limit of 16 MiB was reached\)|killed by SIGKILL \(exit code 137\), most likely out of memory \(its memory limit is 16 MiB\), or killed from outside Gantry)$/);
    await waitForNoContainers("ct-oom", run.id);
  });

  it("calls an exit of 137 with no OOM kill recorded a SIGKILL, most likely out of memory, after looking again", async () => {
    const run = await runToEnd("ct-137");
    const killed = task(run, "killed");
    expect(killed).toMatchObject({ state: "failed", exitCode: 137 });
    expect(killed.reason).toBe("killed by SIGKILL (exit code 137), most likely out of memory (its memory limit is 32 MiB), or killed from outside Gantry");
    // It looked for the engine's late OOM mark for a while first.
    expect(new Date(killed.endedAt!).getTime() - new Date(killed.startedAt!).getTime()).toBeGreaterThan(2_500);
  });
});

describe("workspace", () => {
  it("shares the run's workspace between container and run() tasks, both ways", async () => {
    const run = await runToEnd("ct-handoff");
    expect(run.state).toBe("successful");
    expect(await readLog(api, "default/ct-handoff", run.id, "read")).toContain("bun read: written by a container");
    expect(outputLines(await readLog(api, "default/ct-handoff", run.id, "cat"))).toContain("container read: written by a run() task");
  });
});

describe("failures before the command runs", () => {
  it("names a missing image and the pull policy that forbids fetching it", async () => {
    const run = await runToEnd("ct-missing-image");
    const t = task(run, "t");
    expect(t).toMatchObject({ state: "failed", exitCode: null });
    expect(t.reason).toContain("local/not-here:1.0");
    expect(t.reason).toContain('"never"');
    expect(await readLog(api, "default/ct-missing-image", run.id, "t")).toContain("local/not-here:1.0");
  });

  it("masks the pull secret's value in the failure and the log", async () => {
    const put = await api("/pipelines/default/ct-pull-secret/secrets/registry", { method: "PUT", body: JSON.stringify({ value: PULL_SECRET }) });
    expect(put.status).toBe(201);
    const run = await runToEnd("ct-pull-secret");
    const t = task(run, "t");
    expect(t).toMatchObject({ state: "failed", exitCode: null });
    expect(t.reason).toStartWith("could not pull image local/***");
    expect(t.reason).not.toContain(PULL_SECRET);
    const log = await readLog(api, "default/ct-pull-secret", run.id, "t");
    expect(log).toContain("[gantry] pulling image local/***");
    expect(log).not.toContain(PULL_SECRET);
  });

  it("refuses a fork's run its pull secret before pulling anything", async () => {
    // As the github extension starts a pull request from a fork.
    const started = await gantry.deps.orchestrator.startRun({ namespace: "default", id: "ct-pull-secret" }, { trigger: { kind: "test" }, noSecrets: true });
    const run = await waitForRun(api, "default/ct-pull-secret", started.id);
    expect(task(run, "t")).toMatchObject({ state: "failed", exitCode: null, reason: "secrets are withheld from runs triggered by pull requests from forks" });
    expect(await readLog(api, "default/ct-pull-secret", run.id, "t")).not.toContain("pulling image");
  });

  it("names a command that is not in the image", async () => {
    const run = await runToEnd("ct-bad-command");
    expect(task(run, "t")).toMatchObject({ state: "failed", reason: 'command "nosuchcmd" not found in the image' });
    await waitForNoContainers("ct-bad-command", run.id);
  });
});

describe("container policy", () => {
  const loadError = async (id: string) => {
    const response = await api(`/pipelines/default/${id}`);
    expect(response.status).toBe(200);
    const { pipeline: body } = (await response.json()) as {
      pipeline: { version: number | null; error?: { file: string; issues: { path: string; message: string }[] } };
    };
    expect(body.version).toBeNull();
    expect(body.error?.file).toEndWith(`${id}.ts`);
    return body.error!.issues;
  };

  it("refuses privileged containers", async () => {
    expect(await loadError("ct-privileged")).toContainEqual({ path: "tasks.t.privileged", message: "privileged containers are never allowed" });
  });

  it("refuses mounting the Docker socket or a host path that is not allowed", async () => {
    const [socket] = await loadError("ct-socket");
    expect(socket!.path).toBe("tasks.t.mounts.0.source");
    expect(socket!.message).toContain("mounting the Docker socket is not allowed");
    expect(socket!.message).toContain("container_allowed_mounts");
    const [hostPath] = await loadError("ct-host-path");
    expect(hostPath!.path).toBe("tasks.t.mounts.0.source");
    expect(hostPath!.message).toContain("mounting host path /etc is not allowed");
  });

  it("mounts a folder the admin allowed", async () => {
    const run = await runToEnd("ct-mount");
    expect(run.state).toBe("successful");
    expect(outputLines(await readLog(api, "default/ct-mount", run.id, "t"))).toContain("hello from the host");
  });

  it("refuses a capability beyond Docker's default set and grants a default one", async () => {
    const [issue] = await loadError("ct-cap-admin");
    expect(issue!.path).toBe("tasks.t.capabilities.0");
    expect(issue!.message).toContain("SYS_ADMIN");
    const run = await runToEnd("ct-cap-chown");
    expect(run.state).toBe("successful");
    // CAP_CHOWN is bit 0: the one capability kept.
    expect(outputLines(await readLog(api, "default/ct-cap-chown", run.id, "t"))).toContain("CapEff:\t0000000000000001");
  });
});

describe("health", () => {
  it("reports the Docker engine as ok when it answers", async () => {
    const response = await fetch(`${gantry.url}/api/v1/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; subsystems: { docker: { status: string; version?: string } } };
    expect(body.status).toBe("ok");
    expect(body.subsystems.docker.status).toBe("ok");
    expect(body.subsystems.docker.version).toMatch(/^\d+\./);
  });
});

describe("without a Docker engine", () => {
  it("starts, runs run() tasks, fails container tasks fast and says why", async () => {
    const dir = tempDir("gantry-pipelines-");
    writeFile(
      join(dir, "ct-nodocker.ts"),
      pipeline("ct-nodocker", `bun: run((ctx) => ctx.log("bun is fine")), box: ${sh("echo never")}`),
    );
    const socket = join(tempDir("gantry-nodocker-"), "docker.sock");
    const server = await startTestGantry({ pipelinesDir: dir, env: { GANTRY_DOCKER_HOST: `unix://${socket}` } });
    extraServers.push(server);
    const serverApi = (path: string, init?: RequestInit) => server.api(path, init);
    expect((await server.pruned).dockerError).toContain("unreachable");

    const loaded = (await (await serverApi("/pipelines/default/ct-nodocker")).json()) as { pipeline: { version: number | null; error?: unknown } };
    expect(loaded.pipeline.version).toBe(1);
    expect(loaded.pipeline.error).toBeUndefined();

    const run = await waitForRun(serverApi, "default/ct-nodocker", (await startRun(serverApi, "default/ct-nodocker")).id);
    expect(run.state).toBe("failed");
    expect(task(run, "bun")).toMatchObject({ state: "successful", exitCode: 0 });
    const box = task(run, "box");
    expect(box.state).toBe("failed");
    expect(box.reason).toContain("Docker engine unreachable");
    expect(box.reason).toContain(socket);
    expect(ms(box.endedAt) - ms(box.startedAt)).toBeLessThan(2_000);

    const health = await fetch(`${server.url}/api/v1/health`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; subsystems: { docker: { status: string; message?: string } } };
    expect(body.status).toBe("ok");
    expect(body.subsystems.docker.status).toBe("unavailable");
    expect(body.subsystems.docker.message).toContain("unreachable");
  });
});
