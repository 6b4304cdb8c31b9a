// Container tasks as Swarm services (GANTRY_EXECUTOR=swarm) on a real one-node swarm, through
// the API of a real `gantry serve`: output and exit codes arrive, a run's tasks share its
// workspace, secrets are masked (and only in the service's environment), a task no node can
// take waits visibly and fails at its timeout, node labels place a task, a missing image and
// an OOM kill are explained, a cancel removes the service, a server killed with kill -9
// re-attaches to its service, the janitor removes this installation's leftovers only, and an
// engine older than Docker 25 is warned about. The engine is made a swarm manager for the
// test when it is not one, and put back as it was. (What a one-node swarm cannot show, a task
// on another node, a manager that stops answering, is swarm-job.test.ts's, against a scripted engine.)
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import { Database } from "bun:sqlite";
import Docker from "dockerode";
import { join } from "node:path";
import {
  outputLines,
  readLog,
  startGantryProcess,
  startRun,
  waitFor,
  waitForLog,
  waitForRun,
  type GantryProcess,
  type RunJson,
} from "./helpers/gantry.ts";
import { ensureSwarm, type TestSwarm } from "./helpers/swarm.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const IMAGE = "local/busybox:latest";
/** Every pipeline id of this file starts with it, so clean-up touches only ours. */
const PREFIX = "sw-";
/** The node label the placement test puts on this engine's node (and removes after). */
const ZONE_LABEL = "gantry-test-zone";
const SECRET_VALUE = `swarm-secret-${crypto.randomUUID().slice(0, 8)}`;

const HEADER = `import { definePipeline, container, secret } from "gantry";\n`;
const pipeline = (id: string, tasks: string, extra = "") => `${HEADER}export default definePipeline({ id: ${JSON.stringify(id)}, ${extra} tasks: { ${tasks} } });\n`;
/** A container() task running `sh -c <script>` (no network option: services get the node's default bridge). */
const sh = (script: string, options = "") => `container({ image: ${JSON.stringify(IMAGE)}, command: ["sh", "-c", ${JSON.stringify(script)}], ${options} })`;

const PIPELINES: Record<string, string> = {
  "sw-echo.ts": pipeline(
    "sw-echo",
    `write: ${sh('echo hello from a service; echo to stderr >&2; echo shared > "$GANTRY_WORKSPACE/note.txt"')},
     read: ${sh('echo "read: $(cat "$GANTRY_WORKSPACE/note.txt")"', `needs: { write: "success" }`)}`,
  ),
  "sw-exit.ts": pipeline("sw-exit", `three: ${sh("echo about to fail; exit 3")}`),
  "sw-env.ts": pipeline(
    "sw-env",
    `show: ${sh(
      // cgroup v2 paths first, then v1's.
      "echo plain=$PLAIN; echo token=$TOKEN; echo run=$GANTRY_RUN_ID; grep CapEff /proc/self/status; echo pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max) memory=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)",
      `env: { PLAIN: "plain-value", TOKEN: secret("sw_token") }, capabilities: ["CHOWN"], memory: "64m", pids: 64`,
    )}`,
  ),
  "sw-nowhere.ts": pipeline("sw-nowhere", `gpu: ${sh("echo never", `runsOn: { labels: { "gantry-test-gpu": "none-such" } }, timeout: "3s"`)}`),
  // The pipeline asks for a zone no node has; the task's own label wins.
  "sw-labelled.ts": pipeline("sw-labelled", `placed: ${sh("echo placed by its label", `runsOn: { labels: { "${ZONE_LABEL}": "here" } }`)}`, `runsOn: { labels: { "${ZONE_LABEL}": "elsewhere" } },`),
  "sw-missing.ts": pipeline("sw-missing", `t: container({ image: "local/not-here:1", command: ["true"] })`),
  "sw-oom.ts": pipeline("sw-oom", `hog: ${sh("dd if=/dev/zero of=/dev/null bs=64M count=1", `memory: "16m"`)}`),
  "sw-cancel.ts": pipeline("sw-cancel", `slow: ${sh("echo started; exec sleep 30", `env: { TOKEN: secret("sw_token") }`)}`),
  "sw-restart.ts": pipeline("sw-restart", `slow: ${sh("echo before; sleep 4; echo after")}`),
};

