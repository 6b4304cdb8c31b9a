// Issue 11: the first-start login link carried the permanent admin token, was reusable, sat in
// the server log, and `GET /login?token=` logged in on a GET (login CSRF). Now the link carries
// a one-time code (stored hashed, 15 minutes, used once, exchanged by a same-origin POST), and
// the token lives only in the 0600 bootstrap-token file.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { startGantryProcess, startTestGantry, type TestGantry } from "../helpers/gantry.ts";

setDefaultTimeout(60_000);

let gantry: TestGantry;
let clockOffsetMs = 0;

beforeAll(async () => {
  gantry = await startTestGantry({ now: () => new Date(Date.now() + clockOffsetMs) });
});
afterAll(() => gantry?.stop());

const page = (server: { url: string }, path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { redirect: "manual", ...init });

const postCode = (server: { url: string }, code: string, headers: Record<string, string> = {}) =>
  page(server, "/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams({ code, next: "/pipelines" }).toString(),
  });

const codeOf = (loginUrl: string) => new URL(loginUrl).searchParams.get("code")!;
const pathOf = (loginUrl: string) => `${new URL(loginUrl).pathname}${new URL(loginUrl).search}`;
const sessionCookie = (response: Response) => /gantry_session=[^;]+/.exec(response.headers.get("set-cookie") ?? "")?.[0];

describe("the first-start login link", () => {
  it("carries a one-time code, never the token, and the database keeps only its hash", async () => {
    expect(gantry.loginUrl).toMatch(/\/login\?code=glc_[A-Za-z0-9_-]{43}$/);
    expect(gantry.loginUrl).not.toContain(gantry.token);
    const stored = await gantry.deps.database.client.execute("SELECT * FROM login_codes");
    expect(stored.rows.length).toBe(1);
    expect(JSON.stringify(stored.rows)).not.toContain(codeOf(gantry.loginUrl!));
  });

  it("only shows a form on GET: opening the link logs nobody in", async () => {
    const shown = await page(gantry, pathOf(gantry.loginUrl!));
    expect(shown.status).toBe(200);
    expect(shown.headers.get("set-cookie")).toBeNull();
    expect(shown.headers.get("cache-control")).toBe("no-store");
    const html = await shown.text();
    expect(html).toContain('method="post" action="/login"');
    expect(html).toContain(`name="code" value="${codeOf(gantry.loginUrl!)}"`);
    // Opening it twice still leaves the code unused.
    expect((await page(gantry, pathOf(gantry.loginUrl!))).status).toBe(200);
  });

  it("exchanges the code once, by a same-origin POST, for a session of the bootstrap token", async () => {
    // A cross-site POST is refused and does not use the code up.
    const crossSite: Record<string, string>[] = [{ origin: "https://evil.example" }, { "sec-fetch-site": "cross-site" }];
    for (const headers of crossSite) {
      const refused = await postCode(gantry, codeOf(gantry.loginUrl!), headers);
      expect(refused.status).toBe(403);
      expect(sessionCookie(refused)).toBeUndefined();
    }
    const response = await postCode(gantry, codeOf(gantry.loginUrl!), { "sec-fetch-site": "same-origin" });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/pipelines");
    const cookie = sessionCookie(response)!;
    const home = await page(gantry, "/", { headers: { cookie } });
    expect(home.status).toBe(200);
    expect(await home.text()).toContain("bootstrap");
  });

  it("says clearly that a used code was used, on POST and on GET", async () => {
    const again = await postCode(gantry, codeOf(gantry.loginUrl!));
    expect(again.status).toBe(401);
    expect(sessionCookie(again)).toBeUndefined();
    expect(await again.text()).toContain("this login link was already used (each works once)");
    const shown = await page(gantry, pathOf(gantry.loginUrl!));
    expect(shown.status).toBe(410);
    const html = await shown.text();
    expect(html).toContain("already used");
    expect(html).not.toContain('name="code"');
  });

  it("never logs in from a token in the URL", async () => {
    const response = await page(gantry, `/login?token=${encodeURIComponent(gantry.token)}`);
    expect(response.status).toBe(400);
    expect(sessionCookie(response)).toBeUndefined();
    expect(await response.text()).toContain("Tokens are not accepted in links");
  });

  it("refuses a made-up or malformed code", async () => {
    for (const code of [`glc_${"A".repeat(43)}`, "nonsense"]) {
      expect((await page(gantry, `/login?code=${code}`)).status).toBe(410);
      const response = await postCode(gantry, code);
      expect(response.status).toBe(401);
      expect(await response.text()).toContain("this login link is not valid");
    }
  });
});

describe("an expired link", () => {
  it("stops working after 15 minutes and says it expired (fake clock)", async () => {
    let offsetMs = 0;
    const fresh = await startTestGantry({ now: () => new Date(Date.now() + offsetMs) });
    try {
      const code = codeOf(fresh.loginUrl!);
      offsetMs = 16 * 60_000;
      const shown = await page(fresh, pathOf(fresh.loginUrl!));
      expect(shown.status).toBe(410);
      expect(await shown.text()).toContain("this login link expired (links work for 15 minutes)");
      const response = await postCode(fresh, code);
      expect(response.status).toBe(401);
      expect(sessionCookie(response)).toBeUndefined();
      expect(await response.text()).toContain("expired");
      // The token from the file still logs in.
      const withToken = await page(fresh, "/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: fresh.token }).toString(),
      });
      expect(withToken.status).toBe(303);
    } finally {
      await fresh.stop();
    }
  });
});

describe("gantry serve on first start", () => {
  it("prints the one-time link, never the token, which only the 0600 file holds", async () => {
    const server = await startGantryProcess({ env: { GANTRY_RUN_SANDBOX: "off" } });
    try {
      let link: string | undefined;
      for (let i = 0; i < 200 && !(link = server.loginUrl()); i++) await Bun.sleep(25);
      expect(link).toMatch(/\/login\?code=glc_/);
      expect(server.output()).not.toContain(server.token);
      expect(statSync(join(server.dataDir, "bootstrap-token")).mode & 0o777).toBe(0o600);
      // The printed link works (once) against that server.
      const response = await postCode(server, codeOf(link!));
      expect(response.status).toBe(303);
      expect((await postCode(server, codeOf(link!))).status).toBe(401);
    } finally {
      await server.stop();
    }
  });
});
