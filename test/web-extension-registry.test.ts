// The extensions page's registry sections on a real server and verdaccio on 127.0.0.1:
// "Available" lists the registry's extensions with Install, "Installed" their pinned versions
// with Upgrade and Uninstall; the forms need the CSRF token and extensions:write (a viewer sees
// no buttons and is refused); a registry that cannot be reached is a line on the page. The
// page never waits on the registry: the list is a fragment htmx loads after it (a page of its
// own without JavaScript), and the registry's answer is reused for a while.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { consoleErrors, launchBrowser } from "./helpers/browser.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { packPackage, startVerdaccio, type NpmRegistryStub } from "./helpers/npm-registry.ts";
import { freePort } from "./helpers/ports.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(90_000);

const helloPackage = (version: string) =>
  packPackage(
    { name: "gantry-ext-greeter", version, description: "Greets <b>you</b>", keywords: ["gantry-extension"], type: "module", gantry: { id: "greeter" } },
    {
      "index.js": `import { defineExtension } from "gantry";
export default defineExtension({ id: "greeter", onHook() { return { status: 200, body: { version: "${version}" } }; } });
`,
    },
  );

let registry: NpmRegistryStub;
let gantry: TestGantry;
let admin: WebClient;

beforeAll(async () => {
  registry = await startVerdaccio();
  registry.publish(helloPackage("1.0.0"));
  gantry = await startTestGantry({ env: { GANTRY_NPM_REGISTRY: registry.url } });
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(async () => {
  await gantry?.stop();
  await registry?.stop();
});

/** A section of the page by its heading's id, up to the section's end. */
function sectionOf(html: string, id: string): string {
  const start = html.indexOf(`id="${id}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf("</section>", start));
}

async function page(client: WebClient): Promise<string> {
  const response = await client.get("/extensions");
  expect(response.status).toBe(200);
  return response.text();
}

/** The "Available" list as htmx fetches it into the page. */
async function availableList(client: WebClient): Promise<string> {
  const response = await client.get("/extensions/available", { "hx-request": "true" });
  expect(response.status).toBe(200);
  const html = await response.text();
  expect(html).toStartWith('<div id="extensions-available-list">');
  return html;
}

describe("the extensions page's registry sections", () => {
  it("lists the registry's extensions with an Install button after the page, and none installed yet", async () => {
    const html = await page(admin);
    const section = sectionOf(html, "extensions-available");
    expect(section).toContain(registry.url);
    // The page itself holds a placeholder htmx replaces, and a link for a browser without JavaScript.
    expect(section).toContain('<div id="extensions-available-list" hx-get="/extensions/available" hx-trigger="load" hx-swap="outerHTML"');
    expect(section).toContain('<a href="/extensions/available">');
    expect(section).not.toContain("gantry-ext-greeter");
    expect(sectionOf(html, "extensions-installed")).toContain("No extensions installed from the registry.");

    const available = await availableList(admin);
    expect(available).toContain("gantry-ext-greeter");
    expect(available).toContain("Greets &lt;b&gt;you&lt;/b&gt;");
    expect(available).toContain('aria-label="Install gantry-ext-greeter"');
    expect(available).not.toContain("<html");

    // Without htmx, the same list on a page of its own; one address, two answers, so caches are told.
    const fragment = await admin.get("/extensions/available", { "hx-request": "true" });
    expect(fragment.headers.get("vary")).toContain("HX-Request");
    const own = await admin.get("/extensions/available");
    expect(own.status).toBe(200);
    expect(own.headers.get("vary")).toContain("HX-Request");
    const ownHtml = await own.text();
    expect(ownHtml).toContain("<h1>Available extensions</h1>");
    expect(sectionOf(ownHtml, "extensions-available")).toContain('aria-label="Install gantry-ext-greeter"');
  });

  it("refuses an install without the CSRF token, and a viewer's install", async () => {
    const forged = await fetch(`${gantry.url}/extensions/install`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${admin.cookie}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ package: "gantry-ext-greeter" }).toString(),
    });
    expect(forged.status).toBe(403);
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "extension-viewer", roles: ["viewer"] }) });
    const viewer = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const html = await page(viewer);
    expect(html).not.toContain('action="/extensions/install"');
    const available = await availableList(viewer);
    expect(available).toContain("gantry-ext-greeter");
    expect(available).not.toContain('aria-label="Install gantry-ext-greeter"');
    expect((await viewer.post("/extensions/install", { package: "gantry-ext-greeter" })).status).toBe(403);
    expect((await gantry.api("/extensions/greeter")).status).toBe(404);
  });

  it("installs from the Install button: the extension runs and shows with its version", async () => {
    const response = await admin.post("/extensions/install", { package: "gantry-ext-greeter" });
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(html).toContain("Installed gantry-ext-greeter@1.0.0 as extension greeter; it is running.");
    const installed = sectionOf(html, "extensions-installed");
    expect(installed).toContain("gantry-ext-greeter");
    expect(installed).toContain("<code>1.0.0</code>");
    expect(installed).toContain('aria-label="Upgrade greeter"');
    expect(installed).toContain('aria-label="Uninstall greeter"');
    expect(html).toContain("Pinned in ");
    expect(await availableList(admin)).toContain("installed as greeter (1.0.0)");
    expect(await (await fetch(`${gantry.hooksUrl}/hooks/greeter`, { method: "POST", body: "{}" })).json()).toEqual({ version: "1.0.0" });
  });

  it("shows a refusal as the page's alert", async () => {
    const response = await admin.post("/extensions/install", { package: "gantry-ext-greeter" });
    expect(response.status).toBe(409);
    expect(await response.text()).toContain("gantry-ext-greeter is already installed (1.0.0) as extension greeter");
  });

  it("upgrades and uninstalls from the buttons", async () => {
    registry.publish(helloPackage("1.1.0"));
    const upgraded = await (await admin.post("/extensions/greeter/upgrade")).text();
    expect(upgraded).toContain("Upgraded extension greeter from 1.0.0 to 1.1.0; it is running.");
    expect(sectionOf(upgraded, "extensions-installed")).toContain("<code>1.1.0</code>");
    expect(await (await fetch(`${gantry.hooksUrl}/hooks/greeter`, { method: "POST", body: "{}" })).json()).toEqual({ version: "1.1.0" });
    const removed = await (await admin.post("/extensions/greeter/uninstall")).text();
    expect(removed).toContain("Uninstalled extension greeter (gantry-ext-greeter@1.1.0).");
    expect(sectionOf(removed, "extensions-installed")).toContain("No extensions installed from the registry.");
    expect((await gantry.api("/extensions/greeter")).status).toBe(404);
  });

  it("says so when the registry cannot be reached, and still shows the page", async () => {
    const port = await freePort();
    const offline = await startTestGantry({ env: { GANTRY_NPM_REGISTRY: `http://127.0.0.1:${port}` } });
    try {
      const client = await webLogin(offline.url, offline.token);
      const html = await page(client);
      expect(sectionOf(html, "extensions-installed")).toContain("No extensions installed from the registry.");
      expect(await availableList(client)).toContain(`The registry cannot be listed: the npm registry at http://127.0.0.1:${port} cannot be reached`);
    } finally {
      await offline.stop();
    }
  });
});

