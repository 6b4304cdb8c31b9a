// The admin pages on a real server: secrets (values never shown, not even after a failed
// submit), tokens (secret shown once, revoke, no escalation) and roles (per-line errors,
// built-ins fixed), extensions with their subscriptions, the event log (escaping, paging,
// the live tail), and a pipeline's objects (download, upload, delete), each with CSRF and
// a read-only viewer's session.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { insertEvent } from "../app/db/repos/events.ts";
import { readSse, startTestGantry, waitFor, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";
import { pageHtml as page, webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const SCRIPT = "<script>alert(1)</script>";
const BREAKOUT = '"><img src=x onerror=alert(1)>';
const MAX_BYTES = 64 * 1024;

const PIPELINES: Record<string, string> = {
  "hello.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "hello", tasks: { greet: run((ctx) => ctx.log("hi")) } });\n`,
  "nightly.ts": `import { cron, definePipeline, run } from "gantry";
export default definePipeline({ id: "nightly", triggers: [cron("0 3 * * *")], tasks: { tick: run(() => {}) } });\n`,
};

let gantry: TestGantry;
let admin: WebClient;

/** Logs in with a new token holding `roles` (made through the API). */
async function loginWith(name: string, roles: string[]): Promise<{ client: WebClient; secret: string }> {
  const response = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name, roles }) });
  expect(response.status).toBe(201);
  const { secret } = (await response.json()) as { secret: string };
  return { client: await webLogin(gantry.url, secret), secret };
}

/** Hostile text must only ever appear escaped. */
function expectEscaped(html: string) {
  expect(html).not.toContain(SCRIPT);
  expect(html).not.toContain("<img src=x");
}

