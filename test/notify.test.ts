// Notifications end to end: a pipeline's notify() POSTs signed JSON to a receiver on
// 127.0.0.1 on the events it chose (and no others), a waiting approval carries its message
// and approve/reject links, and the approve link works for someone other than the starter.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { verifySignature } from "../app/domain/hmac-signature.ts";
import { pipelineEventsFor, type EventRun } from "../app/extension-host/pipeline-events.ts";
import { startRun, startWithPipelines, waitFor, waitForRun, type TestGantry } from "./helpers/gantry.ts";

setDefaultTimeout(60_000);

interface Received {
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  json: Record<string, any>;
}

const HEADER = `import { definePipeline, run, approval, notify, secret } from "gantry";\n`;
const PIPELINES: Record<string, string> = {
  // Fails, and asks only for run.failed and approval.waiting.
  "broken.ts": `${HEADER}export default definePipeline({
    id: "broken",
    notifications: [notify({ url: secret("hook_url"), on: ["run.failed", "approval.waiting"] })],
    tasks: { a: run(() => { throw new Error("boom"); }) },
  });\n`,
  // Waits for a person, then runs its last task.
  "gated.ts": `${HEADER}export default definePipeline({
    id: "gated",
    notifications: [notify({ url: secret("hook_url"), on: ["run.failed", "approval.waiting"] })],
    tasks: {
      build: run(() => {}),
      gate: approval({ needs: { build: "success" }, message: "ship \${GANTRY_RUN_ID}?" }),
      ship: run((ctx) => ctx.log("shipped"), { needs: { gate: "success" } }),
    },
  });\n`,
  // Hears of decisions and failures, not of waiting.
  "vetoed.ts": `${HEADER}export default definePipeline({
    id: "vetoed",
    notifications: [notify({ url: secret("hook_url"), on: ["approval.approved", "approval.rejected", "run.failed"] })],
    tasks: { gate: approval({ message: "really?" }) },
  });\n`,
  // Signs with its own key, and wants every end.
  "keyed.ts": `${HEADER}export default definePipeline({
    id: "keyed",
    notifications: [notify({ url: secret("hook_url"), secret: secret("hook_key"), on: ["run.successful", "run.finished"] })],
    tasks: { a: run(() => {}) },
  });\n`,
  // Its URL (a pipeline secret) answers 503 to the first POST.
  "flaky.ts": `${HEADER}export default definePipeline({
    id: "flaky",
    notifications: [notify({ url: secret("hook_url"), on: ["run.finished"] })],
    tasks: { a: run(() => {}) },
  });\n`,
  // Its URL secret is never set: nothing is sent, the log says why.
  "unset.ts": `${HEADER}export default definePipeline({
    id: "unset",
    notifications: [notify({ url: secret("nowhere_url"), on: ["run.finished"] })],
    tasks: { a: run(() => {}) },
  });\n`,
};

let gantry: TestGantry;
let receiver: ReturnType<typeof Bun.serve>;
let hookUrl: string;
const received: Received[] = [];
/** The delivery id of the POST the flaky URL refused. */
let flakyFailed: string | undefined;
const HOOK_KEY = "a-key-only-the-receiver-knows";

const put = (value: string) => ({ method: "PUT", body: JSON.stringify({ value }) });
const forRun = (pipeline: string, run: number) => received.filter((request) => request.json.pipeline === pipeline && request.json.run === run);

