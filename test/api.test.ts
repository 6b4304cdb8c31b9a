// The JSON API end to end on a real server: auth, roles, errors, runs, tokens, and the
// OpenAPI route table walked against the live router.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { documentedRoutes, type DocumentedRoute } from "./helpers/api-routes.ts";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { Hono } from "hono";
import * as v from "valibot";
import { API_ERROR_CODES } from "../app/api-contract/errors.ts";
import { createServer } from "../app/server.ts";
import { signIn } from "../app/auth/users.ts";
import { startRun, startTestGantry, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

// Servers and task processes need more than bun test's 5 s default (bunfig has no test timeout).
setDefaultTimeout(30_000);

const HEADER = `import { definePipeline, run } from "gantry";\n`;
const quick = (id: string) => `${HEADER}export default definePipeline({ id: "${id}", tasks: { a: run((ctx) => ctx.log("ran ${id}")) } });\n`;

let gantry: TestGantry;
/** The routes as the OpenAPI document describes them. */
let API_ROUTES: DocumentedRoute[];
/** Shifts the server's clock (token expiry) without touching the machine's. */
let clockOffsetMs = 0;

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  for (const id of ["quick", "alpha", "beta", "gamma"]) writeFile(join(dir, `${id}.ts`), quick(id));
  writeFile(join(dir, "broken.ts"), `${HEADER}export default definePipeline({ id: "broken", tasks: {} });\n`);
  // One extension of our own, so the extension routes have something to show.
  const extensionsDir = tempDir("gantry-extensions-");
  writeFile(join(extensionsDir, "walker", "index.ts"), `import { defineExtension } from "gantry";\nexport default defineExtension({ id: "walker" });\n`);
  gantry = await startTestGantry({
    pipelinesDir: dir,
    env: { GANTRY_EXTENSIONS_DIR: extensionsDir },
    now: () => new Date(Date.now() + clockOffsetMs),
  });
});
beforeAll(async () => {
  API_ROUTES = await documentedRoutes(gantry.deps);
});
afterAll(() => gantry?.stop());

const url = (path: string) => `${gantry.url}/api/v1${path}`;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
/** fetch with a given bearer secret (or none). */
const as = (secret: string | undefined, path: string, init: RequestInit = {}) =>
  fetch(url(path), {
    ...init,
    headers: { "content-type": "application/json", ...(secret && { authorization: `Bearer ${secret}` }), ...(init.headers as Record<string, string>) },
  });
const post = (body: unknown) => ({ method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });

async function expectError(response: Response, status: number, code: string): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/json");
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error.message;
}

async function createToken(body: Record<string, unknown>) {
  const response = await api("/tokens", post(body));
  expect(response.status).toBe(201);
  return (await response.json()) as { token: { id: string; name: string; roles: string[]; expiresAt: string | null }; secret: string };
}

/** A concrete path for a route of the table: real pipeline, run, task and token. */
function concretePath(path: string, values: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`no value for {${name}} in ${path}`);
    return values[name]!;
  });
}