describe("the extensions page and a slow registry", () => {
  /** A registry whose searches never answer, counting them. */
  let searches = 0;
  let hanging: ReturnType<typeof Bun.serve>;
  let slow: TestGantry;

  beforeAll(async () => {
    hanging = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        if (new URL(request.url).pathname === "/-/v1/search") searches++;
        return new Promise<Response>(() => {});
      },
    });
    slow = await startTestGantry({ env: { GANTRY_NPM_REGISTRY: `http://127.0.0.1:${hanging.port}` } });
  });
  afterAll(async () => {
    await slow?.stop();
    hanging?.stop(true);
  });

  it("answers without asking the registry; the list says it cannot be reached, and asks once for a while", async () => {
    const client = await webLogin(slow.url, slow.token);
    const started = performance.now();
    const html = await page(client);
    // The page waits on nothing (before, it waited 5 s for the registry here).
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(searches).toBe(0);
    expect(sectionOf(html, "extensions-available")).toContain('hx-get="/extensions/available"');

    const list = await availableList(client);
    expect(list).toContain(`The registry cannot be listed: the npm registry at http://127.0.0.1:${hanging.port} cannot be reached`);
    expect(searches).toBe(1);
    // The failure is remembered briefly: the next visit does not wait on the registry again.
    expect(await availableList(client)).toContain("cannot be reached");
    expect(searches).toBe(1);
  });
});