beforeAll(async () => {
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const body = new Uint8Array(await request.arrayBuffer());
      const path = new URL(request.url).pathname;
      if (path === "/flaky" && !flakyFailed) {
        flakyFailed = request.headers.get("x-gantry-delivery") ?? "no id";
        return new Response("down for a moment", { status: 503 });
      }
      received.push({ path: new URL(request.url).pathname, headers: Object.fromEntries(request.headers), body, json: JSON.parse(new TextDecoder().decode(body)) });
      return new Response(null, { status: 204 });
    },
  });
  hookUrl = `http://127.0.0.1:${receiver.port}/hooks/chat?channel=ops`;
  gantry = await startWithPipelines(PIPELINES);
  expect((await gantry.api("/secrets/hook_url", put(hookUrl))).status).toBeLessThan(300);
  // The keyed pipeline's key is its own secret; its URL is the global one.
  expect((await gantry.api("/pipelines/default/keyed/secrets/hook_key", put(HOOK_KEY))).status).toBeLessThan(300);
  expect((await gantry.api("/pipelines/default/flaky/secrets/hook_url", put(`http://127.0.0.1:${receiver.port}/flaky`))).status).toBeLessThan(300);
  await waitFor(async () => {
    const response = await gantry.api("/extensions/notify");
    const { extension } = (await response.json()) as { extension: { state: string; subscriptions: unknown[] } };
    return extension.state === "running" && extension.subscriptions.length === 6;
  }, 15_000, "the notify extension with six subscriptions");
});

afterAll(async () => {
  await gantry?.stop();
  await receiver?.stop(true);
});

