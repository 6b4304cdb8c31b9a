// The Docker client loaded on demand: its idle-time calls answer over fetch as dockerode
// would (values, statuses, unreachable engines), everything else reaches dockerode, and a
// process that only makes those calls never loads it. Against the real engine.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { createDockerClient, isUnreachable } from "./docker-client.ts";

setDefaultTimeout(60_000);

const IMAGE = "local/busybox:latest";
const LABEL = `gantry.test.on-demand=${process.pid}`;
const { docker } = createDockerClient();
const made: string[] = [];
afterAll(async () => {
  for (const id of made) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
});

describe("the Docker client on demand", () => {
  it("answers the idle-time calls over fetch as dockerode does, and hands the rest to dockerode", async () => {
    const version = (await docker.version()) as { Version?: string; ApiVersion?: string };
    expect(version.Version).toBeString();
    // Not one of those calls: dockerode creates it.
    const container = await docker.createContainer({ Image: IMAGE, Cmd: ["sleep", "30"], Labels: { "gantry.test.on-demand": String(process.pid) } });
    made.push(container.id);
    const listed = await docker.listContainers({ all: true, filters: { label: [LABEL] } });
    expect(listed.map((info) => info.Id)).toEqual([container.id]);
    expect(await docker.listContainers({ filters: { label: [LABEL] } })).toEqual([]);
    await docker.getContainer(container.id).remove({ force: true, v: true });
    expect(await docker.listContainers({ all: true, filters: { label: [LABEL] } })).toEqual([]);
    // A second removal fails as dockerode's does: the status and the engine's message.
    const missing = await docker.getContainer(container.id).remove({ force: true }).catch((error: unknown) => error as { statusCode?: number; json?: { message?: string } });
    expect(missing).toMatchObject({ statusCode: 404 });
    expect((missing as { json?: { message?: string } }).json?.message).toContain("No such container");
    // The same object reaches dockerode's other calls.
    expect(((await docker.getImage(IMAGE).inspect()) as { RepoTags?: string[] }).RepoTags).toContain(IMAGE);
  });

  it("fails on an engine that is not there with the codes the server reads as unreachable", async () => {
    const nowhere = createDockerClient("unix:///nonexistent/gantry-test/docker.sock").docker;
    const socket = await nowhere.version().catch((error: unknown) => error);
    expect(isUnreachable(socket)).toBe(true);
    const refused = await createDockerClient("tcp://127.0.0.1:9").docker.listContainers({ all: true }).catch((error: unknown) => error);
    expect(isUnreachable(refused)).toBe(true);
  });

  it("never loads dockerode in a process that only checks the engine and lists and removes containers", async () => {
    const script = `import { createDockerClient } from ${JSON.stringify(join(import.meta.dir, "docker-client.ts"))};
const { docker } = createDockerClient();
await docker.version();
await docker.listContainers({ all: true, filters: { label: ["gantry.managed=nobody"] } });
await docker.getContainer("gantry-no-such-container").remove({ force: true }).catch(() => undefined);
const loaded = () => Object.keys(require.cache).some((path) => path.includes("/dockerode/"));
console.log("before " + loaded());
await docker.getImage(${JSON.stringify(IMAGE)}).inspect();
console.log("after " + loaded());
`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    expect(await child.exited).toBe(0);
    expect({ out: out.trim(), err }).toEqual({ out: "before false\nafter true", err: "" });
  });
});
