// Extension calls cross a trust boundary: a Worker extension runs its own code, a container
// extension is an outside program. Every call is checked per method before the host acts: a
// malformed one gets an error naming the method and the field, and writes nothing — through
// a real Worker extension (its api.* calls and raw messages) and through the HTTP route a
// real container extension calls.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { createDockerClient, GANTRY_LABELS } from "../../app/engine/executors/docker-client.ts";
import { startWithPipelines, waitFor, waitForRun, type TestGantry } from "../helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(90_000);

const IMAGE = "local/gantry-test-extension:latest";
const BOX = "probe-box";
const { docker } = createDockerClient();

// Runs the calls a hook body lists through its ExtensionApi and answers with each outcome;
// "raw" posts messages past the api wrappers, as any code in the Worker could.
const PROBER = `
import { defineExtension } from "gantry";
const RAW_CALL = 777777;
export default defineExtension({
  id: "prober",
  async onHook(request, api) {
    if (request.path === "/bad-status") return { status: 42, body: "no such status" };
    if (request.path === "/raw") {
      const reply = new Promise((resolve) => {
        self.addEventListener("message", (event) => { if (event.data?.type === "reply" && event.data.callId === RAW_CALL) resolve(event.data); });
        setTimeout(() => resolve("no reply"), 3000);
      });
      self.postMessage(null);
      self.postMessage("just a string");
      self.postMessage({ type: "log", line: 42 });
      self.postMessage({ type: "subscription-error", id: "all", message: "taken over" });
      self.postMessage({ type: "call", callId: RAW_CALL, method: "dropTables", args: "x" });
      return { status: 200, body: { reply: await reply } };
    }
    const { calls } = JSON.parse(new TextDecoder().decode(request.body));
    const results = [];
    for (const { method, args } of calls) {
      try {
        results.push({ ok: true, value: (await api[method](...args)) ?? null });
      } catch (error) {
        results.push({ ok: false, error: error.message });
      }
    }
    return { status: 200, body: { results } };
  },
});
`;

const TARGET = `
import { definePipeline, run } from "gantry";
export default definePipeline({ id: "target", tasks: { a: run((ctx) => ctx.log("REF=" + ctx.env.REF)) } });
`;

let gantry: TestGantry;
let proberSubscription: number;

const boxContainers = () => docker.listContainers({ all: true, filters: { label: [`${GANTRY_LABELS.extension}=${BOX}`] } });

