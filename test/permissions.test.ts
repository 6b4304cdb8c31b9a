// Roles and permissions on a real server: every route checks its permission (walked from
// the route table, so a new route without a check fails here), scoped custom roles,
// built-in roles that cannot change, no escalation, and run tokens limited to their pipeline.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { documentedRoutes, type DocumentedRoute } from "./helpers/api-routes.ts";
import { startRun, startTestGantry, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(30_000);

const HEADER = `import { definePipeline, run } from "gantry";\n`;
const quick = (id: string) => `${HEADER}export default definePipeline({ id: "${id}", tasks: { a: run((ctx) => ctx.log("ran ${id}")) } });\n`;

let gantry: TestGantry;
/** The routes as the OpenAPI document describes them. */
let API_ROUTES: DocumentedRoute[];

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  for (const id of ["quick", "other"]) writeFile(join(dir, `${id}.ts`), quick(id));
  // A task that uses its injected token against its own pipeline and another one.
  writeFile(
    join(dir, "caller.ts"),
    `${HEADER}export default definePipeline({ id: "caller", tasks: { call: run(async (ctx) => {
      const get = (path) => fetch(ctx.env.GANTRY_API_URL + "/api/v1" + path, { headers: { authorization: "Bearer " + ctx.env.GANTRY_API_TOKEN } });
      ctx.log("own", (await get("/pipelines/default/caller")).status);
      ctx.log("other", (await get("/pipelines/default/other")).status);
      ctx.log("tokens", (await get("/tokens")).status);
      ctx.log("secret-file", ctx.env.GANTRY_API_TOKEN.length);
      await Bun.write(ctx.workspace + "/token", ctx.env.GANTRY_API_TOKEN);
    }, { injectApiToken: true }) } });\n`,
  );
  gantry = await startTestGantry({ pipelinesDir: dir });
});
beforeAll(async () => {
  API_ROUTES = await documentedRoutes(gantry.deps);
});
afterAll(() => gantry?.stop());