const ENV = { GANTRY_EXECUTOR: "swarm", GANTRY_KILL_GRACE: "2s", GANTRY_TIMEOUT_GRACE: "1s" };

let swarm: TestSwarm | undefined;
let nodeId = "";
/** This installation's instance id (its database's): the gantry.instance label of its containers and services. */
let instance = "";
let server: GantryProcess | undefined;
const api = (path: string, init?: RequestInit) => server!.api(path, init);

const nodeLabel = (args: string[]) => {
  const done = spawnSync("docker", ["node", "update", ...args, nodeId], { encoding: "utf8" });
  if (done.status !== 0) throw new Error(`docker node update failed: ${done.stderr}`);
};

const ourLabels = (owner: string, labels: Record<string, string>) => ({ "gantry.managed": "true", "gantry.instance": owner, "gantry.namespace": "default", "gantry.task": "three", ...labels });

/** The instance id the server made in its database at first start. */
function instanceOf(dataDir: string): string {
  const db = new Database(join(dataDir, "gantry.db"), { readonly: true });
  try {
    return (db.query("select instance_id from system_state where id = 1").get() as { instance_id: string }).instance_id;
  } finally {
    db.close();
  }
}

/** Our task containers (running or not) of one pipeline, or of one service. */
const containersOf = async (pipelineId: string, service?: string) =>
  (await docker.listContainers({
    all: true,
    filters: { label: ["gantry.managed=true", `gantry.pipeline=${pipelineId}`, ...(service ? [`com.docker.swarm.service.name=${service}`] : [])] },
  })) as { Id: string; State: string }[];

/** Our services (running or not), optionally of one pipeline. */
async function servicesOf(pipelineId?: string): Promise<{ ID: string; Spec: { Name: string; Labels: Record<string, string> } }[]> {
  const services = (await docker.listServices({ filters: { label: ["gantry.managed=true"] } })) as { ID: string; Spec: { Name: string; Labels: Record<string, string> } }[];
  return services.filter((service) => (pipelineId ? service.Spec.Labels["gantry.pipeline"] === pipelineId : service.Spec.Labels["gantry.pipeline"]?.startsWith(PREFIX)));
}

const task = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)!;

/** Runs started at once, each test waits for its own: the file stays short. */
const early = new Map<string, Promise<RunJson>>();
const startEarly = async (id: string) => {
  const { id: run } = await startRun(api, `default/${id}`);
  early.set(id, waitForRun(api, `default/${id}`, run, 40_000));
  if (id === "sw-nowhere") {
    // Watched from its start: its timeout (3 s) may be over before the tests before its own are.
    seenWaiting = waitFor(async () => {
      const { run: current } = (await (await api(`/pipelines/default/sw-nowhere/runs/${run}`)).json()) as { run: RunJson };
      const gpu = current.tasks.find((t) => t.id === "gpu");
      return gpu?.reason?.startsWith("waiting for a node") ? gpu : undefined;
    }, 10_000, "the task's reason to say it waits for a node");
    seenWaiting.catch(() => undefined);
  }
};
/** sw-nowhere's task as seen while it waited for a node. */
let seenWaiting: Promise<RunJson["tasks"][number]>;