beforeAll(async () => {
  // Built from local/busybox:latest only, as test/container-extension.test.ts does.
  const build = Bun.spawnSync(["docker", "build", "-q", "-t", IMAGE, join(REPO_ROOT, "test", "fixtures", "container-extension")], { stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`docker build failed: ${build.stderr.toString()}`);
  const extensionsDir = tempDir("gantry-extensions-");
  writeFile(join(extensionsDir, "prober", "index.ts"), PROBER);
  gantry = await startWithPipelines(
    { "target.ts": TARGET },
    { env: { GANTRY_EXTENSIONS_DIR: extensionsDir, GANTRY_EXTENSIONS_CONFIG: JSON.stringify({ [BOX]: { image: IMAGE, config: {} } }) } },
  );
  const subscribed = await gantry.api("/pipelines/default/target/subscriptions", { method: "POST", body: JSON.stringify({ extension: "prober" }) });
  expect(subscribed.status).toBe(201);
  proberSubscription = ((await subscribed.json()) as { subscription: { id: number } }).subscription.id;
  await waitFor(async () => {
    const { extension } = (await (await gantry.api("/extensions/prober")).json()) as { extension: { state: string; subscriptions: { id: number }[] } };
    return extension.state === "running" && extension.subscriptions.some((row) => row.id === proberSubscription);
  }, 20_000, "the prober extension to have its subscription");
});

afterAll(async () => {
  await gantry?.stop();
  for (const info of await boxContainers()) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
});

type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

/** Makes the prober run `calls` through its api and returns each outcome. */
async function probe(calls: { method: string; args: unknown[] }[]): Promise<Outcome[]> {
  const response = await fetch(`${gantry.hooksUrl}/hooks/prober/calls`, { method: "POST", body: JSON.stringify({ calls }) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { results: Outcome[] }).results;
}

async function runsOfTarget(): Promise<{ id: number; trigger: { kind: string; by?: string }; variables: Record<string, string> }[]> {
  const response = await gantry.api("/pipelines/default/target/runs?limit=100");
  return ((await response.json()) as { runs: { id: number; trigger: { kind: string; by?: string }; variables: Record<string, string> }[] }).runs;
}

describe("calls from a Worker extension", () => {
  it("refuses malformed arguments of every method, naming the method and the field, and writes nothing", async () => {
    const id = proberSubscription;
    const cases: [string, unknown[], string][] = [
      ["startRun", [String(id)], "startRun: subscriptionId: must be a subscription id (a number)"],
      ["startRun", [id, { variables: { REF: 5 } }], "startRun: options.variables.REF: must be a string"],
      ["startRun", [id, { variables: ["main"] }], "startRun: options.variables: must be an object of strings"],
      ["startRun", [id, { by: { evil: true } }], "startRun: options.by: must be a string"],
      ["startRun", [id, { noSecrets: "yes" }], "startRun: options.noSecrets: must be true or false"],
      ["startRun", [id, { deliveryId: 42 }], "startRun: options.deliveryId: must be a string"],
      ["startRun", [id, { variable: { REF: "x" } }], "startRun: options.variable: unknown field"],
      ["startRun", [id, "fast"], "startRun: options: must be an object like {variables, inputs, systemVariables, noSecrets, deliveryId, by}"],
      ["startRun", [id, { inputs: { env: { deep: 1 } } }], "startRun: options.inputs.env: must be text, a number or a boolean"],
      ["startRun", [99_999, {}], "startRun: subscription 99999 is not one of extension prober"],
      ["secret", [id, 7], "secret: name: must be a string"],
      ["secret", [id, "../../etc/passwd"], "secret: name: must be a secret name: 1-128 characters of A-Z a-z 0-9 _ . -"],
      ["getState", [{ key: "k" }], "getState: key: must be a string"],
      ["setState", ["k", { a: 1 }], "setState: value: must be a string"],
      ["pushed", [{ repoUrls: [], branch: "main" }], "pushed: push.repoUrls: must name at least one URL"],
      ["pushed", [{ repoUrls: ["https://h/x.git"] }], 'pushed: push.branch: must be { repoUrls: [URL, ...], branch: "name" }'],
      ["setState", ["n", 5], "setState: value: must be a string"],
      ["setState", ["", "v"], "setState: key: must not be empty"],
      ["setState", ["big", "x".repeat(1024 * 1024 + 1)], "setState: value: must be at most 1048576 bytes"],
      ["event", ["delivery.rejected", "text"], "event: data: must be an object"],
      ["event", ["run.finished", {}], "event: kind: must be one of delivery.rejected (the other events are Gantry's to record)"],
      ["event", ["delivery.rejected", {}, "1"], "event: subscriptionId: must be a subscription id (a number)"],
    ];
    const outcomes = await probe(cases.map(([method, args]) => ({ method, args })));
    expect(outcomes.map((outcome, index) => [cases[index]![0], outcome])).toEqual(cases.map(([method, , error]) => [method, { ok: false, error }]));

    // Nothing was written: no run, no state under any of those keys, no event.
    expect(await runsOfTarget()).toEqual([]);
    expect(await probe([{ method: "getState", args: ["k"] }, { method: "getState", args: ["n"] }, { method: "getState", args: ["big"] }])).toEqual([
      { ok: true, value: null },
      { ok: true, value: null },
      { ok: true, value: null },
    ]);
    const { events } = (await (await gantry.api("/events?limit=1000")).json()) as { events: { kind: string; data: Record<string, unknown> }[] };
    expect(events.filter((event) => event.data.extension === "prober" && event.kind === "delivery.rejected")).toEqual([]);
  });

  it("carries out well-formed calls as before, and the extension runs on", async () => {
    const id = proberSubscription;
    const [started, stored, read, recorded] = await probe([
      { method: "startRun", args: [id, { variables: { REF: "main" }, by: "probe", deliveryId: "d-1" }] },
      { method: "setState", args: ["k", "v"] },
      { method: "getState", args: ["k"] },
      { method: "event", args: ["delivery.rejected", { reason: "probe" }, id] },
    ]);
    expect(started).toEqual({ ok: true, value: { namespace: "default", pipeline: "target", run: 1, duplicate: false, url: `${gantry.url}/pipelines/default/target/runs/1` } });
    expect([stored, read, recorded]).toEqual([{ ok: true, value: null }, { ok: true, value: "v" }, { ok: true, value: null }]);
    const run = await waitForRun(gantry.api, "default/target", 1);
    expect(run).toMatchObject({ state: "successful", trigger: { kind: "prober", by: "probe" }, variables: { REF: "main" } });
    const { extension } = (await (await gantry.api("/extensions/prober")).json()) as { extension: { state: string; restarts: number } };
    expect(extension).toMatchObject({ state: "running", restarts: 0 });
  });

  it("ignores raw messages that break the protocol, answers an unknown method with an error, and a hook's bad status with 502", async () => {
    const raw = await fetch(`${gantry.hooksUrl}/hooks/prober/raw`, { method: "POST", body: "{}" });
    expect(raw.status).toBe(200);
    expect(await raw.json()).toEqual({
      reply: { type: "reply", callId: 777777, ok: false, error: 'unknown method "dropTables": one of startRun, secret, getState, setState, event, pushed' },
    });
    const { extension } = (await (await gantry.api("/extensions/prober")).json()) as {
      extension: { state: string; restarts: number; log: string[]; subscriptions: { id: number; error?: string }[] };
    };
    expect(extension).toMatchObject({ state: "running", restarts: 0 });
    expect(extension.log.filter((line) => line.includes("[gantry] ignored a malformed message from the extension"))).toHaveLength(4);
    // A subscription-error naming no subscription marks none.
    expect(extension.subscriptions.every((subscription) => subscription.error === undefined)).toBe(true);

    const bad = await fetch(`${gantry.hooksUrl}/hooks/prober/bad-status`, { method: "POST", body: "{}" });
    expect(bad.status).toBe(502);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("answered the hook with an invalid response (response.status: must be 200-599)");
  });
});

describe("calls from a container extension (POST /api/v1/extensions/:id/calls)", () => {
  let secret: string;
  let boxSubscription: number;

  const call = async (body: unknown, presented = secret) => {
    const response = await fetch(`${gantry.url}/api/v1/extensions/${BOX}/calls`, {
      method: "POST",
      headers: { authorization: `Bearer ${presented}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { value?: unknown; error?: { code: string; message: string } } };
  };

  beforeAll(async () => {
    await waitFor(async () => {
      const { extension } = (await (await gantry.api(`/extensions/${BOX}`)).json()) as { extension: { state: string } };
      return extension.state === "running";
    }, 40_000, "the container extension to run");
    // The secret the container was started with: what it presents on each call.
    const [info] = await boxContainers();
    const env = (await docker.getContainer(info!.Id).inspect()).Config.Env;
    secret = env.find((entry) => entry.startsWith("GANTRY_EXTENSION_SECRET="))!.split("=")[1]!;
    // The fixture answers a subscription by starting one run (FROM=container).
    const subscribed = await gantry.api("/pipelines/default/target/subscriptions", { method: "POST", body: JSON.stringify({ extension: BOX }) });
    boxSubscription = ((await subscribed.json()) as { subscription: { id: number } }).subscription.id;
    await waitFor(async () => (await runsOfTarget()).some((run) => run.trigger.kind === BOX), 20_000, "the container's own run");
  });

  it("checks the secret before the body, then refuses malformed calls with 400 naming the method and field", async () => {
    expect(await call({ method: 5 }, "wrong-secret")).toMatchObject({ status: 401 });
    const runsBefore = (await runsOfTarget()).length;
    const cases: [unknown, string][] = [
      ["{not json", 'the body must be JSON {"method": "<log|startRun|secret|getState|setState|event|pushed>", "args": [...]}'],
      [{ method: 5, args: [] }, "method: must be a string"],
      [{ method: "dropTables", args: [] }, 'unknown method "dropTables": one of startRun, secret, getState, setState, event, pushed'],
      [{ method: "setState", args: "k" }, "setState: args must be an array [key, value]"],
      [{ method: "setState", args: ["k", { a: 1 }] }, "setState: value: must be a string"],
      [{ method: "getState", args: ["k", "extra"] }, "getState: takes at most 1 argument (key), got 2"],
      [{ method: "startRun", args: [boxSubscription, { variables: { A: 1 } }] }, "startRun: options.variables.A: must be a string"],
      [{ method: "startRun", args: [boxSubscription, { deliveryId: "x".repeat(300) }] }, "startRun: options.deliveryId: must be at most 256 characters"],
      [{ method: "startRun", args: [proberSubscription, {}] }, `startRun: subscription ${proberSubscription} is not one of extension ${BOX}`],
      [{ method: "secret", args: [boxSubscription] }, "secret: name: must be a string"],
      [{ method: "event", args: ["delivery.rejected", [1, 2]] }, "event: data: must be an object"],
      [{ method: "event", args: ["delivery.rejected", { big: "x".repeat(9000) }] }, "event: data: must be at most 8192 characters of JSON"],
      [{ method: "log", args: "x" }, "log: args must be an array of parts"],
    ];
    for (const [body, message] of cases) {
      const answer = await call(body);
      expect({ body, answer }).toEqual({ body, answer: { status: 400, body: { error: { code: "invalid", message: expect.stringContaining(message) } } } });
    }
    expect((await runsOfTarget()).length).toBe(runsBefore);
    expect(await call({ method: "getState", args: ["k"] })).toEqual({ status: 200, body: { value: null } });

    // Well-formed calls work as before.
    expect(await call({ method: "setState", args: ["k", "v"] })).toEqual({ status: 200, body: { value: null } });
    expect(await call({ method: "getState", args: ["k"] })).toEqual({ status: 200, body: { value: "v" } });
    expect(await call({ method: "log", args: ["hello", { from: "box" }] })).toEqual({ status: 200, body: { value: null } });
    const started = await call({ method: "startRun", args: [boxSubscription, { variables: { REF: "from-box" }, by: "box-call" }] });
    expect(started.status).toBe(200);
    const run = await waitForRun(gantry.api, "default/target", (started.body.value as { run: number }).run);
    expect(run).toMatchObject({ state: "successful", variables: { REF: "from-box" } });
  });
});
