// Every web route, walked from the app's own route table and the pages' routers it loads on
// the first page asked for (so a new page without a guard fails here): without a session each one sends the browser to /login (htmx requests get
// 401 with HX-Redirect), and a session whose token may do nothing cannot change anything.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { Hono } from "hono";
import { createServer } from "../app/server.ts";
import { webPages } from "../app/http/web/index.ts";
import { lazyPages, PAGE_SEGMENTS } from "../app/http/web/lazy-pages.ts";
import { readSse, startRun, startWithPipelines, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

// The sign-in routes are for visitors without a session by nature (test/sign-in-*.test.ts);
// a public pipeline's badge is for anyone, and only such a pipeline has one (test/badges.test.ts).
// /metrics takes an API token (system:read), not a session (test/metrics.test.ts).
const PUBLIC = new Set(["GET /public/:name", "GET /login", "POST /login", "GET /auth/:provider/start", "GET /auth/:provider/callback", "GET /badges/:ns/:file", "GET /metrics"]);

let gantry: TestGantry;
let nobody: WebClient;
let tokenId: string;

/** The web routes (not /api), each once, with their parameters filled in. */
function webRoutes(): { method: string; path: string; route: string }[] {
  const seen = new Set<string>();
  const routes: { method: string; path: string; route: string }[] = [];
  for (const { method, path } of [...createServer(gantry.deps).routes, ...webPages.routes]) {
    const route = `${method} ${path}`;
    // The API (/api/v1) takes tokens (test/api.test.ts); /api/docs is a page like the others.
    if (method === "ALL" || path.startsWith("/api/v1/") || PUBLIC.has(route) || seen.has(route)) continue;
    seen.add(route);
    const filled = path
      .replace(":ns", "default")
      .replace(":id", path.startsWith("/extensions") ? "cron" : "quick")
      .replace(":run", "1")
      .replace(":task", "a")
      .replace(/:key\{[^}]*\}/, "notes.txt");
    routes.push({ method, path: filled, route });
  }
  return routes;
}

beforeAll(async () => {
  gantry = await startWithPipelines({
    "quick.ts": `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "quick", tasks: { a: run((ctx) => ctx.log("hi")) } });\n`,
  });
  await waitForRun(gantry.api, "default/quick", (await startRun(gantry.api, "default/quick")).id);
  await gantry.api("/pipelines/default/quick/objects/notes.txt", { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: "notes" });
  await gantry.api("/secrets/deploy_key", { method: "PUT", body: JSON.stringify({ value: "s3cret-value" }) });
  // A role that grants nothing, and a token that has only it.
  expect((await gantry.api("/roles/nothing", { method: "PUT", body: JSON.stringify({ description: "no access", permissions: [] }) })).status).toBeLessThan(300);
  const created = (await (await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "nobody", roles: ["nothing"] }) })).json()) as {
    token: { id: string };
    secret: string;
  };
  tokenId = created.token.id;
  nobody = await webLogin(gantry.url, created.secret);
});
afterAll(() => gantry?.stop());

