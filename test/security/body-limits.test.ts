// Issue 11: the API accepted any body size (a 60 MB variables body was stored and every run
// listing repeated it). JSON and form bodies are capped at GANTRY_API_MAX_BODY (1 MiB) with a
// 413 naming the limit, declared or streamed; object uploads keep their own, larger cap.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startWithPipelines, type TestGantry } from "../helpers/gantry.ts";

setDefaultTimeout(60_000);

const PIPELINE = `
import { definePipeline, run } from "gantry";
export default definePipeline({ id: "capped", tasks: { a: run(() => {}) } });
`;
const MiB = 1024 * 1024;

let gantry: TestGantry;
let small: TestGantry;

beforeAll(async () => {
  gantry = await startWithPipelines({ "capped.ts": PIPELINE });
  small = await startWithPipelines({ "capped.ts": PIPELINE }, { env: { GANTRY_API_MAX_BODY: "4096" } });
});

afterAll(async () => {
  await gantry?.stop();
  await small?.stop();
});

/** A JSON start body of about `bytes` bytes: one variable whose value fills it. */
const bigStart = (bytes: number) => JSON.stringify({ variables: { BIG: "x".repeat(bytes) } });

/** The same bytes as a stream: no Content-Length, so the server has to count as they come. */
function streamed(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
}

async function runCount(server: TestGantry): Promise<number> {
  const response = await server.api("/pipelines/default/capped/runs?limit=500");
  return ((await response.json()) as { runs: unknown[] }).runs.length;
}

async function expectTooLarge(response: Response, limitText: string): Promise<void> {
  expect(response.status).toBe(413);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("payload_too_large");
  expect(body.error.message).toContain(limitText);
  expect(body.error.message).toContain("GANTRY_API_MAX_BODY");
}

describe("API body limit", () => {
  it("answers 413 naming the limit for a declared body over 1 MiB, and stores nothing", async () => {
    const before = await runCount(gantry);
    const response = await gantry.api("/pipelines/default/capped/runs", { method: "POST", body: bigStart(2 * MiB) });
    await expectTooLarge(response, "1 MiB");
    expect(await runCount(gantry)).toBe(before);
  });

  it("answers 413 for a streamed body once it passes the limit", async () => {
    const before = await runCount(gantry);
    const response = await gantry.api("/pipelines/default/capped/runs", { method: "POST", body: streamed(bigStart(3 * MiB)) });
    await expectTooLarge(response, "1 MiB");
    expect(await runCount(gantry)).toBe(before);
  });

  it("caps every JSON route, e.g. a secret's value, before authentication is even looked at", async () => {
    await expectTooLarge(await gantry.api("/secrets/huge", { method: "PUT", body: JSON.stringify({ value: "s".repeat(2 * MiB) }) }), "1 MiB");
    const anonymous = await fetch(`${gantry.url}/api/v1/tokens`, { method: "POST", headers: { "content-type": "application/json" }, body: "x".repeat(2 * MiB) });
    expect(anonymous.status).toBe(413);
  });

  it("follows GANTRY_API_MAX_BODY", async () => {
    const under = await small.api("/pipelines/default/capped/runs", { method: "POST", body: bigStart(3000) });
    expect(under.status).toBe(201);
    await expectTooLarge(await small.api("/pipelines/default/capped/runs", { method: "POST", body: bigStart(5000) }), "4096 bytes");
    await expectTooLarge(await small.api("/pipelines/default/capped/runs", { method: "POST", body: streamed(bigStart(5000)) }), "4096 bytes");
  });

  it("caps JSON bodies but leaves raw object uploads to the object limit", async () => {
    await expectTooLarge(await gantry.api("/pipelines/default/capped/runs", { method: "PUT", body: bigStart(2 * MiB) }), "1 MiB");
    const bytes = new Uint8Array(2 * MiB).fill(7);
    const response = await gantry.api("/pipelines/default/capped/objects/big.bin", { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" } });
    expect(response.status).toBe(201);
    const run = await gantry.api("/pipelines/default/capped/runs", { method: "POST", body: "{}" });
    expect(run.status).toBe(201);
    const runId = ((await run.json()) as { run: { id: number } }).run.id;
    const streamedUpload = await gantry.api(`/pipelines/default/capped/runs/${runId}/objects/big.bin`, {
      method: "PUT",
      body: streamed("y".repeat(2 * MiB)),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(streamedUpload.status).toBe(201);
  });
});

describe("web form body limit", () => {
  it("answers a form post over the limit with 413 and a page, but lets the objects page's upload through to its own limit", async () => {
    const response = await fetch(`${gantry.url}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: `token=${"a".repeat(2 * MiB)}`,
    });
    expect(response.status).toBe(413);
    expect(await response.text()).toContain("GANTRY_API_MAX_BODY");

    const form = new FormData();
    form.set("file", new Blob([new Uint8Array(2 * MiB)]), "big.bin");
    // No session: the upload passes the body cap and is refused by the session check instead.
    const upload = await fetch(`${gantry.url}/pipelines/default/capped/objects`, { method: "POST", redirect: "manual", body: form });
    expect(upload.status).not.toBe(413);
  });
});