describe("the registry's list is reused", () => {
  let searches = 0;
  let counting: ReturnType<typeof Bun.serve>;
  let cached: TestGantry;

  beforeAll(async () => {
    counting = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        if (new URL(request.url).pathname !== "/-/v1/search") return new Response("not found", { status: 404 });
        searches++;
        return Response.json({ objects: [{ package: { name: "gantry-ext-counted", version: "1.0.0", keywords: ["gantry-extension"], description: "asked for" } }] });
      },
    });
    cached = await startTestGantry({ env: { GANTRY_NPM_REGISTRY: `http://127.0.0.1:${counting.port}` } });
  });
  afterAll(async () => {
    await cached?.stop();
    counting?.stop(true);
  });

  it("asks the registry once for several visits and the API's list", async () => {
    const client = await webLogin(cached.url, cached.token);
    expect(await availableList(client)).toContain("gantry-ext-counted");
    expect(await availableList(client)).toContain("gantry-ext-counted");
    const api = (await (await cached.api("/extensions/available")).json()) as { packages: { name: string }[] };
    expect(api.packages.map((pkg) => pkg.name)).toEqual(["gantry-ext-counted"]);
    expect(searches).toBe(1);
  });
});

describe("the extensions page in Chromium", () => {
  it("loads the registry's list into the page, and shows it on a page of its own without JavaScript", async () => {
    const browser = await launchBrowser();
    try {
      const cookie = { name: "gantry_session", value: admin.cookie, domain: new URL(gantry.url).hostname, path: "/" };
      const context = await browser.newContext();
      await context.addCookies([cookie]);
      const tab = await context.newPage();
      const errors = consoleErrors(tab);
      await tab.goto(`${gantry.url}/extensions`);
      await tab.locator("#extensions-available-list").getByRole("button", { name: "Install gantry-ext-greeter" }).waitFor({ timeout: 10_000 });
      expect(await tab.locator("#extensions-available-list[aria-busy]").count()).toBe(0);
      expect(errors).toEqual([]);

      // axe is injected by the test, so this context lifts the CSP that forbids such scripts.
      const checking = await browser.newContext({ bypassCSP: true });
      await checking.addCookies([cookie]);
      const checked = await checking.newPage();
      await checked.goto(`${gantry.url}/extensions`);
      await checked.locator("#extensions-available-list table").waitFor({ timeout: 10_000 });
      await checked.evaluate(readFileSync(join(import.meta.dir, "..", "node_modules", "axe-core", "axe.min.js"), "utf8"));
      const violations = await checked.evaluate(`axe.run(document, { runOnly: ["wcag2a", "wcag2aa"] }).then((result) => result.violations.map((v) => v.id))`);
      expect(violations).toEqual([]);

      const plain = await browser.newContext({ javaScriptEnabled: false });
      await plain.addCookies([cookie]);
      const noScript = await plain.newPage();
      await noScript.goto(`${gantry.url}/extensions`);
      await noScript.getByRole("link", { name: "Show the registry's extensions" }).click();
      await noScript.getByRole("heading", { name: "Available extensions", level: 1 }).waitFor();
      await noScript.getByRole("button", { name: "Install gantry-ext-greeter" }).waitFor();
    } finally {
      await browser.close();
    }
  });
});