describe("notify", () => {
  it("POSTs a signed run.failed to the URL, and nothing for events not chosen", async () => {
    const started = await startRun(gantry.api, "default/broken");
    expect((await waitForRun(gantry.api, "default/broken", started.id)).state).toBe("failed");
    const [delivery] = await waitFor(() => (forRun("broken", started.id).length > 0 ? forRun("broken", started.id) : undefined), 15_000, "a notification");
    // The run's end came with a run.finished too; give a stray POST the time to arrive.
    await Bun.sleep(500);
    expect(forRun("broken", started.id)).toHaveLength(1);

    expect(delivery!.path).toBe("/hooks/chat");
    expect(delivery!.headers["content-type"]).toBe("application/json");
    expect(delivery!.headers["x-gantry-event"]).toBe("run.failed");
    expect(delivery!.headers["x-gantry-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
    // Without a key of its own, the URL's value signs.
    expect(verifySignature(hookUrl, delivery!.body, delivery!.headers["x-gantry-signature-256"])).toBe(true);
    expect(verifySignature("another key", delivery!.body, delivery!.headers["x-gantry-signature-256"])).toBe(false);
    expect(delivery!.json).toMatchObject({
      event: "run.failed",
      namespace: "default",
      pipeline: "broken",
      run: started.id,
      state: "failed",
      url: `${gantry.url}/pipelines/default/broken/runs/${started.id}`,
    });
    expect(typeof delivery!.json.at).toBe("string");
    expect(delivery!.json.kind).toBeUndefined();
  });

  it("sends a waiting approval with its message and links; the approve link works for another admin", async () => {
    const started = await startRun(gantry.api, "default/gated");
    const [delivery] = await waitFor(() => (forRun("gated", started.id).length > 0 ? forRun("gated", started.id) : undefined), 20_000, "an approval.waiting notification");
    expect(delivery!.headers["x-gantry-event"]).toBe("approval.waiting");
    expect(verifySignature(hookUrl, delivery!.body, delivery!.headers["x-gantry-signature-256"])).toBe(true);
    const runApi = `${gantry.url}/api/v1/pipelines/default/gated/runs/${started.id}`;
    expect(delivery!.json).toMatchObject({
      event: "approval.waiting",
      pipeline: "gated",
      run: started.id,
      task: "gate",
      approval: {
        message: `ship ${started.id}?`,
        approvers: [],
        links: {
          page: `${gantry.url}/pipelines/default/gated/runs/${started.id}`,
          approve: `${runApi}/tasks/gate/approve`,
          reject: `${runApi}/tasks/gate/reject`,
        },
      },
    });
    expect(Date.parse(delivery!.json.approval.decideBy)).toBeGreaterThan(Date.now());

    // The starter (the bootstrap token) may not approve its own run; a second admin may.
    const own = await fetch(delivery!.json.approval.links.approve, {
      method: "POST",
      headers: { authorization: `Bearer ${gantry.token}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(own.status).toBe(403);
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "approver", roles: ["admin"] }) });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const approved = await fetch(delivery!.json.approval.links.approve, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ comment: "go" }),
    });
    expect(approved.status).toBeLessThan(300);
    const finished = await waitForRun(gantry.api, "default/gated", started.id);
    expect(finished.state).toBe("successful");
    // approval.approved and run.successful were not chosen.
    await Bun.sleep(500);
    expect(forRun("gated", started.id)).toHaveLength(1);
  });

  it("sends a rejection with its decision, then the run's failure", async () => {
    const started = await startRun(gantry.api, "default/vetoed");
    await waitFor(async () => {
      const { run } = (await (await gantry.api(`/pipelines/default/vetoed/runs/${started.id}`)).json()) as { run: { tasks: { state: string }[] } };
      return run.tasks[0]?.state === "waiting";
    }, 20_000, "the gate to wait");
    const rejecter = (await (await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "rejecter", roles: ["admin"] }) })).json()) as { secret: string };
    const rejected = await fetch(`${gantry.url}/api/v1/pipelines/default/vetoed/runs/${started.id}/tasks/gate/reject`, {
      method: "POST",
      headers: { authorization: `Bearer ${rejecter.secret}`, "content-type": "application/json" },
      body: JSON.stringify({ comment: "not today" }),
    });
    expect(rejected.status).toBeLessThan(300);
    expect((await waitForRun(gantry.api, "default/vetoed", started.id)).state).toBe("failed");
    const deliveries = await waitFor(() => (forRun("vetoed", started.id).length >= 2 ? forRun("vetoed", started.id) : undefined), 15_000, "two notifications");
    await Bun.sleep(500);
    // Each is its own POST: they may arrive in either order (receivers go by X-Gantry-Event).
    expect(forRun("vetoed", started.id).map((delivery) => delivery.json.event).sort()).toEqual(["approval.rejected", "run.failed"]);
    const rejection = deliveries.find((delivery) => delivery.json.event === "approval.rejected")!;
    const failure = deliveries.find((delivery) => delivery.json.event === "run.failed")!;
    expect(rejection.json).toMatchObject({ task: "gate", approval: { message: "really?", decision: { outcome: "rejected", by: "rejecter", comment: "not today" } } });
    // Who decided is a name: no user or token ids leave the server.
    expect(Object.keys(rejection.json.approval.decision).sort()).toEqual(["at", "by", "comment", "outcome"]);
    expect(failure.json).toMatchObject({ state: "failed", reason: expect.stringContaining("gate") });
  });

  it("signs with the secret key when the notification names one", async () => {
    const started = await startRun(gantry.api, "default/keyed");
    expect((await waitForRun(gantry.api, "default/keyed", started.id)).state).toBe("successful");
    const deliveries = await waitFor(() => (forRun("keyed", started.id).length >= 2 ? forRun("keyed", started.id) : undefined), 15_000, "two notifications");
    // The state's own event and run.finished, each its own delivery (in either order).
    expect(deliveries.map((delivery) => delivery.json.event).sort()).toEqual(["run.finished", "run.successful"]);
    expect(new Set(deliveries.map((delivery) => delivery.headers["x-gantry-delivery"])).size).toBe(2);
    for (const delivery of deliveries) {
      expect(verifySignature(HOOK_KEY, delivery.body, delivery.headers["x-gantry-signature-256"])).toBe(true);
      expect(verifySignature(hookUrl, delivery.body, delivery.headers["x-gantry-signature-256"])).toBe(false);
    }
  });

  it("retries a POST answered with 5xx, under the same delivery id, and logs the status", async () => {
    const started = await startRun(gantry.api, "default/flaky");
    const [delivery] = await waitFor(() => (forRun("flaky", started.id).length > 0 ? forRun("flaky", started.id) : undefined), 15_000, "the retried notification");
    expect(delivery!.headers["x-gantry-delivery"]).toBe(flakyFailed!);
    expect(delivery!.path).toBe("/flaky");
    expect(delivery!.json.event).toBe("run.finished");
    const { extension } = (await (await gantry.api("/extensions/notify")).json()) as { extension: { log: string[] } };
    const line = extension.log.find((entry) => entry.includes(`flaky#${started.id}`));
    expect(line).toContain("HTTP 503");
    expect(line).toContain("retrying");
    expect(line).not.toContain(String(receiver.port));
  });

  it("sends nothing when the URL's secret is not set, and logs it without a value", async () => {
    const started = await startRun(gantry.api, "default/unset");
    expect((await waitForRun(gantry.api, "default/unset", started.id)).state).toBe("successful");
    const line = await waitFor(
      async () => {
        const { extension } = (await (await gantry.api("/extensions/notify")).json()) as { extension: { log: string[] } };
        return extension.log.find((entry) => entry.includes(`unset#${started.id}`));
      },
      15_000,
      "the missing secret in the notify log",
    );
    expect(line).toContain('secret "nowhere_url"');
    expect(line).toContain("nothing sent");
    expect(forRun("unset", started.id)).toHaveLength(0);
    // No line of the log holds the URL or the key.
    const { extension } = (await (await gantry.api("/extensions/notify")).json()) as { extension: { log: string[] } };
    expect(extension.log.join("\n")).not.toContain(String(receiver.port));
    expect(extension.log.join("\n")).not.toContain(HOOK_KEY);
  });
});

describe("pipelineEventsFor", () => {
  const at = new Date("2026-12-06T10:00:00Z");
  const gate = { message: "ok?", approvers: ["release"], decideBy: "2026-12-07T10:00:00.000Z" };
  const decision = { outcome: "approved" as const, by: "ana", userId: "u1", tokenId: "t1", at: "2026-12-06T10:05:00.000Z" };
  const run = (change: Partial<EventRun> = {}): EventRun => ({ namespace: "ops", pipelineId: "deploy", id: 7, state: "running", reason: null, tasks: [{ taskId: "gate", gate, decision: null }], ...change });
  const kinds = (events: { kind: string }[]) => events.map((event) => event.kind);

  it("makes a run's end its state's event, then run.finished", () => {
    expect(kinds(pipelineEventsFor("run.finished", undefined, run({ state: "cancelled", reason: "cancelled by ana" }), "http://g", at))).toEqual(["run.cancelled", "run.finished"]);
    expect(pipelineEventsFor("run.finished", undefined, run(), "http://g", at)).toEqual([]);
  });

  it("tells a start as running, even when the run was read after its end", () => {
    const [started] = pipelineEventsFor("run.started", undefined, run({ state: "failed", reason: "task a failed" }), "http://g", at);
    expect(started).toEqual({ kind: "run.started", namespace: "ops", pipeline: "deploy", run: 7, url: "http://g/pipelines/ops/deploy/runs/7", state: "running", at: at.toISOString() });
  });

  it("gives a waiting gate its links, and no waiting for a gate decided already", () => {
    const [waiting] = pipelineEventsFor("task.waiting", "gate", run(), "http://g", at);
    expect(waiting?.approval).toEqual({
      message: "ok?",
      approvers: ["release"],
      decideBy: gate.decideBy,
      links: { page: "http://g/pipelines/ops/deploy/runs/7", approve: "http://g/api/v1/pipelines/ops/deploy/runs/7/tasks/gate/approve", reject: "http://g/api/v1/pipelines/ops/deploy/runs/7/tasks/gate/reject" },
    });
    expect(pipelineEventsFor("task.waiting", "gate", run({ tasks: [{ taskId: "gate", gate, decision }] }), "http://g", at)).toEqual([]);
  });

  it("carries a decision without ids, and only for its own outcome", () => {
    const decided = run({ tasks: [{ taskId: "gate", gate, decision }] });
    const [approved] = pipelineEventsFor("approval.approved", "gate", decided, "http://g", at);
    expect(approved?.approval?.decision).toEqual({ outcome: "approved", by: "ana", at: decision.at });
    expect(pipelineEventsFor("approval.rejected", "gate", decided, "http://g", at)).toEqual([]);
    expect(pipelineEventsFor("approval.approved", "other", decided, "http://g", at)).toEqual([]);
  });
});
