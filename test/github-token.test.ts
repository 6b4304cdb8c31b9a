// The reserved secret github-app-token on a real server with the real github extension, against
// a fake GitHub API on 127.0.0.1: a run started by a delivery gives its tasks a fresh
// installation token, read-only and limited to the delivery's repository, masked in logs and
// never stored; a run started by hand, or from a fork, gets the empty string and still runs.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GITHUB_INSTALLATION_VARIABLE, GITHUB_TOKEN_SECRET } from "../app/domain/github-token.ts";
import { signBody } from "../app/domain/hmac-signature.ts";
import { readLog, startRun, startTestGantry, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const WEBHOOK_SECRET = "github-token-test-webhook-secret";

// Two tasks that start together, each telling what it got: the length, a hash to compare with
// the token the fake issued, and the value itself (which the log must mask).
const PIPELINE = `
import { definePipeline, github, run, secret } from "gantry";
const show = (ctx) => {
  const token = ctx.env.TOKEN ?? "missing";
  const hash = new Bun.CryptoHasher("sha256").update(token).digest("hex");
  ctx.log("token length " + token.length + " sha256 " + hash);
  ctx.log("token value [" + token + "]");
  ctx.log("installation " + ctx.env.${GITHUB_INSTALLATION_VARIABLE});
};
export default definePipeline({
  id: "private",
  triggers: [github({ repo: "acme/api", events: ["push", "pull_request"], branches: ["main"] })],
  tasks: {
    a: run(show, { env: { TOKEN: secret("${GITHUB_TOKEN_SECRET}") } }),
    b: run(show, { env: { TOKEN: secret("${GITHUB_TOKEN_SECRET}") } }),
  },
});
`;

interface TokenMint {
  installation: string;
  body: Record<string, unknown> | undefined;
  token: string;
}

let gantry: TestGantry;
let fakeGithub: ReturnType<typeof Bun.serve>;
/** Every installation token the fake GitHub issued, in order. */
const issued: TokenMint[] = [];

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(REPO_ROOT, "test", "fixtures", "github", `${name}.json`), "utf8"));
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
/** Tokens minted for tasks: those asked with a body (repositories and permissions). */
const taskMints = () => issued.filter((mint) => mint.body !== undefined);

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString("base64");
  return `-----BEGIN ${label}-----\n${base64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

beforeAll(async () => {
  fakeGithub = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const text = await request.text();
      const mint = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
      if (request.method === "POST" && mint) {
        // A new token each time, as GitHub does.
        if (mint[1] === "5000") return Response.json({ message: "Bad credentials" }, { status: 401 });
        const token = `ghs_${crypto.randomUUID().replaceAll("-", "")}`;
        issued.push({ installation: mint[1]!, body: text ? JSON.parse(text) : undefined, token });
        return Response.json({ token, expires_at: new Date(Date.now() + 3_600_000).toISOString() }, { status: 201 });
      }
      if (request.method === "POST" && /^\/repos\/[^/]+\/[^/]+\/check-runs$/.test(url.pathname)) return Response.json({ id: 1 }, { status: 201 });
      return Response.json({ message: "Not Found" }, { status: 404 });
    },
  });
  const keys = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const privateKey = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const pipelinesDir = tempDir("gantry-pipelines-");
  writeFile(join(pipelinesDir, "private.ts"), PIPELINE);
  gantry = await startTestGantry({
    pipelinesDir,
    env: {
      GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions"),
      GANTRY_EXTENSIONS_CONFIG: JSON.stringify({
        github: { appId: 777, privateKey, webhookSecret: WEBHOOK_SECRET, apiUrl: `http://127.0.0.1:${fakeGithub.port}` },
      }),
    },
  });
  const status = (await (await gantry.api("/extensions/github")).json()) as { extension: { state: string } };
  expect(status.extension.state).toBe("running");
});

afterAll(async () => {
  await gantry?.stop();
  fakeGithub?.stop(true);
});

