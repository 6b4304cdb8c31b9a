// Container tasks as Swarm services (GANTRY_EXECUTOR=swarm) on a real one-node swarm, through
// the API of a real `gantry serve`: output and exit codes arrive, a run's tasks share its
// workspace, secrets are masked, a task no node can take waits visibly and fails at its
// timeout, node labels place a task, a missing image and an OOM kill are explained, a cancel
// removes the service, and a server killed with kill -9 re-attaches to its service. The engine
// is made a swarm manager for the test when it is not one, and put back as it was.
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
      "echo plain=$PLAIN; echo token=$TOKEN; echo run=$GANTRY_RUN_ID; grep CapEff /proc/self/status; echo pids=$(cat /sys/fs/cgroup/pids/pids.max) memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)",
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
let server: GantryProcess | undefined;
const api = (path: string, init?: RequestInit) => server!.api(path, init);

const nodeLabel = (args: string[]) => {
  const done = spawnSync("docker", ["node", "update", ...args, nodeId], { encoding: "utf8" });
  if (done.status !== 0) throw new Error(`docker node update failed: ${done.stderr}`);
};

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
};

beforeAll(async () => {
  const started = Date.now();
  swarm = await ensureSwarm(docker);
  nodeId = ((await docker.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
  nodeLabel(["--label-add", `${ZONE_LABEL}=here`]);
  const pipelinesDir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(pipelinesDir, name), source);
  server = await startGantryProcess({ pipelinesDir, env: ENV });
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
    // Cleaned up once its end is recorded.
    await waitFor(async () => (await servicesOf("sw-echo")).length === 0 || undefined, 10_000, "sw-echo's services to go");
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
    const running = await waitFor(async () => {
      const { runs } = (await (await api("/pipelines/default/sw-nowhere/runs")).json()) as { runs: RunJson[] };
      const gpu = runs[0]?.tasks.find((t) => t.id === "gpu");
      return gpu?.reason?.startsWith("waiting for a node") ? gpu : undefined;
    }, 10_000, "the task's reason to say it waits for a node");
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
    expect(task(run, "hog").reason).toMatch(/^(killed: |killed by SIGKILL \(exit code 137\), most likely )out of memory \(the memory limit of 16 MiB was reached/);
  });

  it("removes the service on cancel, and keeps secrets out of its labels", async () => {
    const { id } = await startRun(api, "default/sw-cancel");
    await waitForLog(api, "default/sw-cancel", id, "slow", /started/, 20_000);
    const [service] = await servicesOf("sw-cancel");
    const spec = ((await docker.getService(service!.ID).inspect()) as { Spec: { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Labels: Record<string, string> } } } }).Spec;
    expect(spec.Labels).toMatchObject({ "gantry.namespace": "default", "gantry.pipeline": "sw-cancel", "gantry.run": String(id), "gantry.task": "slow", "gantry.attempt": "1" });
    expect(JSON.stringify([spec.Labels, spec.TaskTemplate.ContainerSpec.Labels])).not.toContain(SECRET_VALUE);
    expect((await api(`/pipelines/default/sw-cancel/runs/${id}/cancel`, { method: "POST" })).status).toBeLessThan(300);
    const run = await waitForRun(api, "default/sw-cancel", id, 20_000);
    expect(run.state).toBe("cancelled");
    expect(task(run, "slow").state).toBe("cancelled");
    await waitFor(async () => (await servicesOf("sw-cancel")).length === 0 || undefined, 10_000, "sw-cancel's service to go");
  });

  it("re-attaches to its service after kill -9 and a restart, the log intact; the janitor removes what ended runs left", async () => {
    const { id } = await startRun(api, "default/sw-restart");
    await waitForLog(api, "default/sw-restart", id, "slow", /before/, 20_000);
    const { dataDir, pipelinesDir } = server!;
    await server!.kill9();
    // A service of this server (its instance label) whose run has ended, as a crash may leave one; and another server's.
    const instance = new Bun.CryptoHasher("sha256").update(`file:${join(dataDir, "gantry.db")}`).digest("hex").slice(0, 16);
    const leftover = (name: string, owner: string) =>
      docker.createService({
        Name: name,
        Labels: { "gantry.managed": "true", "gantry.instance": owner, "gantry.namespace": "default", "gantry.pipeline": "sw-exit", "gantry.run": "1", "gantry.task": "three" },
        TaskTemplate: { ContainerSpec: { Image: IMAGE, Args: ["sleep", "30"] } },
        Mode: { Replicated: { Replicas: 0 } },
      } as unknown as Docker.CreateServiceOptions);
    await leftover("sw-leftover-ours", instance);
    await leftover("sw-leftover-theirs", "another-server");
    server = await startGantryProcess({ dataDir, pipelinesDir, env: ENV });
    const names = (await servicesOf("sw-exit")).map((service) => service.Spec.Name);
    expect(names).toEqual(["sw-leftover-theirs"]);
    const run = await waitForRun(api, "default/sw-restart", id, 30_000);
    expect(run.state).toBe("successful");
    expect(task(run, "slow")).toMatchObject({ state: "successful", exitCode: 0, attempt: 1 });
    const log = await readLog(api, "default/sw-restart", id, "slow");
    expect(outputLines(log)).toEqual(["before", "after"]);
    expect(log).toContain("[gantry] re-attached after a server restart");
    await waitFor(async () => (await servicesOf("sw-restart")).length === 0 || undefined, 10_000, "sw-restart's service to go");
  });
});
