// Issue 11 (high): a container task with network: "host" reached the API on 127.0.0.1. Host
// networking, and any network but bridge, none and the server's own GANTRY_CONTAINER_NETWORK,
// now needs the admin's allowlist (GANTRY_CONTAINER_ALLOWED_NETWORKS); without it the
// pipeline does not load, and the error names the setting.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { readLog, startRun, startTestGantry, waitForRun, type TestGantry } from "../helpers/gantry.ts";
import { tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(60_000);

const IMAGE = "local/busybox:latest";
/** A container task that asks the API for its health over the task's network. */
const calling = (id: string, network?: string) => `
import { definePipeline, container } from "gantry";
export default definePipeline({ id: "${id}", tasks: {
  call: container({ image: "${IMAGE}", command: ["sh", "-c", 'busybox wget -q -O - "$GANTRY_API_URL/api/v1/health"'], ${network ? `network: "${network}",` : ""} }),
} });
`;
const PIPELINES = {
  "net-host.ts": calling("net-host", "host"),
  "net-named.ts": calling("net-named", "backend"),
  "net-none.ts": calling("net-none", "none"),
  "net-bridge.ts": calling("net-bridge", "bridge"),
  "net-default.ts": calling("net-default"),
};

const servers: TestGantry[] = [];
async function serve(env: Record<string, string> = {}): Promise<TestGantry> {
  const pipelinesDir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(pipelinesDir, name), source);
  const gantry = await startTestGantry({ pipelinesDir, env });
  servers.push(gantry);
  return gantry;
}

afterAll(async () => {
  for (const server of servers) await server.stop();
});

type PipelineState = { version: number | null; error?: { issues: { path: string; message: string }[] } };
async function pipelineState(gantry: TestGantry, id: string): Promise<PipelineState> {
  const response = await gantry.api(`/pipelines/default/${id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { pipeline: PipelineState }).pipeline;
}

describe("container networks without an allowlist", () => {
  let gantry: TestGantry;
  beforeAll(async () => {
    gantry = await serve();
  });

  it("refuses to load a task on the host network, naming the setting", async () => {
    const host = await pipelineState(gantry, "net-host");
    expect(host.version).toBeNull();
    expect(host.error!.issues).toHaveLength(1);
    expect(host.error!.issues[0]!.path).toBe("tasks.call.network");
    expect(host.error!.issues[0]!.message).toContain('network "host" is not allowed');
    expect(host.error!.issues[0]!.message).toContain("GANTRY_CONTAINER_ALLOWED_NETWORKS");
    // Nothing to start: the API refuses a pipeline without a valid version.
    expect((await gantry.api("/pipelines/default/net-host/runs", { method: "POST", body: "{}" })).status).toBe(409);

    const named = await pipelineState(gantry, "net-named");
    expect(named.version).toBeNull();
    expect(named.error!.issues[0]!.message).toContain('network "backend" is not allowed');

    // The rest load, and a task on the default bridge cannot reach the server's loopback.
    for (const id of ["net-none", "net-bridge", "net-default"]) expect((await pipelineState(gantry, id)).version).toBe(1);
    const run = await waitForRun(gantry.api, "default/net-default", (await startRun(gantry.api, "default/net-default")).id);
    expect(run.state).toBe("failed");
    expect(await readLog(gantry.api, "default/net-default", run.id, "call")).not.toContain('"status":"ok"');
  });
});

describe("container networks an admin allowed", () => {
  it("runs a host-network task once host is in GANTRY_CONTAINER_ALLOWED_NETWORKS", async () => {
    const gantry = await serve({ GANTRY_CONTAINER_ALLOWED_NETWORKS: "host" });
    expect((await pipelineState(gantry, "net-host")).version).toBe(1);
    // Allowing host allows no other network.
    expect((await pipelineState(gantry, "net-named")).version).toBeNull();
    const run = await waitForRun(gantry.api, "default/net-host", (await startRun(gantry.api, "default/net-host")).id);
    expect(run.state).toBe("successful");
    expect(await readLog(gantry.api, "default/net-host", run.id, "call")).toContain('"status":"ok"');
  });

  it("lets tasks name the network the admin made the default with GANTRY_CONTAINER_NETWORK", async () => {
    const gantry = await serve({ GANTRY_CONTAINER_NETWORK: "host" });
    expect((await pipelineState(gantry, "net-host")).version).toBe(1);
    expect((await pipelineState(gantry, "net-named")).version).toBeNull();
  });
});
