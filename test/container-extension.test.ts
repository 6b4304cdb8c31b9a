// Container extensions end to end: an image built FROM the local busybox image speaks the
// HTTP protocol of docs/extension-protocol.md; Gantry starts it, lists it, forwards a
// subscription (which it answers by starting a run), a hook, and removes it on stop.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { createDockerClient } from "../app/engine/executors/docker-client.ts";
import { GANTRY_LABELS } from "../app/engine/executors/docker-client.ts";
import { startWithPipelines, waitFor, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const IMAGE = "local/gantry-test-extension:latest";
const { docker } = createDockerClient();

const extensionContainers = async () =>
  docker.listContainers({ all: true, filters: { label: [`${GANTRY_LABELS.extension}=box`] } });

let gantry: TestGantry | undefined;

beforeAll(async () => {
  // Built from local/busybox:latest only: the legacy builder pulls nothing without --pull.
  const build = Bun.spawnSync(["docker", "build", "-q", "-t", IMAGE, join(REPO_ROOT, "test", "fixtures", "container-extension")], { stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`docker build failed: ${build.stderr.toString()}`);
  const target = `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "target", tasks: { a: run((ctx) => ctx.log("from " + ctx.env.FROM)) } });\n`;
  gantry = await startWithPipelines({ "target.ts": target }, {
    env: { GANTRY_EXTENSIONS_DIR: tempDir("gantry-extensions-"), GANTRY_EXTENSIONS_CONFIG: JSON.stringify({ box: { image: IMAGE, config: { greeting: "hi" } } }) },
  });
});

afterAll(async () => {
  await gantry?.stop();
  // Whatever the outcome, no container of this test stays behind.
  for (const info of await extensionContainers()) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
});

describe("container extensions", () => {
  it("runs the image, starts runs it asks for, answers hooks and refuses a wrong secret", async () => {
    const api = gantry!.api;
    const box = await waitFor(async () => {
      const list = (await (await api("/extensions")).json()) as { extensions: { id: string; state: string; log: string[] }[] };
      const found = list.extensions.find((extension) => extension.id === "box");
      return found?.state === "running" ? found : undefined;
    }, 30_000, "the container extension to run");
    expect(box.log.join("\n")).toContain('started with {"config":{"greeting":"hi"}}');
    const containers = await extensionContainers();
    expect(containers).toHaveLength(1);
    expect(containers[0]!.Labels[GANTRY_LABELS.managed]).toBe("true");

    const subscribed = await api("/pipelines/default/target/subscriptions", { method: "POST", body: JSON.stringify({ extension: "box" }) });
    expect(subscribed.status).toBe(201);
    const run = await waitFor(async () => {
      const body = (await (await api("/pipelines/default/target/runs")).json()) as { runs: { id: number; trigger: { kind: string; by?: string } }[] };
      return body.runs[0];
    }, 20_000, "the run the extension starts");
    expect(run.trigger).toEqual({ kind: "box", by: "test-extension" });
    const finished = await waitFor(async () => {
      const body = (await (await api(`/pipelines/default/target/runs/${run.id}`)).json()) as { run: { state: string; variables: Record<string, string> } };
      return body.run.state === "successful" ? body.run : undefined;
    }, 20_000, "the run to succeed");
    expect(finished.variables).toEqual({ FROM: "container" });

    const hook = await fetch(`${gantry!.hooksUrl}/hooks/box/anything`, { method: "POST", body: "payload" });
    expect(hook.status).toBe(202);
    expect(await hook.json()).toEqual({ ok: true });
    // It has no POST /token (404): it provides no tokens, which is "none", not a failure.
    const tokenRequest = { namespace: "default", pipeline: "target", run: run.id, secret: "github-app-token", variables: {} };
    expect(await gantry!.deps.extensions.provideToken("box", tokenRequest)).toBeUndefined();

    const call = (authorization?: string) =>
      fetch(`${gantry!.url}/api/v1/extensions/box/calls`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization && { authorization }) },
        body: JSON.stringify({ method: "getState", args: ["k"] }),
      });
    expect((await call("Bearer wrong-secret")).status).toBe(401);
    expect((await call()).status).toBe(401);
    // Not even the admin's token: the route takes the extension's secret only.
    expect((await call(`Bearer ${gantry!.token}`)).status).toBe(401);
  });

  it("starts a new container when the old one dies", async () => {
    const [old] = await extensionContainers();
    await docker.getContainer(old!.Id).kill();
    const box = await waitFor(async () => {
      const body = (await (await gantry!.api("/extensions/box")).json()) as { extension: { state: string; restarts: number; error?: string } };
      return body.extension.state === "running" && body.extension.restarts > 0 ? body.extension : undefined;
    }, 30_000, "the extension to be restarted");
    expect(box.restarts).toBe(1);
    const containers = await extensionContainers();
    expect(containers.map((info) => info.Id)).not.toContain(old!.Id);
    expect(containers).toHaveLength(1);
  });

  it("removes the container when the server stops", async () => {
    expect(await extensionContainers()).toHaveLength(1);
    await gantry!.stop();
    gantry = undefined;
    expect(await extensionContainers()).toHaveLength(0);
  });
});
