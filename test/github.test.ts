// The built-in github extension on a real server, against a fake GitHub API on 127.0.0.1 and
// recorded payloads: signed deliveries start the matching pipelines with GANTRY_GITHUB_*
// variables, fork pull requests get no secrets, replays start nothing, and each run's result
// goes back as a check run, authenticated with an RS256 App JWT and an installation token.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { signBody } from "../app/domain/hmac-signature.ts";
import { readLog, startTestGantry, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const WEBHOOK_SECRET = "github-app-webhook-secret";
const APP_ID = 12345;
const DEPLOY_TOKEN = "deploy-token-value-9876";

// One task shows what it was told, the other needs a secret: a fork's run must fail that one.
const PIPELINE = `
import { definePipeline, github, run, secret } from "gantry";
export default definePipeline({
  id: "gh",
  triggers: [github({ repo: "acme/api", events: ["push", "pull_request", "release"], branches: ["main"] })],
  tasks: {
    show: run((ctx) => {
      const github = Object.fromEntries(Object.entries(ctx.env).filter(([name]) => name.startsWith("GANTRY_GITHUB_")).sort());
      ctx.log("github " + JSON.stringify(github));
    }),
    deploy: run((ctx) => ctx.log("token length " + ctx.env.TOKEN?.length), { env: { TOKEN: secret("deploy_token") } }),
  },
});
`;
// Only opened pull requests, any branch.
const OPENED_ONLY = `
import { definePipeline, github, run } from "gantry";
export default definePipeline({
  id: "gh-opened",
  triggers: [github({ repo: "ACME/API", events: ["pull_request.closed"] })],
  tasks: { a: run(() => {}) },
});
`;

interface Recorded {
  method: string;
  path: string;
  authorization: string | null;
  body: Record<string, unknown> | undefined;
}
interface HookAnswer {
  runs?: { namespace: string; pipeline: string; id: number; duplicate: boolean }[];
  error?: { code: string; message: string };
}

let gantry: TestGantry;
let fakeGithub: ReturnType<typeof Bun.serve>;
let publicKey: CryptoKey;
const requests: Recorded[] = [];
let deliveries = 0;

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(REPO_ROOT, "test", "fixtures", "github", `${name}.json`), "utf8"));

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
      requests.push({ method: request.method, path: url.pathname, authorization: request.headers.get("authorization"), body: text ? JSON.parse(text) : undefined });
      if (request.method === "POST" && /^\/app\/installations\/\d+\/access_tokens$/.test(url.pathname)) {
        return Response.json({ token: "ghs_installation_token", expires_at: new Date(Date.now() + 3_600_000).toISOString() }, { status: 201 });
      }
      if (request.method === "POST" && /^\/repos\/[^/]+\/[^/]+\/check-runs$/.test(url.pathname)) return Response.json({ id: 1000 + requests.length }, { status: 201 });
      if (request.method === "PATCH" && /^\/repos\/[^/]+\/[^/]+\/check-runs\/\d+$/.test(url.pathname)) return Response.json({ id: Number(url.pathname.split("/").pop()) });
      return Response.json({ message: "Not Found" }, { status: 404 });
    },
  });
  const keys = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  publicKey = keys.publicKey;
  // GitHub hands out PKCS#1 keys ("BEGIN RSA PRIVATE KEY"); the extension must take that form.
  const pkcs8 = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKey = createPrivateKey(pkcs8).export({ type: "pkcs1", format: "pem" }).toString();
  expect(privateKey).toContain("BEGIN RSA PRIVATE KEY");

  const pipelinesDir = tempDir("gantry-pipelines-");
  writeFile(join(pipelinesDir, "gh.ts"), PIPELINE);
  writeFile(join(pipelinesDir, "gh-opened.ts"), OPENED_ONLY);
  gantry = await startTestGantry({
    pipelinesDir,
    env: {
      GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions"),
      GANTRY_EXTENSIONS_CONFIG: JSON.stringify({
        github: { appId: APP_ID, privateKey, webhookSecret: WEBHOOK_SECRET, apiUrl: `http://127.0.0.1:${fakeGithub.port}` },
      }),
    },
  });
  const response = await gantry.api("/pipelines/default/gh/secrets/deploy_token", { method: "PUT", body: JSON.stringify({ value: DEPLOY_TOKEN }) });
  expect(response.status).toBe(201);
  const status = (await (await gantry.api("/extensions/github")).json()) as { extension: { state: string; error?: string } };
  expect(status.extension).toMatchObject({ state: "running" });
});