const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const as = (secret: string, path: string, init: RequestInit = {}) =>
  fetch(`${gantry.url}/api/v1${path}`, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${secret}` } });

async function tokenWithRole(role: string, permissions: unknown[]): Promise<string> {
  expect((await api(`/roles/${role}`, { method: "PUT", body: JSON.stringify({ permissions }) })).status).toBeOneOf([200, 201]);
  const response = await api("/tokens", { method: "POST", body: JSON.stringify({ name: `${role}-token`, roles: [role] }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

describe("every route checks its permission", () => {
  it("answers 403 naming the missing permission on every route for a token that may do nothing", async () => {
    const run = await waitForRun(api, "default/quick", (await startRun(api, "default/quick")).id);
    expect((await api("/secrets/walk", { method: "PUT", body: JSON.stringify({ value: "walk-value" }) })).status).toBeOneOf([200, 201]);
    // One environment, so its list has something to leave out.
    expect((await api("/environments", { method: "POST", body: JSON.stringify({ name: "walk", provider: "swarm" }) })).status).toBe(201);
    // A permission that matches nothing: the token is valid but may do nothing.
    const secret = await tokenWithRole("nobody", [{ resource: "pipelines", target: "^no-such/thing$", actions: ["read"] }]);
    const values: Record<string, string> = { ns: "default", id: "quick", run: String(run.id), task: "a", key: "walk", sub: "1", name: "walk", version: "1", service: "walk" };
    // Routes every valid token may use, and lists that show only what the token may read.
    const allowed = new Set(["get /health", "get /openapi.json", "get /tokens/whoami", "get /pipelines", "get /approvals", "get /sources", "get /environments"]);
    let checked = 0;
    for (const route of API_ROUTES) {
      const key = `${route.method} ${route.path}`;
      const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => values[name]!);
      const response = await as(secret, path, { method: route.method.toUpperCase(), ...(route.body && { body: "{}" }) });
      if (key === "post /extensions/{id}/calls") {
        // Takes a container extension's secret, never a user token.
        expect(response.status, key).toBe(401);
        await response.body?.cancel();
        continue;
      }
      if (allowed.has(key) || !route.auth) {
        expect(response.status, key).toBe(200);
        await response.body?.cancel();
        continue;
      }
      expect(response.status, key).toBe(403);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code, key).toBe("forbidden");
      expect(body.error.message, key).toMatch(/lacks permission \w+:(read|write|approve|exec) on \S+/);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    const list = (await (await as(secret, "/pipelines")).json()) as { pipelines: unknown[] };
    expect(list.pipelines).toEqual([]);
    // Sources, the local folder's included, are listed only to who may read them.
    expect(await (await as(secret, "/sources")).json()).toEqual({ sources: [] });
    expect(await (await as(secret, "/environments")).json()).toEqual({ environments: [] });
  });
});

describe("custom roles", () => {
  it("limits a role to the pipelines its target matches", async () => {
    const secret = await tokenWithRole("quick-runner", [
      { resource: "pipelines", target: "default/quick", actions: ["read"] },
      { resource: "runs", target: "default/quick", actions: ["read", "write"] },
    ]);
    const list = (await (await as(secret, "/pipelines")).json()) as { pipelines: { id: string }[] };
    expect(list.pipelines.map((pipeline) => pipeline.id)).toEqual(["quick"]);
    expect((await as(secret, "/pipelines/default/quick/runs", { method: "POST", body: "{}" })).status).toBe(201);
    const denied = await as(secret, "/pipelines/default/other/runs", { method: "POST", body: "{}" });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { message: string } }).error.message).toContain("runs:write on default/other");
    // Runs read and write do not give a shell in the pipeline's tasks: that is runs:exec.
    const exec = await as(secret, "/pipelines/default/quick/runs/1/tasks/a/exec");
    expect(exec.status).toBe(403);
    expect(((await exec.json()) as { error: { message: string } }).error.message).toContain("runs:exec on default/quick");
    expect((await as(secret, "/pipelines/default/quick/secrets")).status).toBe(403);
    const whoami = (await (await as(secret, "/tokens/whoami")).json()) as { permissions: { resource: string; target: string }[] };
    expect(whoami.permissions.map((permission) => `${permission.resource} ${permission.target}`)).toEqual([
      "pipelines default/quick",
      "runs default/quick",
    ]);
  });

  it("answers 403 alike for the secrets of a pipeline that exists and of one that does not", async () => {
    // May see every pipeline, but no secret: whether a pipeline exists is no business of the secrets routes.
    const secret = await tokenWithRole("no-secrets", [{ resource: "pipelines", target: ".*", actions: ["read"] }]);
    for (const pipeline of ["default/quick", "default/no-such-pipeline"]) {
      for (const [method, path] of [["GET", ""], ["GET", "/x_name"], ["PUT", "/x_name"], ["DELETE", "/x_name"]] as const) {
        const response = await as(secret, `/pipelines/${pipeline}/secrets${path}`, {
          method,
          ...(method === "PUT" && { body: JSON.stringify({ value: "long-enough" }) }),
        });
        expect(response.status, `${method} ${pipeline}${path}`).toBe(403);
        expect(((await response.json()) as { error: { message: string } }).error.message).toContain(`secrets:${method === "GET" ? "read" : "write"} on ${pipeline}`);
      }
    }
  });

  it("lists built-in roles and refuses to change or delete them", async () => {
    const roles = (await (await api("/roles")).json()) as { roles: { id: string; builtIn: boolean }[] };
    expect(roles.roles.filter((role) => role.builtIn).map((role) => role.id)).toEqual(["admin", "viewer"]);
    for (const init of [{ method: "PUT", body: JSON.stringify({ permissions: [] }) }, { method: "DELETE" }]) {
      const response = await api("/roles/admin", init);
      expect(response.status).toBe(409);
      expect(((await response.json()) as { error: { message: string } }).error.message).toContain("built in");
    }
  });

  it("refuses a role with a bad permission, naming the field", async () => {
    const response = await api("/roles/bad", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "runs", target: "([", actions: ["read"] }] }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain("permissions.0.target");
  });

  it("does not let a token grant more than it has", async () => {
    const secret = await tokenWithRole("token-maker", [
      { resource: "tokens", target: ".*", actions: ["read", "write"] },
      { resource: "runs", target: "default/quick", actions: ["read"] },
    ]);
    const escalate = await as(secret, "/tokens", { method: "POST", body: JSON.stringify({ name: "sneaky", roles: ["admin"] }) });
    expect(escalate.status).toBe(403);
    expect(((await escalate.json()) as { error: { message: string } }).error.message).toContain("cannot grant");
    const same = await as(secret, "/tokens", { method: "POST", body: JSON.stringify({ name: "same", roles: ["token-maker"] }) });
    expect(same.status).toBe(201);
  });
});

describe("injected run tokens", () => {
  it("reach their own pipeline only and are revoked when the run ends", async () => {
    const run = await waitForRun(api, "default/caller", (await startRun(api, "default/caller")).id);
    expect(run.state).toBe("successful");
    const log = await (await api(`/pipelines/default/caller/runs/${run.id}/tasks/call/logs`)).text();
    expect(log).toContain("own 200");
    expect(log).toContain("other 403");
    expect(log).toContain("tokens 403");
    // The token itself never shows in the log.
    const token = await Bun.file(join(gantry.dataDir, "workspaces", "default", "caller", String(run.id), "token")).text();
    expect(log).not.toContain(token);
    const after = await as(token, "/pipelines/default/caller");
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { message: string } }).error.message).toContain("revoked");
  });

  it("are deleted a day after their run, while tokens people revoked stay on record (fake clock)", async () => {
    const dir = tempDir("gantry-pipelines-");
    writeFile(join(dir, "quick.ts"), quick("quick"));
    let offsetMs = 0;
    const server = await startTestGantry({ pipelinesDir: dir, now: () => new Date(Date.now() + offsetMs) });
    try {
      const personal = (await (await server.api("/tokens", { method: "POST", body: JSON.stringify({ name: "laptop", roles: ["viewer"] }) })).json()) as { token: { id: string } };
      await server.api(`/tokens/${personal.token.id}`, { method: "DELETE" });
      await waitForRun(server.api, "default/quick", (await startRun(server.api, "default/quick")).id);
      await server.deps.orchestrator.idle();
      const names = async () => ((await (await server.api("/tokens")).json()) as { tokens: { name: string }[] }).tokens.map((token) => token.name);
      expect((await names()).filter((name) => name.startsWith("run "))).not.toEqual([]);
      expect((await server.deps.janitor.prune()).runTokens).toBe(0);
      offsetMs = 25 * 3_600_000;
      expect((await server.deps.janitor.prune()).runTokens).toBeGreaterThan(0);
      expect((await names()).filter((name) => name.startsWith("run "))).toEqual([]);
      expect(await names()).toContain("laptop");
    } finally {
      await server.stop();
    }
  });
});