async function deliver(event: string, payload: unknown): Promise<{ namespace: string; pipeline: string; id: number }[]> {
  const body = new TextEncoder().encode(JSON.stringify(payload));
  const response = await fetch(`${gantry.hooksUrl}/hooks/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": signBody(WEBHOOK_SECRET, body),
    },
    body,
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { runs: { namespace: string; pipeline: string; id: number }[] }).runs;
}

/** What a task said it got. */
async function seen(run: number, task: string): Promise<{ length: number; hash: string; log: string }> {
  const log = await readLog(gantry.api, "default/private", run, task);
  const match = /token length (\d+) sha256 ([0-9a-f]{64})/.exec(log);
  expect(match).not.toBeNull();
  return { length: Number(match![1]), hash: match![2]!, log };
}

describe("secret github-app-token", () => {
  let run: RunJson;
  let token: string;

  it("gives the tasks of a run started by a push a fresh installation token of the delivery's repository", async () => {
    const payload = fixture("push");
    const [started] = await deliver("push", payload);
    run = await waitForRun(gantry.api, "default/private", started!.id);
    expect(run.state).toBe("successful");

    // One read-only token of acme/api for the run (the two tasks shared it); the check run's comes apart.
    const mints = taskMints();
    expect(mints).toHaveLength(1);
    expect(mints[0]).toMatchObject({ installation: String(payload.installation.id), body: { repositories: ["api"], permissions: { contents: "read" } } });
    token = mints[0]!.token;
    for (const task of ["a", "b"]) {
      const got = await seen(run.id, task);
      expect(got).toMatchObject({ length: token.length, hash: sha256(token) });
      expect(got.log).toContain("installation 4242");
    }
  });

  it("masks the token in the log and keeps it out of the run and its events", async () => {
    const log = await readLog(gantry.api, "default/private", run.id, "a");
    expect(log).toContain("token value [***]");
    expect(log).not.toContain(token);
    expect(run.variables[GITHUB_INSTALLATION_VARIABLE]).toBe("4242");
    const runJson = await (await gantry.api(`/pipelines/default/private/runs/${run.id}`)).text();
    expect(runJson).not.toContain(token);
    const events = await (await gantry.api("/events?limit=1000")).text();
    expect(events).toContain(`"run":${run.id}`);
    expect(events).not.toContain(token);
    // Never stored: neither the database nor its write-ahead log has seen it.
    for (const file of ["gantry.db", "gantry.db-wal"]) {
      const path = join(gantry.dataDir, file);
      if (existsSync(path)) expect(readFileSync(path).includes(Buffer.from(token))).toBe(false);
    }
  });

  it("gives a re-run of that run a token too: it keeps the delivery's installation", async () => {
    const response = await gantry.api(`/pipelines/default/private/runs/${run.id}/rerun`, { method: "POST", body: JSON.stringify({ only: "all" }) });
    expect(response.status).toBe(201);
    const { run: started } = (await response.json()) as { run: RunJson };
    const ended = await waitForRun(gantry.api, "default/private", started.id);
    expect(ended).toMatchObject({ state: "successful", trigger: { kind: "api" } });
    // Still within the token's hour: the same token, not a second one.
    expect(taskMints()).toHaveLength(1);
    expect(await seen(ended.id, "a")).toMatchObject({ length: token.length, hash: sha256(token) });
  });

  it("gives a run started through the API the empty string, and the run still succeeds", async () => {
    const before = issued.length;
    const started = await startRun(gantry.api, "default/private");
    const ended = await waitForRun(gantry.api, "default/private", started.id);
    expect(ended.state).toBe("successful");
    expect(ended.variables[GITHUB_INSTALLATION_VARIABLE]).toBeUndefined();
    for (const task of ["a", "b"]) expect(await seen(ended.id, task)).toMatchObject({ length: 0, hash: sha256("") });
    expect(issued.length).toBe(before);
  });

  it("falls back to a stored secret of that name when the App gives none, e.g. for a run started by hand", async () => {
    const stored = "github_pat_stored_fallback_value_123";
    const path = `/pipelines/default/private/secrets/${GITHUB_TOKEN_SECRET}`;
    expect((await gantry.api(path, { method: "PUT", body: JSON.stringify({ value: stored }) })).status).toBe(201);
    try {
      const started = await startRun(gantry.api, "default/private");
      const ended = await waitForRun(gantry.api, "default/private", started.id);
      expect(ended.state).toBe("successful");
      const got = await seen(ended.id, "a");
      expect(got).toMatchObject({ length: stored.length, hash: sha256(stored) });
      expect(got.log).not.toContain(stored);
    } finally {
      expect((await gantry.api(path, { method: "DELETE" })).status).toBe(200);
    }
  });

  it("gives a run whose delivery names no installation the empty string", async () => {
    const before = issued.length;
    const { installation: _, ...payload } = fixture("push");
    const [started] = await deliver("push", payload);
    const ended = await waitForRun(gantry.api, "default/private", started!.id);
    expect(ended.state).toBe("successful");
    expect(ended.variables[GITHUB_INSTALLATION_VARIABLE]).toBeUndefined();
    expect(await seen(ended.id, "a")).toMatchObject({ length: 0 });
    expect(issued.length).toBe(before);
  });

  it("fails the task with GitHub's answer when the token cannot be minted", async () => {
    const payload = fixture("push");
    payload.installation.id = 5000;
    const [started] = await deliver("push", payload);
    const ended = await waitForRun(gantry.api, "default/private", started!.id);
    expect(ended.state).toBe("failed");
    const task = ended.tasks.find((execution) => execution.id === "a")!;
    expect(task.state).toBe("failed");
    expect(task.reason).toContain('secret "github-app-token" (for TOKEN) cannot be read: extension github: POST /app/installations/5000/access_tokens: 401');
  });

  it("answers no token from an extension that provides none, or one that does not exist", async () => {
    const request = { namespace: "default", pipeline: "private", run: 1, secret: GITHUB_TOKEN_SECRET, variables: { [GITHUB_INSTALLATION_VARIABLE]: "4242" } };
    // webhook, which no pipeline here uses, is idle (and stays so: a token request starts nothing).
    expect(gantry.deps.extensions.get("webhook")?.state).toBe("idle");
    expect(await gantry.deps.extensions.provideToken("webhook", request)).toBeUndefined();
    expect(gantry.deps.extensions.get("webhook")?.state).toBe("idle");
    expect(await gantry.deps.extensions.provideToken("no-such-extension", request)).toBeUndefined();
    // The github extension itself wants the repository to scope the token to.
    expect(await gantry.deps.extensions.provideToken("github", request)).toBeUndefined();
  });

  it("gives a pull request from a fork the empty string rather than a token, without failing it", async () => {
    const before = taskMints().length;
    const [started] = await deliver("pull_request", fixture("pull_request-fork"));
    const ended = await waitForRun(gantry.api, "default/private", started!.id);
    expect(ended.state).toBe("successful");
    expect(ended.variables[GITHUB_INSTALLATION_VARIABLE]).toBe("4242");
    for (const task of ["a", "b"]) expect(await seen(ended.id, task)).toMatchObject({ length: 0, hash: sha256("") });
    expect(taskMints().length).toBe(before);
  });
});