afterAll(async () => {
  await gantry?.stop();
  fakeGithub?.stop(true);
});

/** POSTs a payload to /hooks/github as GitHub does, signed with the App's webhook secret unless told otherwise. */
async function deliver(event: string, payload: unknown, options: { signature?: string; delivery?: string } = {}) {
  const body = new TextEncoder().encode(JSON.stringify(payload));
  const delivery = options.delivery ?? `delivery-${++deliveries}-${crypto.randomUUID()}`;
  const response = await fetch(`${gantry.hooksUrl}/hooks/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/abc123",
      "x-github-event": event,
      "x-github-delivery": delivery,
      "x-hub-signature-256": options.signature ?? signBody(WEBHOOK_SECRET, body),
    },
    body,
  });
  return { status: response.status, body: (await response.json()) as HookAnswer, delivery };
}

async function runCount(pipeline: string): Promise<number> {
  const response = await gantry.api(`/pipelines/default/${pipeline}/runs?limit=500`);
  return ((await response.json()) as { runs: unknown[] }).runs.length;
}

/** The GANTRY_GITHUB_* variables the show task saw. */
async function shown(run: number): Promise<Record<string, string>> {
  const log = await readLog(gantry.api, "default/gh", run, "show");
  return JSON.parse(/github (\{.*\})/.exec(log)![1]!);
}

/** The check run made in progress for a commit, and the PATCH that completed it. */
async function checkRunFor(sha: string): Promise<{ started: Recorded; completed: Recorded }> {
  const started = await waitFor(() => requests.find((request) => request.method === "POST" && request.path === "/repos/acme/api/check-runs" && request.body?.head_sha === sha), 15_000, `a check run for ${sha}`);
  const id = 1000 + requests.indexOf(started) + 1;
  const completed = await waitFor(() => requests.find((request) => request.method === "PATCH" && request.path === `/repos/acme/api/check-runs/${id}`), 15_000, `check run ${id} completed`);
  return { started, completed };
}

async function verifyJwt(jwt: string): Promise<Record<string, unknown>> {
  const [header, claims, signature] = jwt.split(".");
  const valid = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", publicKey, Buffer.from(signature!, "base64url"), new TextEncoder().encode(`${header}.${claims}`));
  expect(valid).toBe(true);
  expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toEqual({ alg: "RS256", typ: "JWT" });
  return JSON.parse(Buffer.from(claims!, "base64url").toString());
}

describe("github extension", () => {
  it("rejects a delivery without a valid X-Hub-Signature-256 and records why", async () => {
    const bad = await deliver("push", fixture("push"), { signature: signBody("not-the-secret", "{}") });
    expect(bad.status).toBe(401);
    expect(bad.body.error?.code).toBe("unauthorized");
    const missing = await fetch(`${gantry.hooksUrl}/hooks/github`, { method: "POST", headers: { "x-github-event": "push" }, body: "{}" });
    expect(missing.status).toBe(401);
    const { events } = (await (await gantry.api("/events?limit=1000")).json()) as { events: { kind: string; data: Record<string, unknown> }[] };
    const rejected = events.filter((event) => event.kind === "delivery.rejected" && event.data.extension === "github");
    expect(rejected.map((event) => event.data.reason).sort()).toEqual(["bad signature", "missing signature"]);
    expect(rejected.find((event) => event.data.reason === "bad signature")?.data.delivery).toBe(bad.delivery);
    expect(await runCount("gh")).toBe(0);
  });

  it("starts a run from a push to main with the event's fields, and reports its check run", async () => {
    const payload = fixture("push");
    const answer = await deliver("push", payload);
    expect(answer.status).toBe(202);
    expect(answer.body.runs).toEqual([{ namespace: "default", pipeline: "gh", id: expect.any(Number), duplicate: false }]);
    const run = (await waitForRun(gantry.api, "default/gh", answer.body.runs![0]!.id)) as RunJson & { trigger: { kind: string } };
    expect(run.state).toBe("successful");
    expect(run.trigger.kind).toBe("github");
    const expected = {
      GANTRY_GITHUB_ACTOR: "octocat",
      GANTRY_GITHUB_DELIVERY: answer.delivery,
      GANTRY_GITHUB_EVENT: "push",
      GANTRY_GITHUB_INSTALLATION: "4242",
      GANTRY_GITHUB_REF: "refs/heads/main",
      GANTRY_GITHUB_REPO: "acme/api",
      GANTRY_GITHUB_SHA: payload.after,
    };
    expect(await shown(run.id)).toEqual(expected);
    expect(run.variables).toEqual(expected);
    expect(await readLog(gantry.api, "default/gh", run.id, "deploy")).toContain(`token length ${DEPLOY_TOKEN.length}`);

    const check = await checkRunFor(payload.after);
    const runPage = `${gantry.url}/pipelines/default/gh/runs/${run.id}`;
    // In progress as the run starts, linking to its page; completed with its conclusion at its end.
    expect(check.started.authorization).toBe("Bearer ghs_installation_token");
    expect(check.started.body).toMatchObject({ name: "gantry/default/gh", head_sha: payload.after, status: "in_progress", details_url: runPage, external_id: `default/gh#${run.id}` });
    expect(check.completed.authorization).toBe("Bearer ghs_installation_token");
    expect(check.completed.body).toMatchObject({ status: "completed", conclusion: "success", details_url: runPage, output: { title: `Run ${run.id}: successful` } });
    expect((check.completed.body!.output as { summary: string }).summary).toBe(`Gantry run default/gh#${run.id} ended **successful**.\n\n[The run in Gantry](${runPage})`);
    const tokenRequest = requests.find((request) => request.path === `/app/installations/${payload.installation.id}/access_tokens`);
    expect(tokenRequest?.method).toBe("POST");
    const claims = await verifyJwt(tokenRequest!.authorization!.replace(/^bearer /i, ""));
    expect(claims.iss).toBe(String(APP_ID));
    const now = Date.now() / 1000;
    expect(claims.iat as number).toBeLessThanOrEqual(now);
    expect(claims.exp as number).toBeGreaterThan(now);
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(600);
  });

  it("starts nothing for a push to another branch, another repository or an unwatched event", async () => {
    const before = await runCount("gh");
    const otherBranch = { ...fixture("push"), ref: "refs/heads/feature/x" };
    expect(await deliver("push", otherBranch)).toMatchObject({ status: 200, body: { runs: [] } });
    const otherRepo = fixture("push");
    otherRepo.repository.full_name = "acme/web";
    expect(await deliver("push", otherRepo)).toMatchObject({ status: 200, body: { runs: [] } });
    expect(await deliver("issues", { action: "opened", repository: fixture("push").repository })).toMatchObject({ status: 200, body: { runs: [] } });
    expect(await runCount("gh")).toBe(before);
  });

  it("starts a run from a pull request into main, with its number, title and head commit", async () => {
    const payload = fixture("pull_request");
    const answer = await deliver("pull_request", payload);
    expect(answer.status).toBe(202);
    // gh-opened wants only closed pull requests: the action filter leaves it out.
    expect(answer.body.runs!.map((run) => run.pipeline)).toEqual(["gh"]);
    const run = await waitForRun(gantry.api, "default/gh", answer.body.runs![0]!.id);
    expect(run.state).toBe("successful");
    expect(await shown(run.id)).toEqual({
      GANTRY_GITHUB_ACTION: "opened",
      GANTRY_GITHUB_ACTOR: "octocat",
      GANTRY_GITHUB_BASE_REF: "main",
      GANTRY_GITHUB_DELIVERY: answer.delivery,
      GANTRY_GITHUB_EVENT: "pull_request",
      GANTRY_GITHUB_INSTALLATION: "4242",
      GANTRY_GITHUB_HEAD_REF: "feature/health",
      GANTRY_GITHUB_PR_NUMBER: "17",
      GANTRY_GITHUB_PR_TITLE: "Add health endpoint",
      GANTRY_GITHUB_REF: "refs/pull/17/head",
      GANTRY_GITHUB_REPO: "acme/api",
      GANTRY_GITHUB_SHA: payload.pull_request.head.sha,
    });
    expect((await checkRunFor(payload.pull_request.head.sha)).completed).toMatchObject({ body: { conclusion: "success" } });

    // An action filter matches its action, and repository names match whatever their case.
    const closed = await deliver("pull_request", { ...payload, action: "closed" });
    expect(closed.body.runs!.map((run) => run.pipeline).sort()).toEqual(["gh", "gh-opened"]);
    for (const started of closed.body.runs!) await waitForRun(gantry.api, `default/${started.pipeline}`, started.id);
  });

  it("withholds secrets from a pull request from a fork: the task that needs one fails", async () => {
    const payload = fixture("pull_request-fork");
    const answer = await deliver("pull_request", payload);
    expect(answer.status).toBe(202);
    const run = await waitForRun(gantry.api, "default/gh", answer.body.runs![0]!.id);
    expect(run.state).toBe("failed");
    const tasks = Object.fromEntries(run.tasks.map((task) => [task.id, task]));
    expect(tasks.show?.state).toBe("successful");
    expect(tasks.deploy).toMatchObject({ state: "failed", reason: "secrets are withheld from runs triggered by pull requests from forks" });
    expect(await readLog(gantry.api, "default/gh", run.id, "deploy")).not.toContain("token length");
    expect((await shown(run.id)).GANTRY_GITHUB_ACTOR).toBe("mallory");
    const check = await checkRunFor(payload.pull_request.head.sha);
    expect(check.started.body).toMatchObject({ name: "gantry/default/gh", status: "in_progress" });
    expect(check.completed.body).toMatchObject({ conclusion: "failure", output: { title: `Run ${run.id}: failed (1 of ${run.tasks.length} tasks failed)` } });
    // The summary says which task failed and why.
    expect((check.completed.body!.output as { summary: string }).summary).toContain("Failed tasks:\n- `deploy`: secrets are withheld from runs triggered by pull requests from forks");
  });

  it("starts a run from a release whatever its branch, with the tag", async () => {
    const payload = { ...fixture("release"), release: { ...fixture("release").release, target_commitish: "release-1.x" } };
    const answer = await deliver("release", payload);
    expect(answer.status).toBe(202);
    const run = await waitForRun(gantry.api, "default/gh", answer.body.runs![0]!.id);
    expect(run.state).toBe("successful");
    expect(await shown(run.id)).toEqual({
      GANTRY_GITHUB_ACTION: "published",
      GANTRY_GITHUB_ACTOR: "octocat",
      GANTRY_GITHUB_DELIVERY: answer.delivery,
      GANTRY_GITHUB_EVENT: "release",
      GANTRY_GITHUB_INSTALLATION: "4242",
      GANTRY_GITHUB_REF: "refs/tags/v1.2.0",
      GANTRY_GITHUB_RELEASE_TAG: "v1.2.0",
      GANTRY_GITHUB_REPO: "acme/api",
    });
  });

  it("starts nothing twice for a replayed X-GitHub-Delivery", async () => {
    const first = await deliver("push", fixture("push"), { delivery: "replayed-delivery-1" });
    expect(first.status).toBe(202);
    await waitForRun(gantry.api, "default/gh", first.body.runs![0]!.id);
    const before = await runCount("gh");
    const again = await deliver("push", fixture("push"), { delivery: "replayed-delivery-1" });
    expect(again.status).toBe(202);
    expect(again.body.runs).toEqual([{ namespace: "default", pipeline: "gh", id: first.body.runs![0]!.id, duplicate: true }]);
    expect(await runCount("gh")).toBe(before);
  });
});