const rowsOf = (html: string) => html.match(/<tr id="event-\d+"/g)?.length ?? 0;

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  for (const [file, source] of Object.entries(PIPELINES)) writeFile(join(dir, file), source);
  gantry = await startTestGantry({
    pipelinesDir: dir,
    env: { GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions"), GANTRY_OBJECT_MAX_BYTES: String(MAX_BYTES) },
  });
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

describe("secrets page", () => {
  const VALUE = "s3cret-value-never-shown";

  it("sets a secret through the form and lists it by name, never by value", async () => {
    const set = await admin.post("/secrets", { scope: "global", name: "DEPLOY_KEY", value: VALUE });
    expect(set.status).toBe(303);
    expect(set.headers.get("location")).toBe("/secrets?set=DEPLOY_KEY&scope=global");
    const html = await page(admin, set.headers.get("location")!);
    expect(html).toContain("DEPLOY_KEY");
    expect(html).toContain("Secret DEPLOY_KEY (global) saved.");
    expect(html).toContain('type="password"');
    expect(html).toContain('autocomplete="off"');
    expect(html).not.toContain(VALUE);
    expect(await gantry.deps.secrets.resolve({ namespace: "default", id: "hello" }, "DEPLOY_KEY")).toBe(VALUE);
  });

  it("sets a pipeline secret and links its scope to the pipeline", async () => {
    expect((await admin.post("/secrets", { scope: "default/hello", name: "TOKEN", value: "pipeline-only" })).status).toBe(303);
    const html = await page(admin, "/secrets");
    expect(html).toContain('<a href="/pipelines/default/hello">default/hello</a>');
    expect(html).toContain('<option value="default/hello"');
    expect(html).not.toContain("pipeline-only");
  });

  it("re-renders a bad submit with 400 and the message, keeping the name but never the value", async () => {
    const short = await admin.post("/secrets", { scope: "global", name: "SHORTY", value: "abc" });
    expect(short.status).toBe(400);
    const shortHtml = await short.text();
    expect(shortHtml).toContain("too short");
    expect(shortHtml).toContain('value="SHORTY"');
    expect(shortHtml).not.toContain('value="abc"');

    const badName = await admin.post("/secrets", { scope: "global", name: "no spaces allowed", value: VALUE });
    expect(badName.status).toBe(400);
    const badHtml = await badName.text();
    expect(badHtml).toContain("Name: must be 1-128 characters");
    expect(badHtml).not.toContain(VALUE);

    const hostile = await admin.post("/secrets", { scope: "global", name: SCRIPT, value: VALUE });
    expect(hostile.status).toBe(400);
    const hostileHtml = await hostile.text();
    expectEscaped(hostileHtml);
    expect(hostileHtml).not.toContain(VALUE);

    const unknownPipeline = await admin.post("/secrets", { scope: "default/nope", name: "X_KEY", value: VALUE });
    expect(unknownPipeline.status).toBe(400);
    expect(await unknownPipeline.text()).toContain("pipeline default/nope not found");
    expect((await gantry.deps.secrets.list()).map((secret) => secret.name)).not.toContain("SHORTY");
  });

  it("refuses a form without the CSRF token and changes nothing", async () => {
    const response = await fetch(`${gantry.url}/secrets/delete`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${admin.cookie}`, "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: new URLSearchParams({ scope: "global", name: "DEPLOY_KEY" }).toString(),
    });
    expect(response.status).toBe(403);
    expect(await gantry.deps.secrets.get({ kind: "global" }, "DEPLOY_KEY")).toBeDefined();
  });

  it("shows a viewer the names but no forms, and refuses its writes", async () => {
    const { client: viewer } = await loginWith("secret-viewer", ["viewer"]);
    const html = await page(viewer, "/secrets");
    expect(html).toContain("DEPLOY_KEY");
    expect(html).not.toContain('name="value"');
    expect(html).not.toContain("/secrets/delete");
    expect((await viewer.post("/secrets", { scope: "global", name: "VIEWER_SET", value: VALUE })).status).toBe(403);
    expect((await viewer.post("/secrets/delete", { scope: "global", name: "DEPLOY_KEY" })).status).toBe(403);
    expect(await gantry.deps.secrets.get({ kind: "global" }, "DEPLOY_KEY")).toBeDefined();
    expect(await gantry.deps.secrets.get({ kind: "global" }, "VIEWER_SET")).toBeUndefined();
  });

  it("deletes a secret behind a confirmation", async () => {
    const before = await page(admin, "/secrets");
    expect(before).toContain('data-confirm="Delete secret DEPLOY_KEY?"');
    const response = await admin.post("/secrets/delete", { scope: "global", name: "DEPLOY_KEY" });
    expect(response.status).toBe(303);
    const html = await page(admin, response.headers.get("location")!);
    expect(html).toContain("Secret DEPLOY_KEY (global) deleted.");
    expect(html).not.toContain("<th scope=\"row\" class=\"mono admin-name\">DEPLOY_KEY");
    expect(await gantry.deps.secrets.get({ kind: "global" }, "DEPLOY_KEY")).toBeUndefined();
    expect((await admin.post("/secrets/delete", { scope: "global", name: "DEPLOY_KEY" })).status).toBe(404);
  });
});

describe("tokens page", () => {
  let created: { id: string; secret: string };

  it("creates a token through the form and shows its secret once", async () => {
    const response = await admin.post("/tokens", { name: "ci-bot", roles: "viewer", expires: "30" });
    expect(response.status).toBe(201);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const html = await response.text();
    const secret = /id="created-token-secret" class="secret-once" type="text" readonly="" value="(gty_[\w-]+)"/.exec(html)?.[1];
    expect(secret).toBeDefined();
    expect(html).toContain("shown only this once");

    const whoami = await fetch(`${gantry.url}/api/v1/tokens/whoami`, { headers: { authorization: `Bearer ${secret}` } });
    expect(whoami.status).toBe(200);
    const { token } = (await whoami.json()) as { token: { id: string; name: string; roles: string[]; expiresAt: string } };
    expect(token).toMatchObject({ name: "ci-bot", roles: ["viewer"] });
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    created = { id: token.id, secret: secret! };

    const later = await page(admin, "/tokens");
    expect(later).toContain("ci-bot");
    expect(later).not.toContain(secret!);
    expect(later).not.toContain("created-token-secret");
  });

  it("marks the signed-in token and keeps the form's input on a bad submit", async () => {
    const html = await page(admin, "/tokens");
    expect(html).toMatch(/bootstrap<\/span> <span class="admin-tag admin-tag-you">you<\/span>/);
    const noRoles = await admin.post("/tokens", { name: `${SCRIPT}`, expires: "" });
    expect(noRoles.status).toBe(400);
    const bad = await noRoles.text();
    expect(bad).toContain("Roles: pick at least one role");
    expect(bad).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');
    expectEscaped(bad);
    const unknown = await admin.post("/tokens", { name: "x", roles: "nonexistent" });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("unknown role nonexistent");
  });

  it("cannot grant more than the signed-in token holds", async () => {
    const role = await gantry.api("/roles/token-maker", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "tokens", target: ".*", actions: ["read", "write"] }] }),
    });
    expect(role.status).toBe(201);
    const { client: maker } = await loginWith("maker", ["token-maker"]);
    const escalate = await maker.post("/tokens", { name: "sneaky", roles: "admin" });
    expect(escalate.status).toBe(403);
    expect(await escalate.text()).toContain("cannot grant");
    expect((await maker.post("/tokens", { name: "same", roles: "token-maker" })).status).toBe(201);
    const tokens = (await (await gantry.api("/tokens")).json()) as { tokens: { name: string }[] };
    expect(tokens.tokens.map((token) => token.name)).not.toContain("sneaky");
  });

  it("shows a new token's secret to a caller who may write tokens but not list them", async () => {
    const role = await gantry.api("/roles/token-writer", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "tokens", target: ".*", actions: ["write"] }] }),
    });
    expect(role.status).toBe(201);
    const { client: writer } = await loginWith("writer", ["token-writer"]);
    const form = await page(writer, "/tokens");
    expect(form).toContain('action="/tokens"');
    expect(form).toContain("may create tokens but not list them");
    expect(form).not.toContain("bootstrap");

    const response = await writer.post("/tokens", { name: "made-by-writer", roles: "token-writer" });
    expect(response.status).toBe(201);
    const html = await response.text();
    const secret = /id="created-token-secret" class="secret-once" type="text" readonly="" value="(gty_[\w-]+)"/.exec(html)?.[1];
    expect(secret).toBeDefined();
    // The list stays hidden: other tokens' names are not the writer's to read.
    expect(html).not.toContain("bootstrap");
    const whoami = await fetch(`${gantry.url}/api/v1/tokens/whoami`, { headers: { authorization: `Bearer ${secret}` } });
    expect(whoami.status).toBe(200);
    expect(((await whoami.json()) as { token: { name: string } }).token.name).toBe("made-by-writer");
  });

  it("revokes a token behind a confirmation and hides revoked ones unless asked", async () => {
    const list = await page(admin, "/tokens");
    expect(list).toContain('data-confirm="Revoke token ci-bot?"');
    const response = await admin.post("/tokens/revoke", { id: created.id });
    expect(response.status).toBe(303);
    expect(await page(admin, response.headers.get("location")!)).toContain("Token ci-bot revoked.");
    const whoami = await fetch(`${gantry.url}/api/v1/tokens/whoami`, { headers: { authorization: `Bearer ${created.secret}` } });
    expect(whoami.status).toBe(401);

    const tidy = await page(admin, "/tokens");
    expect(tidy).not.toContain("ci-bot");
    expect(tidy).toMatch(/Show \d+ revoked or expired tokens?/);
    const all = await page(admin, "/tokens?revoked=1");
    expect(all).toContain("ci-bot");
    expect(all).toMatch(/admin-tag-revoked">revoked/);
  });

  it("marks run tokens", async () => {
    const response = await gantry.api("/pipelines/default/hello/runs", { method: "POST", body: "{}" });
    expect(response.status).toBe(201);
    const { run } = (await response.json()) as { run: { id: number } };
    await waitFor(async () => {
      const state = ((await (await gantry.api(`/pipelines/default/hello/runs/${run.id}`)).json()) as { run: { state: string } }).run.state;
      return state === "successful" || state === "failed" ? state : undefined;
    });
    const html = await page(admin, "/tokens?revoked=1");
    expect(html).toContain(`run default/hello#${run.id} `);
    expect(html).toContain("run token");
  });

  it("names each bad permission line of a role", async () => {
    const response = await admin.post("/tokens/roles", {
      id: "deployer",
      description: "Deploys",
      permissions: "runs default/.* read,write\nsecretz global read\nruns default/.*\nlogs ( read",
    });
    expect(response.status).toBe(400);
    const html = await response.text();
    expect(html).toContain("Line 2 (&quot;secretz global read&quot;): resource must be one of");
    expect(html).toContain("Line 3 (&quot;runs default/.*&quot;): expected three parts");
    expect(html).toContain("Line 4 (&quot;logs ( read&quot;): target must be a valid regular expression");
    expect(html).not.toContain("Line 1");
    // The input stays for fixing.
    expect(html).toContain("secretz global read\nruns default/.*");
    expect((await gantry.api("/roles/deployer")).status).toBe(404);
  });

  it("creates, edits and deletes a custom role; built-in ones stay", async () => {
    const saved = await admin.post("/tokens/roles", { id: "deployer", description: `Deploys ${SCRIPT}`, permissions: "runs default/.* read,write\n\nlogs .* read" });
    expect(saved.status).toBe(303);
    const html = await page(admin, saved.headers.get("location")!);
    expect(html).toContain("Role deployer saved.");
    expectEscaped(html);
    expect(html).toContain('data-confirm="Delete role deployer? Tokens holding it lose its permissions."');
    expect(html).not.toContain('aria-label="Delete role admin"');
    expect(html).toMatch(/admin<\/span> <span class="admin-tag admin-tag-builtin">built in/);
    const { role } = (await (await gantry.api("/roles/deployer")).json()) as { role: { permissions: unknown[] } };
    expect(role.permissions).toEqual([
      { resource: "runs", target: "default/.*", actions: ["read", "write"] },
      { resource: "logs", target: ".*", actions: ["read"] },
    ]);

    const edit = await page(admin, "/tokens?role=deployer");
    expect(edit).toContain("runs default/.* read,write\nlogs .* read</textarea>");

    const builtIn = await admin.post("/tokens/roles/delete", { id: "admin" });
    expect(builtIn.status).toBe(409);
    expect(await builtIn.text()).toContain("built in and cannot be deleted");
    const overwrite = await admin.post("/tokens/roles", { id: "viewer", description: "", permissions: "* .* read,write" });
    expect(overwrite.status).toBe(409);
    expect((await gantry.api("/roles/viewer")).status).toBe(200);

    const deleted = await admin.post("/tokens/roles/delete", { id: "deployer" });
    expect(deleted.status).toBe(303);
    expect((await gantry.api("/roles/deployer")).status).toBe(404);
  });

  it("shows a viewer the lists without forms or buttons and refuses its writes", async () => {
    const { client: viewer } = await loginWith("token-viewer", ["viewer"]);
    const html = await page(viewer, "/tokens");
    expect(html).toContain("token-viewer");
    expect(html).not.toContain('action="/tokens"');
    expect(html).not.toContain("/tokens/revoke");
    expect(html).not.toContain('action="/tokens/roles"');
    expect((await viewer.post("/tokens", { name: "v", roles: "viewer" })).status).toBe(403);
    expect((await viewer.post("/tokens/roles", { id: "v", permissions: "runs .* read" })).status).toBe(403);
    expect((await viewer.post("/tokens/roles/delete", { id: "token-maker" })).status).toBe(403);
  });
});

describe("extensions pages", () => {
  it("lists the built-in extensions with their state and subscription counts", async () => {
    await waitFor(() => gantry.deps.extensions.get("cron")?.subscriptions.length);
    const html = await page(admin, "/extensions");
    for (const id of ["cron", "interval", "webhook", "github"]) expect(html).toContain(`<a href="/extensions/${id}">${id}</a>`);
    expect(html).toContain("badge ext-running");
    expect(html).toMatch(/<a href="\/extensions\/cron">cron<\/a><\/th><td><span class="badge ext-running">.*?<\/span><\/td><td class="num" data-label="Subscriptions">1<\/td>/);
  });

  it("shows one extension's subscriptions and log", async () => {
    const html = await page(admin, "/extensions/cron");
    expect(html).toContain("Extension <span class=\"mono\">cron</span>");
    expect(html).toContain('<a href="/pipelines/default/nightly">default/nightly</a>');
    expect(html).toContain("expression: 0 3 * * *");
    expect(html).toContain("pipeline file");
    expect(html).toContain("Recent log");
    await page(admin, "/extensions/nope", 404);
    await page(admin, "/extensions/%3Cscript%3E", 400);
  });
});

describe("events page", () => {
  it("lists events with hostile data escaped and links to pipeline and run", async () => {
    await insertEvent(gantry.deps.db, {
      kind: "pipeline.load_failed",
      namespace: "default",
      pipelineId: "hello",
      data: { error: SCRIPT, file: BREAKOUT },
      at: new Date(),
    });
    const html = await page(admin, "/events");
    expectEscaped(html);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain('<a href="/pipelines/default/hello">default/hello</a>');
    expect(html).toMatch(/<a href="\/pipelines\/default\/hello\/runs\/\d+">#\d+<\/a>/);
    expect(html).toContain('hx-swap="afterbegin"');
    expect(html).toContain('aria-live="polite"');
    expect(html).toMatch(/hx-sse:connect="\/events\/stream\?after=\d+"/);
    expect(html).toContain("Live");
  });

  it("pages to older events and filters by kind", async () => {
    for (let i = 0; i < 120; i++) {
      await insertEvent(gantry.deps.db, { kind: "auth.failed", data: { n: i }, at: new Date() });
    }
    const first = await page(admin, "/events");
    expect(rowsOf(first)).toBe(100);
    const older = /href="\/events\?before=(\d+)" rel="next"/.exec(first)?.[1];
    expect(older).toBeDefined();
    const second = await page(admin, `/events?before=${older}`);
    expect(rowsOf(second)).toBeGreaterThan(20);
    expect(second).not.toContain("hx-sse:connect");
    expect(second).toContain('href="/events">Newest events</a>');
    const firstIds = new Set(first.match(/id="event-\d+"/g));
    expect(second.match(/id="event-\d+"/g)!.some((id) => firstIds.has(id))).toBe(false);

    const runs = await page(admin, "/events?kind=run.");
    expect(runs).toContain("run.created");
    expect(runs).not.toContain(">auth.failed<");
    expect(runs).toContain("hx-sse:connect=\"/events/stream?after=");
    expect(runs).toContain("kind=run.");
    const bad = await admin.get(`/events?kind=${encodeURIComponent(SCRIPT)}`);
    expect(bad.status).toBe(400);
    const badHtml = await bad.text();
    expect(badHtml).toContain("Kind: letters a-z");
    expectEscaped(badHtml);
    await page(admin, "/events?before=abc", 400);
  });

  it("filters by a kind prefix taken literally ('_' is no wildcard)", async () => {
    // Not a real kind: one that a LIKE pattern with an unescaped "_" would match.
    await insertEvent(gantry.deps.db, { kind: "pipeline.loadXfailed" as "pipeline.load_failed", data: {}, at: new Date() });
    const html = await page(admin, "/events?kind=pipeline.load_");
    expect(html).toContain(">pipeline.load_failed<");
    expect(html).not.toContain("pipeline.loadXfailed");
  });

  it("streams a rendered row for each new event", async () => {
    const stream = await fetch(`${gantry.url}/events/stream`, { headers: { cookie: `gantry_session=${admin.cookie}` } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    const messages = readSse(stream);
    const response = await gantry.api("/pipelines/default/hello/runs", { method: "POST", body: "{}" });
    const { run } = (await response.json()) as { run: { id: number } };
    let html = "";
    for await (const message of messages) {
      expect(message.event).toBe("message");
      html += message.data;
      if (html.includes(`/pipelines/default/hello/runs/${run.id}`)) break;
    }
    expect(html).toMatch(/^<tr id="event-\d+">/);
    expect(html).toContain("run.created");
  });

  it("streams a secret's change at once: it is told on the bus, not found by a later look", async () => {
    const stream = await fetch(`${gantry.url}/events/stream`, { headers: { cookie: `gantry_session=${admin.cookie}` } });
    const messages = readSse(stream);
    const changed = Date.now();
    expect((await gantry.api("/secrets/told_at_once", { method: "PUT", body: JSON.stringify({ value: "some-long-value" }) })).status).toBeLessThan(300);
    let html = "";
    // The page's own look is every 5 s and the relay's, alone, every 3 s: 1.5 s is neither.
    const deadline = Bun.sleep(1_500).then(() => "late" as const);
    for (;;) {
      const next = await Promise.race([messages.next(), deadline]);
      if (next === "late" || next.done) break;
      html += next.value.data;
      if (html.includes("told_at_once")) break;
    }
    await messages.return(undefined);
    expect(html).toContain("secret.set");
    expect(html).toContain("told_at_once");
    expect(Date.now() - changed).toBeLessThan(1_500);
  });

  it("needs events:read", async () => {
    await gantry.api("/roles/pipeline-reader", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "pipelines", target: ".*", actions: ["read"] }] }),
    });
    const { client } = await loginWith("no-events", ["pipeline-reader"]);
    await page(client, "/events", 403);
    expect((await client.get("/events/stream")).status).toBe(403);
  });
});