describe("health", () => {
  it("answers without a token", async () => {
    const response = await fetch(url("/health"));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; version: string };
    expect(body.status).toBe("ok");
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("authentication", () => {
  it("requires a token on every route but health and container extensions' calls", async () => {
    const open = API_ROUTES.filter((route) => !route.auth).map((route) => `${route.method} ${route.path}`);
    expect(open).toEqual(["get /health", "post /extensions/{id}/calls"]);
    const values = { ns: "default", id: "quick", run: "1", task: "a", key: "some-secret", sub: "1", name: "dist", version: "1", service: "walk" };
    // Calls take an extension's own secret instead of a user token; without it they are refused too.
    const calls = await as(undefined, "/extensions/walker/calls", { method: "POST", body: JSON.stringify({ method: "log", args: ["x"] }) });
    expect(await expectError(calls, 401, "unauthorized")).toContain("Bearer");
    for (const route of API_ROUTES.filter((candidate) => candidate.auth)) {
      const response = await as(undefined, concretePath(route.path, values), {
        method: route.method.toUpperCase(),
        ...(route.body && { body: "{}" }),
      });
      const message = await expectError(response, 401, "unauthorized");
      expect(message).toContain("Bearer");
    }
  });

  it("refuses an unknown token and a malformed header", async () => {
    expect(await expectError(await as("gty_not-a-real-token", "/pipelines"), 401, "unauthorized")).toContain("invalid token");
    await expectError(await fetch(url("/pipelines"), { headers: { authorization: `Basic ${btoa("admin:admin")}` } }), 401, "unauthorized");
    await expectError(await fetch(url("/pipelines"), { headers: { authorization: "Bearer" } }), 401, "unauthorized");
  });
});

describe("roles", () => {
  it("lets a viewer read but not start, cancel or manage tokens", async () => {
    const quickRun = await waitForRun(api, "default/quick", (await startRun(api, "default/quick")).id);
    const { secret, token } = await createToken({ name: "ci-viewer", roles: ["viewer"] });
    expect(token).toMatchObject({ name: "ci-viewer", roles: ["viewer"], expiresAt: null });
    expect(secret).toStartWith("gty_");

    for (const path of ["/pipelines", "/pipelines/default/quick", "/pipelines/default/quick/runs", `/pipelines/default/quick/runs/${quickRun.id}`, "/events"]) {
      expect((await as(secret, path)).status).toBe(200);
    }
    expect(await (await as(secret, `/pipelines/default/quick/runs/${quickRun.id}/tasks/a/logs`)).text()).toContain("ran quick");
    const whoami = (await (await as(secret, "/tokens/whoami")).json()) as { token: { name: string }; permissions: { actions: string[] }[] };
    expect(whoami.token.name).toBe("ci-viewer");
    expect(whoami.permissions.flatMap((permission) => permission.actions)).not.toContain("write");

    const before = ((await (await api("/pipelines/default/quick/runs")).json()) as { runs: RunJson[] }).runs.length;
    expect(await expectError(await as(secret, "/pipelines/default/quick/runs", post({})), 403, "forbidden")).toContain("ci-viewer");
    await expectError(await as(secret, `/pipelines/default/quick/runs/${quickRun.id}/cancel`, { method: "POST" }), 403, "forbidden");
    // A shell in a task is runs:exec, which a viewer (and runs read/write) does not have.
    expect(await expectError(await as(secret, `/pipelines/default/quick/runs/${quickRun.id}/tasks/a/exec`), 403, "forbidden")).toContain("runs:exec");
    await expectError(await as(secret, "/tokens", post({ name: "escalate", roles: ["admin"] })), 403, "forbidden");
    await expectError(await as(secret, `/tokens/${token.id}`, { method: "DELETE" }), 403, "forbidden");
    // Nothing was started by the refused request.
    expect(((await (await api("/pipelines/default/quick/runs")).json()) as { runs: RunJson[] }).runs.length).toBe(before);
  });
});

describe("not found", () => {
  it("answers 404 for unknown pipelines, runs and tasks", async () => {
    expect(await expectError(await api("/pipelines/default/nope"), 404, "not_found")).toContain("default/nope");
    await expectError(await api("/pipelines/other/quick"), 404, "not_found");
    await expectError(await api("/pipelines/default/nope/versions"), 404, "not_found");
    await expectError(await api("/pipelines/default/nope/runs"), 404, "not_found");
    await expectError(await api("/pipelines/default/nope/runs", post({})), 404, "not_found");
    expect(await expectError(await api("/pipelines/default/quick/runs/9999"), 404, "not_found")).toContain("9999");
    await expectError(await api("/pipelines/default/quick/runs/9999/cancel", { method: "POST" }), 404, "not_found");
    await expectError(await api("/pipelines/default/quick/runs/9999/tasks/a/logs"), 404, "not_found");
    const run = await waitForRun(api, "default/quick", (await startRun(api, "default/quick")).id);
    await expectError(await api(`/pipelines/default/quick/runs/${run.id}/tasks/ghost/logs`), 404, "not_found");
    expect(await expectError(await api("/no-such-thing"), 404, "not_found")).toContain("no route");
  });
});

describe("request validation", () => {
  const start = (body: string, headers: Record<string, string> = {}) =>
    api("/pipelines/default/quick/runs", { method: "POST", body, headers });

  it("refuses a body that is not JSON", async () => {
    await expectError(await start("{variables: "), 400, "invalid");
  });

  it("refuses a JSON body not labelled as JSON rather than dropping its variables", async () => {
    const message = await expectError(await start(JSON.stringify({ variables: { A: "1" } }), { "content-type": "application/x-www-form-urlencoded" }), 400, "invalid");
    expect(message).toContain("application/json");
  });

  it("names a variable whose value is not a string", async () => {
    const message = await expectError(await start(JSON.stringify({ variables: { COUNT: 3 } })), 400, "invalid");
    expect(message).toContain("variables.COUNT");
  });

  it("refuses a variable value with a NUL character instead of failing the task later", async () => {
    const message = await expectError(await start(JSON.stringify({ variables: { REF: "main\u0000x" } })), 400, "invalid");
    expect(message).toContain("REF");
  });

  it("names an unknown field", async () => {
    const message = await expectError(await start(JSON.stringify({ varables: { A: "1" } })), 400, "invalid");
    expect(message).toContain("varables");
  });

  it("names a bad query or path parameter", async () => {
    expect(await expectError(await api("/pipelines/default/quick/runs?limit=0"), 400, "invalid")).toContain("limit");
    expect(await expectError(await api("/pipelines/default/quick/runs?before=abc"), 400, "invalid")).toContain("before");
    expect(await expectError(await api("/pipelines/default/quick/runs/first"), 400, "invalid")).toContain("run");
    expect(await expectError(await api("/pipelines/Default/quick"), 400, "invalid")).toContain("ns");
  });

  it("starts a run from an empty POST", async () => {
    const response = await fetch(url("/pipelines/default/quick/runs"), { method: "POST", headers: { authorization: `Bearer ${gantry.token}` } });
    expect(response.status).toBe(201);
    const { run } = (await response.json()) as { run: RunJson };
    expect(run.variables).toEqual({});
    await waitForRun(api, "default/quick", run.id);
  });

  it("refuses to start a pipeline that has no valid version, saying why", async () => {
    const message = await expectError(await api("/pipelines/default/broken/runs", post({})), 409, "conflict");
    expect(message).toContain("tasks: must define at least one task");
  });
});

describe("runs", () => {
  it("numbers runs 1, 2, 3 per pipeline", async () => {
    const ids: string[] = [];
    for (const pipeline of ["alpha", "beta", "alpha", "beta", "alpha"]) {
      const run = await startRun(api, `default/${pipeline}`);
      ids.push(`${pipeline}#${run.id}`);
    }
    expect(ids).toEqual(["alpha#1", "beta#1", "alpha#2", "beta#2", "alpha#3"]);
  });

  it("gives concurrent starts distinct consecutive ids", async () => {
    const runs = await Promise.all(Array.from({ length: 6 }, () => startRun(api, "default/gamma")));
    expect(runs.map((run) => run.id).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("returns the started run with its tasks pending and the variables given", async () => {
    const run = await startRun(api, "default/beta", { WHO: "api-test" });
    expect(run).toMatchObject({ namespace: "default", pipeline: "beta", id: 3, version: 1, variables: { WHO: "api-test" } });
    expect(["pending", "running"]).toContain(run.state);
    expect(run.tasks.map((task) => task.id)).toEqual(["a"]);
    const done = await waitForRun(api, "default/beta", run.id);
    expect(done.state).toBe("successful");
    expect(done.tasks[0]).toMatchObject({ id: "a", kind: "run", state: "successful", exitCode: 0, attempt: 1 });
  });

  it("lists runs newest first, with limit and before", async () => {
    await gantry.deps.orchestrator.idle();
    const list = async (query: string) => {
      const response = await api(`/pipelines/default/alpha/runs${query}`);
      expect(response.status).toBe(200);
      return ((await response.json()) as { runs: RunJson[] }).runs.map((run) => run.id);
    };
    expect(await list("")).toEqual([3, 2, 1]);
    expect(await list("?limit=2")).toEqual([3, 2]);
    expect(await list("?before=3")).toEqual([2, 1]);
    expect(await list("?before=3&limit=1")).toEqual([2]);
    expect(await list("?before=1")).toEqual([]);
    const full = ((await (await api("/pipelines/default/alpha/runs?limit=1")).json()) as { runs: RunJson[] }).runs[0]!;
    expect(full.state).toBe("successful");
    expect(full.tasks).toHaveLength(1);
  });

  it("refuses to cancel a finished run with 409", async () => {
    const run = await waitForRun(api, "default/quick", (await startRun(api, "default/quick")).id);
    const message = await expectError(await api(`/pipelines/default/quick/runs/${run.id}/cancel`, { method: "POST" }), 409, "conflict");
    expect(message).toContain("already ended");
    const after = (await (await api(`/pipelines/default/quick/runs/${run.id}`)).json()) as { run: RunJson };
    expect(after.run.state).toBe("successful");
  });
});

describe("tokens", () => {
  it("creates, lists and revokes tokens; a revoked token stops working", async () => {
    const { token, secret } = await createToken({ name: "deploy-bot", roles: ["admin"] });
    expect((await as(secret, "/pipelines")).status).toBe(200);

    const listResponse = await api("/tokens");
    expect(listResponse.status).toBe(200);
    const listText = await listResponse.text();
    // Secrets are shown once, never listed, and no hash leaks either.
    expect(listText).not.toContain(secret);
    expect(listText).not.toContain("hash");
    const listed = (JSON.parse(listText) as { tokens: { id: string; name: string; revokedAt: string | null }[] }).tokens;
    expect(listed.map((t) => t.name)).toEqual(expect.arrayContaining(["bootstrap", "deploy-bot"]));
    expect(listed.find((t) => t.id === token.id)!.revokedAt).toBeNull();

    const revoked = await api(`/tokens/${token.id}`, { method: "DELETE" });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { token: { revokedAt: string | null } }).token.revokedAt).not.toBeNull();
    expect(await expectError(await as(secret, "/pipelines"), 401, "unauthorized")).toContain("revoked");
    const relisted = ((await (await api("/tokens")).json()) as { tokens: { id: string; revokedAt: string | null }[] }).tokens;
    expect(relisted.find((t) => t.id === token.id)!.revokedAt).not.toBeNull();

    await expectError(await api("/tokens/no-such-token", { method: "DELETE" }), 404, "not_found");
  });

  it("stops accepting a token once it expires", async () => {
    const expiresAt = new Date(Date.now() + 60 * 60 * 1000).toISOString();
    const { token, secret } = await createToken({ name: "short-lived", roles: ["viewer"], expiresAt });
    expect(token.expiresAt).toBe(expiresAt);
    expect((await as(secret, "/pipelines")).status).toBe(200);
    clockOffsetMs = 2 * 60 * 60 * 1000;
    try {
      expect(await expectError(await as(secret, "/pipelines"), 401, "unauthorized")).toContain("expired");
      // A token without expiry is unaffected.
      expect((await api("/pipelines")).status).toBe(200);
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("validates new tokens: roles, names and expiry", async () => {
    expect(await expectError(await api("/tokens", post({ name: "x", roles: ["superuser"] })), 400, "invalid")).toContain("superuser");
    expect(await expectError(await api("/tokens", post({ name: "x", roles: [] })), 400, "invalid")).toContain("roles");
    expect(await expectError(await api("/tokens", post({ name: "", roles: ["viewer"] })), 400, "invalid")).toContain("name");
    expect(await expectError(await api("/tokens", post({ name: "x", roles: ["viewer"], expiresAt: "2001-01-01T00:00:00Z" })), 400, "invalid")).toContain("expiresAt");
    expect(await expectError(await api("/tokens", post({ name: "x", roles: ["viewer"], expiresAt: "tomorrow" })), 400, "invalid")).toContain("expiresAt");
  });
});

describe("openapi", () => {
  it("is a valid OpenAPI 3.1 document, each route with its answer, its error shape and who may call it", async () => {
    const response = await api("/openapi.json");
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; description?: string; responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
      components: { schemas: Record<string, { properties?: Record<string, { properties?: Record<string, { enum?: string[] }> }> }> };
    };
    expect(document.openapi).toBe("3.1.0");
    const checked = await new Validator().validate(document as unknown as Parameters<Validator["validate"]>[0]);
    expect(checked.errors ?? []).toEqual([]);
    expect(checked.valid).toBe(true);
    // The error shape with every code the API answers with.
    expect(document.components.schemas.Error!.properties!.error!.properties!.code!.enum!.sort()).toEqual([...API_ERROR_CODES].sort());
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const label = `${method} ${path}`;
        expect(operation.summary, label).toBeTruthy();
        // Who may call it: no token, an extension's secret, any token, or a permission named.
        expect(operation.description, label).toMatch(/^(No token needed|A container extension's secret|Any valid token|Needs \w+:\w+)/);
        // A WebSocket's success is its upgrade (101).
        const successes = Object.entries(operation.responses).filter(([status]) => /^(2\d\d|101)$/.test(status));
        expect(successes.length, label).toBeGreaterThan(0);
        // A body other than JSON says its media type; a JSON one has its schema.
        for (const [, answer] of successes) for (const media of Object.values(answer.content ?? {})) expect(media.schema, label).toBeDefined();
        expect(JSON.stringify(operation.responses.default), label).toContain("#/components/schemas/Error");
      }
    }
    expect(API_ROUTES.length).toBeGreaterThan(70);
  });

  it("refuses, in the test suite, an answer its route's schema rejects", async () => {
    // The suite runs servers with GANTRY_CHECK_RESPONSES=1: every JSON answer they give is checked against its route's schema.
    expect(process.env.GANTRY_CHECK_RESPONSES).toBe("1");
    const { doc } = await import("../app/http/api/route-doc.ts");
    const app = new Hono()
      .get("/wrong", doc({ summary: "wrong", response: v.object({ run: v.object({ id: v.number() }) }) }), (c) => c.json({ run: { id: "1" } }))
      .get("/right", doc({ summary: "right", response: v.object({ run: v.object({ id: v.number() }) }) }), (c) => c.json({ run: { id: 1 } }))
      .get("/teapot", doc({ summary: "an undocumented status" }), (c) => c.json({ brewing: true }, 202));
    const wrong = await app.request("/wrong");
    expect(wrong.status).toBe(500);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toBe(
      "the answer of GET /wrong (200) does not match its documented schema: run.id: Invalid type: Expected number but received \"1\"",
    );
    expect((await app.request("/right")).status).toBe(200);
    expect(((await (await app.request("/teapot")).json()) as { error: { message: string } }).error.message).toContain("status 202 is not documented (200)");
  });

  it("documents every route the server serves", () => {
    const served = new Set(
      createServer(gantry.deps)
        .routes.filter((route) => route.method !== "ALL" && route.path.startsWith("/api/v1/"))
        // ":key{[\s\S]+}" (a parameter with a pattern) is documented as "{key}".
        .map((route) => `${route.method.toLowerCase()} ${route.path.slice("/api/v1".length).replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`),
    );
    const documented = new Set(API_ROUTES.map((route) => `${route.method} ${route.path}`));
    expect([...served].filter((route) => !documented.has(route))).toEqual([]);
  });

  it("has a live handler behind every documented route, answering as its document says", async () => {
    // Each answer is checked with the document's JSON Schema for its route and status (the error schema for errors).
    const document = (await (await api("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: object }> }> }>>;
      components: object;
    };
    const ajv = new Ajv2020({ strict: false, allErrors: false });
    const answerCheck = (method: string, path: string, status: number) => {
      const responses = document.paths[path]?.[method]?.responses;
      const schema = (responses?.[String(status)] ?? responses?.default)?.content?.["application/json"]?.schema;
      return schema ? ajv.compile({ ...schema, components: document.components }) : undefined;
    };
    let checkedAnswers = 0;
    const run = await waitForRun(api, "default/quick", (await startRun(api, "default/quick")).id);
    const { token } = await createToken({ name: "walk-me", roles: ["viewer"] });
    // What the walk reads and deletes must exist first.
    const secretBody = JSON.stringify({ value: "walk-secret-value" });
    expect((await api("/secrets/walk", { method: "PUT", body: secretBody })).status).toBe(201);
    expect((await api("/pipelines/default/quick/secrets/walk", { method: "PUT", body: secretBody })).status).toBe(201);
    expect((await api("/roles/walker", { method: "PUT", body: JSON.stringify({ permissions: [] }) })).status).toBe(201);
    // A source whose repository answers nothing: its sync is a live 502 naming why.
    expect((await api("/sources/walk", { method: "PUT", body: JSON.stringify({ repo: "http://127.0.0.1:9/nothing.git", pollInterval: 0 }) })).status).toBe(201);
    // An environment whose engine answers nothing: its test is a live 200 { ok: false, problem }.
    const walkEnvironment = { provider: "swarm", config: { dockerHost: "tcp://127.0.0.1:9" } };
    expect((await api("/environments", post({ name: "walk", ...walkEnvironment }))).status).toBe(201);
    // Objects are raw bytes, any body will do; GET comes before PUT in the table.
    for (const base of ["/pipelines/default/quick", `/pipelines/default/quick/runs/${run.id}`]) {
      const stored = await api(`${base}/objects/walk`, { method: "PUT", body: "walk-object", headers: { "content-type": "application/octet-stream" } });
      expect(stored.status).toBe(201);
    }
    const bodies: Record<string, unknown> = {
      "/tokens": { name: "walked", roles: ["viewer"] },
      "/secrets/{key}": { value: "walk-secret-value" },
      "/pipelines/{ns}/{id}/secrets/{key}": { value: "walk-secret-value" },
      "/roles/{id}": { permissions: [] },
      "/pipelines/{ns}/{id}/subscriptions": { extension: "walker", params: {} },
      "/users/{id}/grant": { roles: ["viewer"] },
      "/users/{id}/revoke": { roles: ["viewer"] },
      "/extensions/install": { package: "gantry-ext-walk" },
      "/sources/{name}": { repo: "http://127.0.0.1:9/nothing.git", pollInterval: 0 },
      "/environments": { name: "walked", ...walkEnvironment },
      "/environments/{name}": walkEnvironment,
    };
    // A person, as a sign-in through an identity provider records one.
    const profile = { provider: "oidc" as const, subject: "walk-sub", name: "Walk Er", groups: [], mappedRoles: [] };
    await signIn(gantry.deps.db, profile, { newId: "walk-user", sessionMaxAgeMs: 3_600_000, now: new Date() });
    const subscribed = await api("/pipelines/default/quick/subscriptions", post({ extension: "walker" }));
    expect(subscribed.status).toBe(201);
    const sub = String(((await subscribed.json()) as { subscription: { id: number } }).subscription.id);
    const values = { ns: "default", id: "quick", run: String(run.id), task: "a", key: "walk", sub, name: "walk", version: "1", service: "walk" };
    for (const route of API_ROUTES) {
      const path =
        route.path === "/tokens/{id}"
          ? `/tokens/${token.id}`
          : route.path === "/roles/{id}"
            ? "/roles/walker"
            : route.path === "/extensions/{id}"
              ? "/extensions/walker"
              : route.path.startsWith("/users/{id}")
                ? route.path.replace("{id}", "walk-user")
                : concretePath(route.path, values);
      // A log search needs something to look for (without it: a 400 saying so).
      const query = route.path.endsWith("/logs/search") ? "?q=a" : "";
      const controller = new AbortController();
      const response = await api(`${path}${query}`, {
        method: route.method.toUpperCase(),
        signal: controller.signal,
        ...(route.body && { body: JSON.stringify(bodies[route.path] ?? {}) }),
      });
      const label = `${route.method.toUpperCase()} ${path} → ${response.status}`;
      if (response.headers.get("content-type")?.includes("text/event-stream")) {
        controller.abort();
      } else {
        const text = await response.text();
        expect(text, label).not.toContain("no route");
        // The document's own JSON Schema (not only the valibot schema it is made from) takes the answer.
        if (response.headers.get("content-type")?.startsWith("application/json")) {
          const check = answerCheck(route.method, route.path, response.status);
          expect(check, `${label}: a documented JSON answer`).toBeDefined();
          expect(check!(JSON.parse(text)) ? [] : check!.errors, label).toEqual([]);
          checkedAnswers++;
        }
      }
      // A cancel of a finished run is a 409, a live answer, and so is a decision on a task that
      // is no gate, an exec into a run() task, or an extension call without the extension's
      // secret (a user token is never one); everything else succeeds.
      // The quick pipeline stores no artifact: its download answers a live 404 naming it. The
      // registry is unreachable in tests (502); "walker" is a built-in extension (409 to uninstall).
      const expected = /\/(cancel|approve|reject|exec)$/.test(route.path)
        ? 409
        : route.path === "/extensions/{id}/calls"
          ? 401
          : route.path.endsWith("/artifacts/{name}")
            ? 404
            : route.path === "/sources/{name}/sync" || route.path === "/extensions/available" || route.path === "/extensions/install"
              ? 502
              : route.path === "/extensions/{id}" && route.method === "delete"
                ? 409
                : route.path.endsWith("/services/{service}/rollback") || route.path === "/extensions/{id}/upgrade"
                  ? 404
                : route.success;
      // A PUT of something that exists replaces it: 200 instead of 201.
      if (route.method === "put") expect([200, 201], label).toContain(response.status);
      else expect(response.status, label).toBe(expected);
    }
    expect(checkedAnswers).toBeGreaterThan(60);
  });
});
