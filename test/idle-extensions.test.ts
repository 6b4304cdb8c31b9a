// Gantry's own extensions wait, idle, until something uses them: on a server whose pipelines
// subscribe to none and whose gantry.toml configures none, none of them gets a Worker; a
// hook for one is answered without starting it; the first subscription starts it (and only
// it), and then it does its work, for a run started right after it too; a restarted server
// starts at once the ones subscribed to.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { signBody } from "../app/domain/hmac-signature.ts";
import { startRun, startTestGantry, waitFor, waitForPipeline, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";
import { runCli } from "./helpers/cli.ts";

setDefaultTimeout(60_000);

const SHIPPED = ["cron", "github", "interval", "notify", "webhook"];
const SECRET = "idle-hook-secret-5678";
const PLAIN = `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "plain", tasks: { a: run(() => {}) } });
`;
const HOOKED = `import { definePipeline, run, secret, webhook } from "gantry";
export default definePipeline({ id: "hooked", triggers: [webhook({ secret: secret("hook_secret") })], tasks: { a: run((ctx) => ctx.log("hooked ran")) } });
`;

interface ExtensionJson {
  id: string;
  state: string;
  log: string[];
}

let gantry: TestGantry;
let pipelinesDir: string;
let dataDir: string;

async function extensions(): Promise<Record<string, ExtensionJson>> {
  const response = await gantry.api("/extensions");
  expect(response.status).toBe(200);
  const { extensions } = (await response.json()) as { extensions: ExtensionJson[] };
  return Object.fromEntries(extensions.map((extension) => [extension.id, extension]));
}

const states = async () => Object.fromEntries(Object.entries(await extensions()).map(([id, extension]) => [id, extension.state]));

function deliver(path: string, body: string) {
  return fetch(`${gantry.hooksUrl}/hooks/webhook/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-gantry-signature-256": signBody(SECRET, new TextEncoder().encode(body)) },
    body,
  });
}

beforeAll(async () => {
  pipelinesDir = tempDir("gantry-pipelines-");
  dataDir = tempDir("gantry-data-");
  writeFile(join(pipelinesDir, "plain.ts"), PLAIN);
  gantry = await startTestGantry({ pipelinesDir, dataDir });
});

afterAll(() => gantry?.stop());

describe("Gantry's own extensions", () => {
  it("stay idle, with no Worker, on a server that neither configures nor subscribes to them", async () => {
    const listed = await extensions();
    expect(Object.keys(listed).sort()).toEqual(SHIPPED);
    for (const id of SHIPPED) {
      expect(listed[id]!.state).toBe("idle");
      expect(listed[id]!.log).toEqual([expect.stringMatching(new RegExp(`\\[gantry\\] idle: no pipeline subscribes to it and it is not configured \\(\\[extensions\\.${id}\\]\\); it starts when a pipeline subscribes$`))]);
    }
    const cli = await runCli(["extension", "ls"], { server: gantry, env: { NO_COLOR: "1" } });
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout).toMatch(/\nwebhook\s+built-in\s+idle\s+0\s+0\s+-/);
  });

  it("answer a hook for an idle one without starting it, and give no token from one", async () => {
    const answer = await deliver("default/hooked", "{}");
    expect(answer.status).toBe(404);
    expect(((await answer.json()) as { error: { message: string } }).error.message).toBe("extension webhook is idle: no pipeline subscribes to it");
    const request = { namespace: "default", pipeline: "plain", run: 1, secret: "github-app-token", variables: {} };
    expect(await gantry.deps.extensions.provideToken("github", request)).toBeUndefined();
    expect(await states()).toEqual(Object.fromEntries(SHIPPED.map((id) => [id, "idle"])));
  });

  it("start the one a pipeline subscribes to, which then does its work; the others stay idle", async () => {
    writeFile(join(pipelinesDir, "hooked.ts"), HOOKED);
    await waitForPipeline(gantry.api, "default/hooked");
    await waitFor(async () => ((await states()).webhook === "running" ? true : undefined));
    const after = await extensions();
    expect(after.webhook!.log.map((line) => line.replace(/^\S+ /, "")).slice(0, 2)).toEqual([
      expect.stringMatching(/^\[gantry\] idle: /),
      "[gantry] starting: a pipeline subscribes to it",
    ]);
    for (const id of SHIPPED.filter((id) => id !== "webhook")) expect(after[id]!.state).toBe("idle");

    const stored = await gantry.api("/pipelines/default/hooked/secrets/hook_secret", { method: "PUT", body: JSON.stringify({ value: SECRET }) });
    expect(stored.status).toBe(201);
    const answer = await deliver("default/hooked", JSON.stringify({ ref: "main" }));
    expect(answer.status).toBe(202);
    const { run } = (await answer.json()) as { run: { id: number } };
    expect((await waitForRun(gantry.api, "default/hooked", run.id)).state).toBe("successful");
  });

  it("tell one started by a subscription of the run started right after it", async () => {
    const received: { event: string; run: number }[] = [];
    const receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        received.push((await request.json()) as { event: string; run: number });
        return new Response(null, { status: 204 });
      },
    });
    try {
      expect((await states()).notify).toBe("idle");
      const stored = await gantry.api("/pipelines/default/plain/secrets/chat_url", { method: "PUT", body: JSON.stringify({ value: `http://127.0.0.1:${receiver.port}/chat` }) });
      expect(stored.status).toBe(201);
      const subscribed = await gantry.api("/pipelines/default/plain/subscriptions", { method: "POST", body: JSON.stringify({ extension: "notify", params: { url: "chat_url", on: ["run.started", "run.finished"] } }) });
      expect(subscribed.status).toBe(201);
      // At once: notify is still starting (its Worker, its subscriptions read) as the run starts.
      const run = await startRun(gantry.api, "default/plain");
      await waitFor(async () => (received.filter((body) => body.run === run.id).length === 2 ? true : undefined), 10_000, "run.started and run.finished delivered");
      expect(received.filter((body) => body.run === run.id).map((body) => body.event)).toEqual(["run.started", "run.finished"]);
    } finally {
      await receiver.stop(true);
    }
  });

  it("start at once after a restart when a pipeline subscribes to them", async () => {
    await gantry.stop();
    gantry = await startTestGantry({ pipelinesDir, dataDir });
    // start() waits (briefly) for the ones it starts to be up.
    await waitFor(async () => ((await states()).webhook === "running" ? true : undefined));
    const listed = await extensions();
    expect(listed.webhook!.log.some((line) => line.includes("[gantry] idle"))).toBe(false);
    expect(listed.notify!.state).toBe("running");
    for (const id of ["cron", "github", "interval"]) expect(listed[id]!.state).toBe("idle");
  });
});
