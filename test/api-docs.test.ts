// /api/docs in real Chromium under the strict CSP: the reference renders from the document,
// without a CDN or a console error, lists the routes, and a call made from it with a token
// pasted into Authorize reaches the API. Without a session the page sends to the login.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { consoleErrors, launchBrowser, screenshot } from "./helpers/browser.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(60_000);

let gantry: TestGantry;
let admin: WebClient;

beforeAll(async () => {
  gantry = await startTestGantry();
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

describe("/api/docs", () => {
  it("needs a session, and its document is the API's own", async () => {
    const anonymous = await fetch(`${gantry.url}/api/docs`, { redirect: "manual" });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toStartWith("/login");
    expect((await fetch(`${gantry.url}/api/docs/openapi.json`, { redirect: "manual" })).status).toBe(303);
    const viaSession = await admin.get("/api/docs/openapi.json");
    expect(viaSession.status).toBe(200);
    expect(await viaSession.json()).toEqual(await (await gantry.api("/openapi.json")).json());
    const page = await admin.get("/api/docs");
    const html = await page.text();
    // Linked from every page's navigation; the assets from /public only.
    expect(html).toContain('<a href="/api/docs" aria-current="page">API</a>');
    expect(html).toMatch(/<script src="\/public\/swagger-ui\.js\?v=\w+" defer=""><\/script>/);
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[^"]*\.(js|css)/);
  });

  it("renders the reference under the strict CSP and runs a call with a pasted token", async () => {
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext();
      await context.addCookies([{ name: "gantry_session", value: admin.cookie, domain: new URL(gantry.url).hostname, path: "/" }]);
      const tab = await context.newPage();
      const errors = consoleErrors(tab);
      const outside: string[] = [];
      tab.on("request", (request) => {
        if (!request.url().startsWith(gantry.url)) outside.push(request.url());
      });
      await tab.goto(`${gantry.url}/api/docs`);
      await tab.waitForSelector(".opblock-summary-path", { timeout: 20_000 });
      const paths = await tab.$$eval(".opblock-summary-path", (nodes) => nodes.map((node) => node.getAttribute("data-path")));
      expect(paths).toContain("/pipelines/{ns}/{id}/runs");
      expect(paths).toContain("/health");
      await screenshot(tab, "api-docs");

      // Authorize with the token, then try GET /tokens/whoami.
      await tab.click("button.authorize");
      await tab.fill(".auth-container input[type=text], .auth-container input[type=password]", gantry.token);
      await tab.click(".auth-btn-wrapper button.authorize");
      await tab.click(".btn-done");
      const operation = tab.locator("#operations-tokens-getTokensWhoami, .opblock:has([data-path='/tokens/whoami'])").first();
      await operation.locator(".opblock-summary").click();
      await operation.locator("button.try-out__btn").click();
      const answered = tab.waitForResponse((response) => response.url().endsWith("/api/v1/tokens/whoami"));
      await operation.locator("button.execute").click();
      const response = await answered;
      expect(response.status()).toBe(200);
      expect(((await response.json()) as { token: { name: string } }).token.name).toBe("bootstrap");
      expect(outside).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