beforeAll(async () => {
  const started = Date.now();
  swarm = await ensureSwarm(docker);
  nodeId = ((await docker.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
  nodeLabel(["--label-add", `${ZONE_LABEL}=here`]);
  const pipelinesDir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(pipelinesDir, name), source);
  server = await startGantryProcess({ pipelinesDir, env: ENV });
  instance = instanceOf(server.dataDir);
  const put = await api("/secrets/sw_token", { method: "PUT", body: JSON.stringify({ value: SECRET_VALUE }) });
  expect([200, 201]).toContain(put.status);
  const { pipelines } = (await (await api("/pipelines")).json()) as { pipelines: { id: string; error?: unknown }[] };
  expect(pipelines.filter((p) => p.error)).toEqual([]);
  for (const id of ["sw-echo", "sw-exit", "sw-env", "sw-nowhere", "sw-labelled", "sw-missing", "sw-oom"]) await startEarly(id);
  console.log(`swarm, server and first runs started in ${Date.now() - started} ms`);
});

afterAll(async () => {
  await server?.stop();
  // Only after a failure midway: our services go (their containers with them), nobody else's.
  for (const service of await servicesOf().catch(() => [])) await docker.getService(service.ID).remove().catch(() => undefined);
  await docker.getService("sw-leftover-done").remove().catch(() => undefined);
  await waitFor(async () => (await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } })).every((info) => !info.Labels["gantry.pipeline"]?.startsWith(PREFIX)) || undefined, 20_000, "our task containers to go").catch(() => undefined);
  if (nodeId) spawnSync("docker", ["node", "update", "--label-rm", ZONE_LABEL, nodeId]);
  await swarm?.restore();
});