describe("objects page", () => {
  const bytes = new Uint8Array(3000).map((_, i) => (i * 7) % 256);

  it("lists an object put through the API and downloads its bytes as an attachment", async () => {
    const put = await gantry.api("/pipelines/default/hello/objects/build/out.bin", {
      method: "PUT",
      body: bytes,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(put.status).toBe(201);
    const html = await page(admin, "/pipelines/default/hello/objects");
    expect(html).toContain("build/out.bin");
    expect(html).toContain("2.9 KiB");
    expect(html).toContain('href="/pipelines/default/hello"');
    expect(html).toContain('aria-current="page">Pipelines');

    const download = await admin.get("/pipelines/default/hello/objects/build/out.bin");
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("application/octet-stream");
    expect(download.headers.get("content-disposition")).toBe('attachment; filename="out.bin"');
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);
    await page(admin, "/pipelines/default/hello/objects/build/missing.bin", 404);
  });

  it("refuses hostile keys with the key escaped", async () => {
    const response = await admin.get(`/pipelines/default/hello/objects/${encodeURIComponent(BREAKOUT)}`);
    expect(response.status).toBe(400);
    const html = await response.text();
    expectEscaped(html);
    expect(html).toContain("may only contain letters");
    await page(admin, "/pipelines/default/nope/objects", 404);
  });

  it("uploads a file through the multipart form, within the size limit", async () => {
    const upload = (key: string, file: Blob, name = "notes.txt") => {
      const form = new FormData();
      form.set("_csrf", admin.csrf);
      form.set("key", key);
      form.set("file", file, name);
      return fetch(`${gantry.url}/pipelines/default/hello/objects`, {
        method: "POST",
        redirect: "manual",
        headers: { cookie: `gantry_session=${admin.cookie}`, accept: "text/html" },
        body: form,
      });
    };
    const ok = await upload("", new Blob(["uploaded through the page"]));
    expect(ok.status).toBe(303);
    expect(await page(admin, ok.headers.get("location")!)).toContain("Uploaded notes.txt.");
    const object = await gantry.api("/pipelines/default/hello/objects/notes.txt");
    expect(await object.text()).toBe("uploaded through the page");

    const tooLarge = await upload("big.bin", new Blob([new Uint8Array(MAX_BYTES + 1)]));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.text()).toContain(`limit of ${MAX_BYTES} bytes (GANTRY_OBJECT_MAX_BYTES)`);
    expect((await gantry.api("/pipelines/default/hello/objects/big.bin")).status).toBe(404);
    // Far over the limit: refused by its declared length, before the body is read.
    const wayTooLarge = await upload("huge.bin", new Blob([new Uint8Array(4 * MAX_BYTES)]));
    expect(wayTooLarge.status).toBe(413);
    const refusal = await wayTooLarge.text();
    expect(refusal).toContain(`(${MAX_BYTES} bytes)`);
    expect(refusal).toContain("GANTRY_OBJECT_MAX_BYTES");

    const badKey = await upload("../escape", new Blob(["x"]));
    expect(badKey.status).toBe(400);
    expect(await badKey.text()).toContain("must not contain &#39;..&#39;");
  });

  it("deletes an object behind a confirmation; a viewer can only download", async () => {
    const { client: viewer } = await loginWith("object-viewer", ["viewer"]);
    const readOnly = await page(viewer, "/pipelines/default/hello/objects");
    expect(readOnly).toContain("build/out.bin");
    expect(readOnly).not.toContain("objects/delete");
    expect(readOnly).not.toContain('type="file"');
    expect((await viewer.post("/pipelines/default/hello/objects/delete", { key: "build/out.bin" })).status).toBe(403);

    const html = await page(admin, "/pipelines/default/hello/objects");
    expect(html).toContain('data-confirm="Delete object build/out.bin?"');
    const response = await admin.post("/pipelines/default/hello/objects/delete", { key: "build/out.bin" });
    expect(response.status).toBe(303);
    expect(await page(admin, response.headers.get("location")!)).toContain("Deleted build/out.bin.");
    expect((await gantry.api("/pipelines/default/hello/objects/build/out.bin")).status).toBe(404);
  });
});
