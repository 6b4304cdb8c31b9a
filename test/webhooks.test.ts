// The built-in webhook extension on a real server: signed POSTs to /hooks/webhook/<ns>/<id>
// start runs with variables from the body, bad or malformed signatures are 401s with an
// event, delivery ids start nothing twice (also after a restart), and big bodies are 413s.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout, spyOn } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { signBody } from "../app/domain/hmac-signature.ts";
import type { ExtensionHost } from "../app/extension-host/host.ts";
import { createHooksReceiver } from "../app/http/hooks/receiver.ts";
import { readLog, startTestGantry, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const EXTENSIONS_ENV = { GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions") };
const SECRET = "hook-secret-value-1234";
const LIMIT = 25 * 1024 * 1024;

// The task prints its variables as JSON, then echoes REF through Bun's shell, interpolated as
// an argument: whatever the sender put there must come out as one literal word.
const HOOKED = `
import { definePipeline, run, secret, webhook } from "gantry";
export default definePipeline({
  id: "hooked",
  triggers: [webhook({ secret: secret("hook_secret"), variables: { REF: "ref", WHO: "pusher.name", SIZE: "commits.length", HEAD: "commits.0", LONG: "long", MISSING: "not.there" } })],
  tasks: {
    show: run(async (ctx) => {
      const { REF, WHO, SIZE, HEAD, LONG, MISSING } = ctx.env;
      ctx.log("vars " + JSON.stringify({ REF, WHO, SIZE, HEAD, LONG: LONG?.length, MISSING: MISSING ?? null }));
      await ctx.$\`echo ref=\${REF ?? ""}\`;
    }),
  },
});
`;
const UNSET = `
import { definePipeline, run, secret, webhook } from "gantry";
export default definePipeline({ id: "unset", triggers: [webhook({ secret: secret("never_set") })], tasks: { a: run(() => {}) } });
`;
const PLAIN = `
import { definePipeline, run } from "gantry";
export default definePipeline({ id: "plain", tasks: { a: run(() => {}) } });
`;

type TriggeredRun = RunJson & { trigger: { kind: string; by?: string } };
interface HookAnswer {
  run?: { namespace: string; pipeline: string; id: number; duplicate: boolean };
  error?: { code: string; message: string };
}

let gantry: TestGantry;
let pipelinesDir: string;
const encoder = new TextEncoder();

async function startServer(dataDir?: string): Promise<TestGantry> {
  return startTestGantry({ pipelinesDir, ...(dataDir && { dataDir }), env: EXTENSIONS_ENV });
}

beforeAll(async () => {
  pipelinesDir = tempDir("gantry-pipelines-");
  writeFile(join(pipelinesDir, "hooked.ts"), HOOKED);
  writeFile(join(pipelinesDir, "unset.ts"), UNSET);
  writeFile(join(pipelinesDir, "plain.ts"), PLAIN);
  gantry = await startServer();
  const response = await gantry.api("/pipelines/default/hooked/secrets/hook_secret", { method: "PUT", body: JSON.stringify({ value: SECRET }) });
  expect(response.status).toBe(201);
});

afterAll(async () => {
  await gantry?.stop();
});

/** POSTs a body to /hooks/webhook/<path>, signed with `secret` unless a signature is given. */
async function deliver(
  path: string,
  body: string | Uint8Array,
  options: { secret?: string; signature?: string | null; delivery?: string } = {},
): Promise<{ status: number; body: HookAnswer }> {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const headers: Record<string, string> = { "content-type": "application/json" };
  const signature = options.signature === undefined ? signBody(options.secret ?? SECRET, bytes) : options.signature;
  if (signature !== null) headers["x-gantry-signature-256"] = signature;
  if (options.delivery !== undefined) headers["x-gantry-delivery"] = options.delivery;
  const response = await fetch(`${gantry.hooksUrl}/hooks/webhook/${path}`, { method: "POST", headers, body: bytes });
  return { status: response.status, body: (await response.json()) as HookAnswer };
}

async function runsOf(id: string): Promise<TriggeredRun[]> {
  const response = await gantry.api(`/pipelines/default/${id}/runs?limit=500`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { runs: TriggeredRun[] }).runs;
}

async function rejectedEvents(): Promise<{ pipeline: string | null; data: Record<string, unknown> }[]> {
  const response = await gantry.api("/events?limit=1000");
  const { events } = (await response.json()) as { events: { kind: string; pipeline: string | null; data: Record<string, unknown> }[] };
  return events.filter((event) => event.kind === "delivery.rejected");
}

describe("webhook trigger", () => {
  it("starts a run from a signed delivery, with variables from dotted paths of the body", async () => {
    const payload = {
      ref: "refs/heads/main",
      pusher: { name: "octo cat", email: "o@example.com" },
      commits: [{ id: "abc", n: 1 }, { id: "def" }],
      long: "x".repeat(10_000),
    };
    const answer = await deliver("default/hooked", JSON.stringify(payload));
    expect(answer.status).toBe(202);
    expect(answer.body.run).toMatchObject({ namespace: "default", pipeline: "hooked", duplicate: false });
    const run = (await waitForRun(gantry.api, "default/hooked", answer.body.run!.id)) as TriggeredRun;
    expect(run.state).toBe("successful");
    expect(run.trigger).toEqual({ kind: "webhook", by: "webhook" });
    expect(run.variables).toEqual({ REF: "refs/heads/main", WHO: "octo cat", SIZE: "2", HEAD: '{"id":"abc","n":1}', LONG: "x".repeat(4096) });
    const log = await readLog(gantry.api, "default/hooked", run.id, "show");
    expect(log).toContain(`vars {"REF":"refs/heads/main","WHO":"octo cat","SIZE":"2","HEAD":"{\\"id\\":\\"abc\\",\\"n\\":1}","LONG":4096,"MISSING":null}`);
    expect(log).toContain("ref=refs/heads/main");
  });

  it("hands a hostile branch name to the task only as a variable, never as shell text", async () => {
    const ref = "main; rm -rf / $(touch pwned) `touch pwned2` && echo INJECTED > pwned3 | cat";
    const answer = await deliver("default/hooked", JSON.stringify({ ref }));
    expect(answer.status).toBe(202);
    const run = await waitForRun(gantry.api, "default/hooked", answer.body.run!.id);
    expect(run.state).toBe("successful");
    expect(run.variables).toEqual({ REF: ref });
    const log = await readLog(gantry.api, "default/hooked", run.id, "show");
    expect(log).toContain(`ref=${ref}\n`);
    expect(log).not.toMatch(/^INJECTED$/m);
    const workspace = join(gantry.dataDir, "workspaces", "default", "hooked", String(run.id));
    for (const file of ["pwned", "pwned2", "pwned3"]) expect(existsSync(join(workspace, file))).toBe(false);
  });

  it("answers 401 with an event for a bad or missing signature, and starts nothing", async () => {
    const before = (await runsOf("hooked")).length;
    const eventsBefore = (await rejectedEvents()).length;
    const body = JSON.stringify({ ref: "main" });

    const wrongSecret = await deliver("default/hooked", body, { secret: "another-secret" });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body.error?.code).toBe("unauthorized");
    // Signed over other bytes than the ones sent (a re-serialised body does not pass).
    const otherBytes = await deliver("default/hooked", body, { signature: signBody(SECRET, JSON.stringify({ ref: "main" }, null, 2)) });
    expect(otherBytes.status).toBe(401);
    const missing = await deliver("default/hooked", body, { signature: null });
    expect(missing.status).toBe(401);

    const events = (await rejectedEvents()).slice(eventsBefore);
    expect(events.map((event) => [event.pipeline, event.data.reason, event.data.extension])).toEqual([
      ["hooked", "bad signature", "webhook"],
      ["hooked", "bad signature", "webhook"],
      ["hooked", "missing signature", "webhook"],
    ]);
    expect(JSON.stringify(events)).not.toContain(SECRET);
    expect((await runsOf("hooked")).length).toBe(before);
  });

  it("answers 401, never 500, for malformed signatures of any length", async () => {
    const before = (await runsOf("hooked")).length;
    const eventsBefore = (await rejectedEvents()).length;
    const hex = signBody(SECRET, "{}").slice("sha256=".length);
    const malformed = [
      "",
      "sha256",
      "sha256=",
      "sha256=0",
      `sha256=${hex.slice(0, 63)}`,
      `sha256=${hex}0`,
      `sha256=${hex}${hex}`,
      `sha256=${hex.slice(0, 63)}z`,
      `sha1=${hex.slice(0, 40)}`,
      `SHA256=${hex}`,
      hex,
      "x".repeat(1000),
      `sha256=${"f".repeat(993)}`,
    ];
    for (const signature of malformed) {
      const answer = await deliver("default/hooked", "{}", { signature });
      expect({ signature, status: answer.status }).toEqual({ signature, status: 401 });
      expect(answer.body.error?.code).toBe("unauthorized");
    }
    expect((await rejectedEvents()).length - eventsBefore).toBe(malformed.length);
    expect((await runsOf("hooked")).length).toBe(before);
  });

  it("answers 401 while the pipeline's secret is not set, and logs the secret's name only", async () => {
    const eventsBefore = (await rejectedEvents()).length;
    const answer = await deliver("default/unset", "{}", { secret: "anything-at-all" });
    expect(answer.status).toBe(401);
    const [event] = (await rejectedEvents()).slice(eventsBefore);
    expect(event).toMatchObject({ pipeline: "unset", data: { reason: 'secret "never_set" not set' } });
    expect(gantry.deps.extensions.get("webhook")!.log.some((line) => line.includes('secret "never_set" is not set'))).toBe(true);
    expect(await runsOf("unset")).toEqual([]);
  });

  it("answers 404 for an unknown pipeline, a pipeline without a webhook trigger and a bad path", async () => {
    expect((await deliver("default/nope", "{}")).status).toBe(404);
    expect((await deliver("default/plain", "{}")).status).toBe(404);
    expect((await deliver("hooked", "{}")).status).toBe(404);
    expect((await deliver("default/hooked/extra", "{}")).status).toBe(404);
    expect(await runsOf("plain")).toEqual([]);
  });

  it("answers 400 for a signed body that is not JSON or maps a NUL, and accepts an empty body", async () => {
    const before = (await runsOf("hooked")).length;
    expect((await deliver("default/hooked", "{not json")).status).toBe(400);
    expect((await deliver("default/hooked", new Uint8Array([0x7b, 0xff, 0x7d]))).status).toBe(400);
    // No environment variable can hold a NUL: refused up front rather than failing the task.
    expect((await deliver("default/hooked", JSON.stringify({ ref: "main\u0000x" }))).status).toBe(400);
    expect((await runsOf("hooked")).length).toBe(before);
    const empty = await deliver("default/hooked", "");
    expect(empty.status).toBe(202);
    const run = await waitForRun(gantry.api, "default/hooked", empty.body.run!.id);
    expect(run.variables).toEqual({});
  });

  it("starts one run for a delivery id, however often and however concurrently it is sent", async () => {
    const before = (await runsOf("hooked")).length;
    const body = JSON.stringify({ ref: "replayed" });
    const first = await deliver("default/hooked", body, { delivery: "delivery-1" });
    expect(first.status).toBe(202);
    expect(first.body.run!.duplicate).toBe(false);
    const again = await deliver("default/hooked", body, { delivery: "delivery-1" });
    expect(again).toEqual({ status: 202, body: { run: { ...first.body.run!, duplicate: true } } });

    // Sent ten times at once: one run, and every answer names it.
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver("default/hooked", body, { delivery: "delivery-2" })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(202));
    expect(answers.filter((answer) => !answer.body.run!.duplicate)).toHaveLength(1);
    expect(new Set(answers.map((answer) => answer.body.run!.id)).size).toBe(1);
    expect(answers[0]!.body.run!.id).not.toBe(first.body.run!.id);

    // Without a delivery id there is nothing to compare: each POST is a run.
    expect((await deliver("default/hooked", body)).body.run!.duplicate).toBe(false);
    expect((await runsOf("hooked")).length).toBe(before + 3);
  });

  it("still knows a delivery id after a restart", async () => {
    const body = JSON.stringify({ ref: "before-restart" });
    const first = await deliver("default/hooked", body, { delivery: "survives-restart" });
    expect(first.status).toBe(202);
    await waitForRun(gantry.api, "default/hooked", first.body.run!.id);
    const count = (await runsOf("hooked")).length;

    await gantry.stop();
    gantry = await startServer(gantry.dataDir);
    const replay = await deliver("default/hooked", body, { delivery: "survives-restart" });
    expect(replay).toEqual({ status: 202, body: { run: { ...first.body.run!, duplicate: true } } });
    expect((await runsOf("hooked")).length).toBe(count);
    expect((await runsOf("hooked")).filter((run) => run.variables.REF === "before-restart")).toHaveLength(1);
  });

  it("answers 413 for a body over 25 MB and starts nothing", async () => {
    const before = (await runsOf("hooked")).length;

    // Only the headers are sent: the answer comes without waiting for (or buffering) the body.
    const url = new URL(gantry.hooksUrl);
    const head = await new Promise<string>((resolve, reject) => {
      let received = "";
      void Bun.connect({
        hostname: url.hostname,
        port: Number(url.port),
        socket: {
          open(socket) {
            socket.write(
              `POST /hooks/webhook/default/hooked HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${100 * LIMIT}\r\n\r\n{"ref":`,
            );
          },
          data(socket, data) {
            received += new TextDecoder().decode(data);
            if (received.includes("\r\n\r\n")) {
              socket.end();
              resolve(received);
            }
          },
          error: (_socket, error) => reject(error),
          close: () => resolve(received),
        },
      }).catch(reject);
    });
    expect(head).toMatch(/^HTTP\/1\.1 413/);

    // The whole body, with its Content-Length, one byte over.
    const big = new Uint8Array(LIMIT + 1).fill(0x20);
    const declared = await fetch(`${gantry.hooksUrl}/hooks/webhook/default/hooked`, {
      method: "POST",
      headers: { "x-gantry-signature-256": signBody(SECRET, big) },
      body: big,
    });
    expect(declared.status).toBe(413);

    // Streamed without a Content-Length (chunked): cut off once it passes the limit.
    let sent = 0;
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > LIMIT + 4 * chunk.byteLength) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const streamed = await fetch(`${gantry.hooksUrl}/hooks/webhook/default/hooked`, {
      method: "POST",
      headers: { "x-gantry-signature-256": "sha256=" + "0".repeat(64) },
      body: stream,
    }).then(
      (response) => response.status,
      (error: Error) => error.message,
    );
    expect(streamed).toBe(413);

    expect((await runsOf("hooked")).length).toBe(before);
    // The receiver is fine afterwards.
    expect((await deliver("default/hooked", "{}")).status).toBe(202);
  });
});