describe("web routes", () => {
  it("are all found in the route table", () => {
    const routes = webRoutes().map((route) => route.route);
    expect(routes).toContain("GET /pipelines/:ns/:id/runs/:run");
    expect(routes).toContain("POST /secrets");
    // Those of the durable engine: re-run, pause and resume.
    expect(routes).toContain("POST /pipelines/:ns/:id/runs/:run/rerun");
    expect(routes).toContain("POST /system/pause");
    expect(routes).toContain("POST /system/resume");
    // The registry's list the extensions page loads after itself.
    expect(routes).toContain("GET /extensions/available");
    // The environments pages: each one walked below like every other.
    expect(routes).toContain("GET /environments");
    expect(routes).toContain("POST /environments/:name/test");
    expect(routes).toContain("POST /environments/:name/services/:service/rollback");
    expect(routes.length).toBeGreaterThan(20);
  });

  it("are all under a path the server loads the pages for", () => {
    const outside = webPages.routes.filter((route) => !PAGE_SEGMENTS.has(route.path.split("/")[1] ?? "")).map((route) => `${route.method} ${route.path}`);
    expect(outside).toEqual([]);
  });

  it("load only when a page is asked for", async () => {
    const pages = lazyPages(gantry.deps);
    const app = new Hono().use(pages.handler).get("/api/v1/health", (c) => c.text("api"));
    app.notFound((c) => c.text("nothing here", 404));
    expect(await (await app.request("/api/v1/health")).text()).toBe("api");
    const probe = await app.request("/wp-login.php");
    expect([probe.status, await probe.text()]).toEqual([404, "nothing here"]);
    expect(pages.loaded()).toBe(false);
    const login = await app.request("/login");
    expect(login.status).toBe(200);
    expect(await login.text()).toContain("<form");
    expect(pages.loaded()).toBe(true);
    // Under a page's segment but no page: the rest of the app answers, as without the pages.
    const missing = await app.request("/pipelines/default/quick/no-such-page");
    expect([missing.status, await missing.text()]).toEqual([404, "nothing here"]);
  });

  it("send a visitor without a session to /login, keeping where they were going", async () => {
    for (const { method, path, route } of webRoutes()) {
      const response = await fetch(`${gantry.url}${path}`, { method, redirect: "manual", headers: { accept: "text/html" } });
      expect({ route, status: response.status }).toEqual({ route, status: 303 });
      expect(response.headers.get("location")).toBe(`/login?next=${encodeURIComponent(path)}`);
      const htmx = await fetch(`${gantry.url}${path}`, { method, redirect: "manual", headers: { "hx-request": "true" } });
      expect({ route, status: htmx.status }).toEqual({ route, status: 401 });
      expect(htmx.headers.get("hx-redirect")).toStartWith("/login?next=");
    }
  });

  it("change nothing for a session whose token may do nothing", async () => {
    const posts = webRoutes().filter((route) => route.method === "POST" && route.route !== "POST /logout");
    expect(posts.length).toBeGreaterThan(8);
    const form = { name: "x", value: "some-value", key: "notes.txt", id: tokenId, token: tokenId, scope: "global", permissions: "* .* read,write", roles: "admin", only: "all", next: "/" };
    for (const { path, route } of posts) {
      const response = await nobody.post(path, form);
      expect({ route, status: response.status }).toEqual({ route, status: 403 });
    }
    // Nothing changed: one run, the object and secret still there, no new token or role.
    const runs = (await (await gantry.api("/pipelines/default/quick/runs")).json()) as { runs: unknown[] };
    expect(runs.runs.length).toBe(1);
    expect((await gantry.api("/pipelines/default/quick/objects/notes.txt")).status).toBe(200);
    const secrets = (await (await gantry.api("/secrets")).json()) as { secrets: { name: string }[] };
    expect(secrets.secrets.map((secret) => secret.name)).toContain("deploy_key");
    const tokens = (await (await gantry.api("/tokens")).json()) as { tokens: { name: string; revokedAt: string | null }[] };
    expect(tokens.tokens.find((token) => token.name === "nobody")?.revokedAt).toBeNull();
    // Runs were not paused.
    expect(((await (await gantry.api("/system")).json()) as { paused: boolean }).paused).toBe(false);
  });

  it("show a session whose token may do nothing no pipeline, run, log, secret or event", async () => {
    // The API's reference and document hold no data: the same for every session.
    const open = new Set(["GET /", "GET /pipelines", "GET /live/dashboard", "GET /api/docs", "GET /api/docs/openapi.json"]);
    for (const { method, path, route } of webRoutes()) {
      if (method !== "GET") continue;
      const response = await nobody.get(path);
      if (open.has(route)) {
        expect({ route, status: response.status }).toEqual({ route, status: 200 });
        // The overviews render for everyone, without what the token may not read.
        if (route === "GET /live/dashboard") {
          const messages = readSse(response);
          const first = (await messages.next()).value;
          await messages.return(undefined);
          // The first render is the dashboard (its recent-runs card is always there), without the pipeline.
          expect(first?.data).toContain('<h2 id="dash-runs-title">');
          expect(first?.data).not.toContain("/pipelines/default/quick");
        } else {
          expect(await response.text()).not.toContain("/pipelines/default/quick");
        }
      } else {
        expect({ route, status: response.status }).toEqual({ route, status: 403 });
        await response.body?.cancel();
      }
    }
  });
});