describe("the swarm executor", () => {
  it("runs a container task as a service: its output and exit code arrive, and the run's next task shares its workspace", async () => {
    const run = await early.get("sw-echo")!;
    expect(run.state).toBe("successful");
    expect(task(run, "write")).toMatchObject({ kind: "container", state: "successful", exitCode: 0, attempt: 1 });
    const log = await readLog(api, "default/sw-echo", run.id, "write");
    // Each stream keeps its order; lines written to both in the same instant may swap (as in `docker logs`).
    expect(outputLines(log).sort()).toEqual(["[err] to stderr", "hello from a service"]);
    expect(log).toMatch(/\[gantry\] running on node /);
    expect(outputLines(await readLog(api, "default/sw-echo", run.id, "read"))).toEqual(["read: shared"]);
    // The node that took its first task is stored with the run: its later tasks were pinned to it.
    const db = new Database(join(server!.dataDir, "gantry.db"), { readonly: true });
    try {
      expect(db.query("select placement_node from runs where pipeline_id = 'sw-echo'").get()).toEqual({ placement_node: nodeId });
    } finally {
      db.close();
    }
    // Cleaned up once its end is recorded, the task containers Swarm would leave for minutes with them.
    await waitFor(async () => (await servicesOf("sw-echo")).length === 0 || undefined, 10_000, "sw-echo's services to go");
    await waitFor(async () => (await containersOf("sw-echo")).length === 0 || undefined, 3_000, "sw-echo's task containers to go");
  });

  it("warns that services run without no-new-privileges on an engine older than Docker 25, at start and in /health", async () => {
    const api = ((await docker.version()) as { ApiVersion: string }).ApiVersion;
    const old = Number(api.split(".")[1]) < 44;
    const health = (await (await fetch(`${server!.url}/api/v1/health`)).json()) as { subsystems: { swarm?: { status: string; message?: string; node?: string } } };
    if (old) {
      expect(health.subsystems.swarm).toMatchObject({ status: "degraded", node: nodeId, message: expect.stringContaining(`no-new-privileges is NOT enforced on swarm services: it needs Engine API 1.44 (Docker 25) on the manager and every node, and the manager speaks Engine API ${api}`) });
      await waitFor(() => server!.output().includes("WARNING: no-new-privileges is NOT enforced on swarm services") || undefined, 5_000, "the start-up warning");
    } else {
      expect(health.subsystems.swarm).toMatchObject({ status: "ok", node: nodeId });
    }
  });

  it("fails with the task's exit code", async () => {
    const run = await early.get("sw-exit")!;
    expect(run.state).toBe("failed");
    expect(task(run, "three")).toMatchObject({ state: "failed", exitCode: 3, reason: "exited with code 3" });
    expect(await readLog(api, "default/sw-exit", run.id, "three")).toContain("about to fail");
  });

  it("gives the task its environment, a secret masked in the log, and a container's capabilities and limits", async () => {
    const run = await early.get("sw-env")!;
    expect(run.state).toBe("successful");
    const log = await readLog(api, "default/sw-env", run.id, "show");
    // Every capability dropped but CHOWN (bit 0); the task's pids and memory limits.
    expect(outputLines(log)).toEqual(["plain=plain-value", "token=***", `run=${run.id}`, "CapEff:\t0000000000000001", `pids=64 memory=${64 * 1024 * 1024}`]);
    expect(log).not.toContain(SECRET_VALUE);
  });

  it("keeps a task no node can take waiting, saying why, and fails it at its timeout naming the wait", async () => {
    const running = await seenWaiting;
    expect(running.state).toBe("running");
    expect(running.reason).toContain("no node matches gantry-test-gpu=none-such");
    expect(running.reason).toContain("(swarm: no suitable node");
    const run = await early.get("sw-nowhere")!;
    expect(run.state).toBe("failed");
    expect(task(run, "gpu").reason).toStartWith("timed out after 3s, still waiting for a node: no node matches gantry-test-gpu=none-such");
    const log = await readLog(api, "default/sw-nowhere", run.id, "gpu");
    expect(log).toContain("[gantry] waiting for a node: no node matches gantry-test-gpu=none-such");
    expect(outputLines(log)).toEqual([]);
    await waitFor(async () => (await servicesOf("sw-nowhere")).length === 0 || undefined, 10_000, "sw-nowhere's service to go");
  });

  it("places a task on a node with its labels, the task's own winning over its pipeline's", async () => {
    const run = await early.get("sw-labelled")!;
    expect(run.state).toBe("successful");
    expect(outputLines(await readLog(api, "default/sw-labelled", run.id, "placed"))).toEqual(["placed by its label"]);
  });

  it("explains an image the node does not have", async () => {
    const run = await early.get("sw-missing")!;
    expect(run.state).toBe("failed");
    expect(task(run, "t").reason).toStartWith("image local/not-here:1 is not present on node ");
  });

  it("explains a task killed for memory", async () => {
    const run = await early.get("sw-oom")!;
    expect(run.state).toBe("failed");
    // The engine does not always see an OOM kill of a process that dies at once: then it is "most likely" one.
    expect(task(run, "hog").reason).toMatch(/^(killed: out of memory \(the memory limit of 16 MiB was reached\)|killed by SIGKILL \(exit code 137\), most likely out of memory \(its memory limit is 16 MiB\), or killed from outside Gantry)$/);
  });

  it("removes the service on cancel; a secret is in the service's environment, in no label of it or its container", async () => {
    const { id } = await startRun(api, "default/sw-cancel");
    await waitForLog(api, "default/sw-cancel", id, "slow", /started/, 20_000);
    const [service] = await servicesOf("sw-cancel");
    type Spec = { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Labels: Record<string, string>; Env: string[] } } };
    const spec = ((await docker.getService(service!.ID).inspect()) as { Spec: Spec }).Spec;
    expect(spec.Labels).toMatchObject({ "gantry.namespace": "default", "gantry.pipeline": "sw-cancel", "gantry.run": String(id), "gantry.task": "slow", "gantry.attempt": "1" });
    // What `docker service inspect` shows a manager's users (docs/scale-out.md, "Where secrets go").
    expect(spec.TaskTemplate.ContainerSpec.Env).toContain(`TOKEN=${SECRET_VALUE}`);
    const [container] = await containersOf("sw-cancel");
    const containerLabels = (await docker.getContainer(container!.Id).inspect()).Config.Labels;
    expect(containerLabels).toMatchObject({ "gantry.pipeline": "sw-cancel", "gantry.task": "slow" });
    for (const labels of [spec.Labels, spec.TaskTemplate.ContainerSpec.Labels, containerLabels]) {
      expect(JSON.stringify(labels)).not.toContain(SECRET_VALUE);
    }
    expect((await api(`/pipelines/default/sw-cancel/runs/${id}/cancel`, { method: "POST" })).status).toBeLessThan(300);
    const run = await waitForRun(api, "default/sw-cancel", id, 20_000);
    expect(run.state).toBe("cancelled");
    expect(task(run, "slow").state).toBe("cancelled");
    await waitFor(async () => (await servicesOf("sw-cancel")).length === 0 || undefined, 10_000, "sw-cancel's service to go");
  });

  it("re-attaches to its service after kill -9 and a restart, the log intact; the janitor removes what ended runs and gone services left", async () => {
    const { id } = await startRun(api, "default/sw-restart");
    await waitForLog(api, "default/sw-restart", id, "slow", /before/, 20_000);
    // A finished job of ours in this (unfinished) run whose service is gone: its exited
    // container stays behind (on this engine for good: the removed job's task is never deleted).
    const doneLabels = ourLabels(instance, { "gantry.pipeline": "sw-restart", "gantry.run": String(id), "gantry.task": "done" });
    await docker.createService({
      Name: "sw-leftover-done",
      Labels: doneLabels,
      TaskTemplate: { ContainerSpec: { Image: IMAGE, Command: ["true"], Labels: doneLabels }, RestartPolicy: { Condition: "none" } },
      Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
    } as unknown as Docker.CreateServiceOptions);
    await waitFor(async () => (await containersOf("sw-restart", "sw-leftover-done")).some((info) => info.State === "exited") || undefined, 10_000, "the job to finish");
    await docker.getService("sw-leftover-done").remove();
    const { dataDir, pipelinesDir } = server!;
    await server!.kill9();
    // Services of this installation (its instance label) whose run has ended, as a crash may
    // leave them: one stopped, one kept for debugging but still running (an orphan); and
    // another installation's. Run 1 of sw-exit ended in an earlier test.
    const leftover = (name: string, owner: string, replicas: number, keep = false) =>
      docker.createService({
        Name: name,
        Labels: ourLabels(owner, { "gantry.pipeline": "sw-exit", "gantry.run": "1", "gantry.keep": String(keep) }),
        TaskTemplate: { ContainerSpec: { Image: IMAGE, Args: ["sleep", "30"] } },
        Mode: { Replicated: { Replicas: replicas } },
      } as unknown as Docker.CreateServiceOptions);
    await leftover("sw-leftover-ours", instance, 0);
    await leftover("sw-leftover-kept-running", instance, 1, true);
    await leftover("sw-leftover-theirs", "another-installation", 0);
    expect((await containersOf("sw-restart", "sw-leftover-done")).map((info) => info.State)).toEqual(["exited"]);
    server = await startGantryProcess({ dataDir, pipelinesDir, env: ENV });
    // The start-up prune removes ours; the other installation's stays.
    await waitFor(async () => (await servicesOf("sw-exit")).every((service) => service.Spec.Name === "sw-leftover-theirs") || undefined, 10_000, "our leftover services to go");
    expect((await servicesOf("sw-exit")).map((service) => service.Spec.Name)).toEqual(["sw-leftover-theirs"]);
    await waitFor(async () => (await containersOf("sw-restart", "sw-leftover-done")).length === 0 || undefined, 10_000, "the gone job's exited container to go");
    const run = await waitForRun(api, "default/sw-restart", id, 30_000);
    expect(run.state).toBe("successful");
    expect(task(run, "slow")).toMatchObject({ state: "successful", exitCode: 0, attempt: 1 });
    const log = await readLog(api, "default/sw-restart", id, "slow");
    expect(outputLines(log)).toEqual(["before", "after"]);
    expect(log).toContain("[gantry] re-attached after a server restart");
    await waitFor(async () => (await servicesOf("sw-restart")).length === 0 || undefined, 10_000, "sw-restart's service to go");
  });
});