describe("webhook trigger on a new pipeline", () => {
  it("accepts deliveries once the new file is loaded and its secret set", async () => {
    writeFile(join(pipelinesDir, "late.ts"), HOOKED.replace('id: "hooked"', 'id: "late"'));
    await waitFor(async () => ((await gantry.api("/pipelines/default/late")).status === 200 ? true : undefined), 15_000, "the new pipeline");
    expect((await gantry.api("/pipelines/default/late/secrets/hook_secret", { method: "PUT", body: JSON.stringify({ value: SECRET }) })).status).toBe(201);
    const answer = await waitFor(async () => {
      const sent = await deliver("default/late", JSON.stringify({ ref: "late" }));
      return sent.status === 404 ? undefined : sent;
    }, 15_000, "the subscription to reach the extension");
    expect(answer.status).toBe(202);
    expect(answer.body.run!.pipeline).toBe("late");
  });
});

describe("hooks receiver errors", () => {
  it("answers a failing extension host with a JSON 500 and a big body with a JSON 413", async () => {
    const host = { hook: () => Promise.reject(new Error("host broke")) } as unknown as ExtensionHost;
    const receiver = createHooksReceiver(host, 16);
    const logged = spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const failed = await receiver.request("/hooks/x/y", { method: "POST", body: "{}" });
      expect(failed.status).toBe(500);
      expect(await failed.json()).toEqual({ error: { code: "internal", message: "internal server error" } });
      expect(logged).toHaveBeenCalled();
    } finally {
      logged.mockRestore();
    }
    const tooLarge = { error: { code: "too_large", message: "body over 16 bytes" } };
    const declared = await receiver.request("/hooks/x", { method: "POST", headers: { "content-length": "17" }, body: "x".repeat(17) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual(tooLarge);
    const streamed = await receiver.request("/hooks/x", { method: "POST", body: new Blob(["x".repeat(17)]).stream() });
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toEqual(tooLarge);
  });
});
