// Issue 11: containers ran with no memory, CPU or pids limit. Every container now gets the
// server's defaults (2 GiB, 2 CPUs, 1024 processes, GANTRY_CONTAINER_DEFAULT_*); a task's own
// memory/cpus/pids win, lower or higher up to the admin's maxima (GANTRY_CONTAINER_MAX_*),
// and above a maximum the pipeline does not load. Checked on the real engine's HostConfig.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { join } from "node:path";
import { outputLines, readLog, startRun, startTestGantry, waitForRun, type RunJson, type TestGantry } from "../helpers/gantry.ts";
import { tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(60_000);

const IMAGE = "local/busybox:latest";
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A kept container task running `script` without a network, with extra options. */
const pipeline = (id: string, script: string, options = "") => `
import { definePipeline, container } from "gantry";
export default definePipeline({ id: "${id}", tasks: {
  t: container({ image: "${IMAGE}", command: ["sh", "-c", ${JSON.stringify(script)}], network: "none", keepContainer: true, ${options} }),
} });
`;
// cgroup v1 and v2 keep the pids limit in different places.
const SHOW = "echo uid=$(id -u); echo pids.max=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)";
const PIPELINES = {
  "lim-default.ts": pipeline("lim-default", SHOW),
  "lim-lower.ts": pipeline("lim-lower", SHOW, `cpus: 0.5, pids: 50`),
  "lim-higher.ts": pipeline("lim-higher", SHOW, `memory: "4g", pids: 2048`),
  "lim-over.ts": pipeline("lim-over", SHOW, `memory: "9g", cpus: 5, pids: 5000`),
  "lim-user.ts": pipeline("lim-user", SHOW, `user: "65534:65534"`),
  // Far more processes than the default allows, each living long enough to count.
  "lim-forkbomb.ts": pipeline("lim-forkbomb", "for i in $(seq 2000); do sleep 3 & done; echo all 2000 started"),
};

const servers: TestGantry[] = [];
let gantry: TestGantry;
let engineCpus: number;

async function serve(env: Record<string, string> = {}): Promise<TestGantry> {
  const pipelinesDir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(pipelinesDir, name), source);
  const server = await startTestGantry({ pipelinesDir, env });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  engineCpus = ((await docker.info()) as { NCPU: number }).NCPU;
  gantry = await serve();
});

afterAll(async () => {
  for (const server of servers) await server.stop();
  const kept = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } });
  await Promise.all(kept.filter((info) => info.Labels["gantry.pipeline"]?.startsWith("lim-")).map((info) => docker.getContainer(info.Id).remove({ force: true })));
});

/** Runs a pipeline to its end; returns the run, its output lines and its container's HostConfig. */
async function runAndInspect(server: TestGantry, id: string): Promise<{ run: RunJson; lines: string[]; host: Docker.HostConfig }> {
  const run = await waitForRun(server.api, `default/${id}`, (await startRun(server.api, `default/${id}`)).id);
  const lines = outputLines(await readLog(server.api, `default/${id}`, run.id, "t"));
  const [info] = await docker.listContainers({ all: true, filters: { label: [`gantry.pipeline=${id}`, `gantry.run=${run.id}`] } });
  if (!info) throw new Error(`no kept container for ${id}#${run.id}`);
  const host = (await docker.getContainer(info.Id).inspect()).HostConfig;
  return { run, lines, host };
}

async function loadError(server: TestGantry, id: string): Promise<{ path: string; message: string }[]> {
  const { pipeline } = (await (await server.api(`/pipelines/default/${id}`)).json()) as {
    pipeline: { version: number | null; error?: { issues: { path: string; message: string }[] } };
  };
  expect(pipeline.version).toBeNull();
  return pipeline.error!.issues;
}

describe("container limits by default", () => {
  it("gives a task that sets nothing 2 GiB, 2 CPUs (at most the engine's) and 1024 processes", async () => {
    const { run, lines, host } = await runAndInspect(gantry, "lim-default");
    expect(run.state).toBe("successful");
    expect(host.Memory).toBe(2 * GiB);
    expect(host.MemorySwap).toBe(2 * GiB);
    expect(host.NanoCpus).toBe(Math.min(2, engineCpus) * 1e9);
    expect(host.PidsLimit).toBe(1024);
    // Visible from inside, too; the user stays the image's own (root in busybox) unless the task names one.
    expect(lines).toContain("pids.max=1024");
    expect(lines).toContain("uid=0");
    const named = await runAndInspect(gantry, "lim-user");
    expect(named.lines).toContain("uid=65534");
    expect(named.host.PidsLimit).toBe(1024);
  });

  it("stops a fork bomb at the default pids limit", async () => {
    const { run, lines, host } = await runAndInspect(gantry, "lim-forkbomb");
    expect(host.PidsLimit).toBe(1024);
    expect(run.state).toBe("failed");
    expect(lines.join("\n")).toContain("can't fork");
    expect(lines).not.toContain("all 2000 started");
  });
});

describe("a task's own limits", () => {
  it("wins when lower than the defaults, which still apply to what it does not set", async () => {
    const { run, lines, host } = await runAndInspect(gantry, "lim-lower");
    expect(run.state).toBe("successful");
    expect(host.NanoCpus).toBe(0.5e9);
    expect(host.PidsLimit).toBe(50);
    expect(lines).toContain("pids.max=50");
    expect(host.Memory).toBe(2 * GiB);
  });

  it("wins when higher, up to the maxima", async () => {
    const { run, host } = await runAndInspect(gantry, "lim-higher");
    expect(run.state).toBe("successful");
    expect(host.Memory).toBe(4 * GiB);
    expect(host.PidsLimit).toBe(2048);
    expect(host.NanoCpus).toBe(Math.min(2, engineCpus) * 1e9);
  });

  it("above a maximum is a load error naming each setting", async () => {
    const issues = await loadError(gantry, "lim-over");
    expect(issues.map((issue) => issue.path)).toEqual(["tasks.t.memory", "tasks.t.cpus", "tasks.t.pids"]);
    expect(issues[0]!.message).toContain("GANTRY_CONTAINER_MAX_MEMORY");
    expect(issues[1]!.message).toContain("GANTRY_CONTAINER_MAX_CPUS");
    expect(issues[2]!.message).toContain("GANTRY_CONTAINER_MAX_PIDS");
  });
});

describe("an admin's own defaults and maxima", () => {
  it("applies GANTRY_CONTAINER_DEFAULT_* and refuses what passes GANTRY_CONTAINER_MAX_*", async () => {
    const server = await serve({ GANTRY_CONTAINER_DEFAULT_MEMORY: "256m", GANTRY_CONTAINER_DEFAULT_CPUS: "0.25", GANTRY_CONTAINER_DEFAULT_PIDS: "64", GANTRY_CONTAINER_MAX_MEMORY: "1g" });
    const { host, lines } = await runAndInspect(server, "lim-default");
    expect(host.Memory).toBe(256 * MiB);
    expect(host.NanoCpus).toBe(0.25e9);
    expect(host.PidsLimit).toBe(64);
    expect(lines).toContain("pids.max=64");
    expect((await loadError(server, "lim-higher"))[0]).toEqual({ path: "tasks.t.memory", message: expect.stringContaining("over the maximum of 1 GiB") });
  });
});
