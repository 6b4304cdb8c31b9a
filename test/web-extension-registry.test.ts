// The extensions page's registry sections on a real server and verdaccio on 127.0.0.1:
// "Available" lists the registry's extensions with Install, "Installed" their pinned versions
// with Upgrade and Uninstall; the forms need the CSRF token and extensions:write (a viewer sees
// no buttons and is refused); a registry that cannot be reached is a line on the page.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { freePort, packPackage, startVerdaccio, type NpmRegistryStub } from "./helpers/npm-registry.ts";
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

describe("the extensions page's registry sections", () => {
  it("lists the registry's extensions with an Install button, and none installed yet", async () => {
    const html = await page(admin);
    const available = sectionOf(html, "extensions-available");
    expect(available).toContain("gantry-ext-greeter");
    expect(available).toContain("Greets &lt;b&gt;you&lt;/b&gt;");
    expect(available).toContain('aria-label="Install gantry-ext-greeter"');
    expect(available).toContain(registry.url);
    expect(sectionOf(html, "extensions-installed")).toContain("No extensions installed from the registry.");
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
    expect(sectionOf(html, "extensions-available")).toContain("gantry-ext-greeter");
    expect(html).not.toContain('aria-label="Install gantry-ext-greeter"');
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
    expect(sectionOf(html, "extensions-available")).toContain("installed as greeter (1.0.0)");
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
      const html = await page(await webLogin(offline.url, offline.token));
      expect(sectionOf(html, "extensions-available")).toContain(`The registry cannot be listed: the npm registry at http://127.0.0.1:${port} cannot be reached`);
      expect(sectionOf(html, "extensions-installed")).toContain("No extensions installed from the registry.");
    } finally {
      await offline.stop();
    }
  });
});
