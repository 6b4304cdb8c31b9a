// Issue 11: upper-case hex webhook signatures were accepted. Both the generic webhook and
// the github receiver take exactly what GitHub sends — `sha256=` and lowercase hex — and
// answer anything else (upper or mixed case included) with 401, starting nothing.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { signBody } from "../../app/domain/hmac-signature.ts";
import { startTestGantry, waitFor, type TestGantry } from "../helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(60_000);

const HOOK_SECRET = "generic-hook-secret";
const GITHUB_SECRET = "github-app-webhook-secret";

const HOOKED = `
import { definePipeline, run, secret, webhook } from "gantry";
export default definePipeline({ id: "signed", triggers: [webhook({ secret: secret("hook_secret") })], tasks: { a: run(() => {}) } });
`;

let gantry: TestGantry;
const encoder = new TextEncoder();

/** The same signature with its hex digits upper-cased (a..f only: the digest is unchanged). */
const upper = (signature: string) => `sha256=${signature.slice("sha256=".length).toUpperCase()}`;
/** One letter upper-cased: still the same digest, still not what GitHub sends. */
const mixed = (signature: string) => {
  const hex = signature.slice("sha256=".length);
  const at = hex.search(/[a-f]/);
  return `sha256=${hex.slice(0, at)}${hex[at]!.toUpperCase()}${hex.slice(at + 1)}`;
};

beforeAll(async () => {
  const pipelinesDir = tempDir("gantry-pipelines-");
  writeFile(join(pipelinesDir, "signed.ts"), HOOKED);
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  gantry = await startTestGantry({
    pipelinesDir,
    env: {
      GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions"),
      GANTRY_EXTENSIONS_CONFIG: JSON.stringify({
        github: { appId: 1, privateKey: privateKey.export({ type: "pkcs1", format: "pem" }).toString(), webhookSecret: GITHUB_SECRET, apiUrl: "http://127.0.0.1:9" },
      }),
    },
  });
  expect((await gantry.api("/pipelines/default/signed/secrets/hook_secret", { method: "PUT", body: JSON.stringify({ value: HOOK_SECRET }) })).status).toBe(201);
  await waitFor(async () => ((await (await gantry.api("/extensions/github")).json()) as { extension: { state: string } }).extension.state === "running", 15_000, "the github extension");
});

afterAll(async () => {
  await gantry?.stop();
});

async function runCount(): Promise<number> {
  return ((await (await gantry.api("/pipelines/default/signed/runs?limit=500")).json()) as { runs: unknown[] }).runs.length;
}

const postGeneric = (body: Uint8Array, signature: string) =>
  fetch(`${gantry.hooksUrl}/hooks/webhook/default/signed`, { method: "POST", headers: { "content-type": "application/json", "x-gantry-signature-256": signature }, body });

const postGithub = (body: Uint8Array, signature: string) =>
  fetch(`${gantry.hooksUrl}/hooks/github`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "ping", "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": signature },
    body,
  });

describe("generic webhook signatures", () => {
  it("accepts lowercase hex and refuses the same digest in upper or mixed case with 401", async () => {
    // The digest must hold letters for its case to change (fixed secret and body: it does).
    const body = encoder.encode(JSON.stringify({ ref: "main" }));
    const signature = signBody(HOOK_SECRET, body);
    expect(signature).toMatch(/[a-f]/);
    const before = await runCount();
    for (const wrongCase of [upper(signature), mixed(signature)]) {
      const response = await postGeneric(body, wrongCase);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
    expect(await runCount()).toBe(before);
    expect((await postGeneric(body, signature)).status).toBe(202);
    expect(await runCount()).toBe(before + 1);
  });
});

describe("github webhook signatures", () => {
  it("accepts lowercase hex and refuses the same digest in upper or mixed case with 401", async () => {
    const body = encoder.encode(JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 }));
    const signature = signBody(GITHUB_SECRET, body);
    expect(signature).toMatch(/[a-f]/);
    for (const wrongCase of [upper(signature), mixed(signature)]) {
      const response = await postGithub(body, wrongCase);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
    const accepted = await postGithub(body, signature);
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toEqual({ runs: [] });
  });
});
