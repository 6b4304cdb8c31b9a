// Web sessions on a real server: login (form and the first-start link's one-time code), cookie attributes,
// idle and absolute expiry, logout ending the session server-side, CSRF on every
// state-changing request, the Content-Security-Policy, and rate-limited failed logins.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { SignJWT } from "jose";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { tempDir } from "./helpers/temp.ts";

setDefaultTimeout(30_000);

let gantry: TestGantry;
let clockOffsetMs = 0;
const dataDir = tempDir("gantry-data-");

beforeAll(async () => {
  gantry = await startTestGantry({
    dataDir,
    env: { GANTRY_SESSION_IDLE: "10m", GANTRY_SESSION_MAX_AGE: "1h", GANTRY_AUTH_FAILURE_LIMIT: "5", GANTRY_STREAM_RECHECK: "200ms" },
    now: () => new Date(Date.now() + clockOffsetMs),
  });
});
afterAll(() => gantry?.stop());

const page = (path: string, init: RequestInit = {}) => fetch(`${gantry.url}${path}`, { redirect: "manual", ...init });

function cookieOf(response: Response): string {
  const header = response.headers.get("set-cookie") ?? "";
  const match = /gantry_session=([^;]*)/.exec(header);
  if (!match?.[1]) throw new Error(`no session cookie in: ${header}`);
  return match[1];
}

async function login(token = gantry.token, next = "/"): Promise<{ cookie: string; setCookie: string }> {
  const response = await page("/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, next }).toString(),
  });
  expect(response.status).toBe(303);
  return { cookie: cookieOf(response), setCookie: response.headers.get("set-cookie")! };
}

const withCookie = (cookie: string, init: RequestInit = {}) => ({ ...init, headers: { ...(init.headers as Record<string, string>), cookie: `gantry_session=${cookie}` } });

async function csrfOf(cookie: string): Promise<string> {
  const html = await (await page("/", withCookie(cookie))).text();
  const match = /name="csrf-token" content="([^"]+)"/.exec(html);
  if (!match) throw new Error("no csrf token on the page");
  return match[1]!;
}

describe("login", () => {
  it("sends pages without a session to the login form, keeping where they wanted to go", async () => {
    const response = await page("/");
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/login?next=%2F");
    const form = await page("/login");
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="token"');
  });

  it("exchanges a token for an HttpOnly, SameSite=Strict cookie", async () => {
    const { cookie, setCookie } = await login();
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).toContain("Path=/");
    const home = await page("/", withCookie(cookie));
    expect(home.status).toBe(200);
    expect(await home.text()).toContain("bootstrap");
  });

  it("logs in from the first-start link's one-time code, by POST only", async () => {
    const link = new URL(gantry.loginUrl!);
    const shown = await page(link.pathname + link.search);
    expect(shown.status).toBe(200);
    expect(shown.headers.get("set-cookie")).toBeNull();
    const code = link.searchParams.get("code")!;
    expect(await shown.text()).toContain(`name="code" value="${code}"`);
    const response = await page("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ code, next: "/" }).toString(),
    });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/");
    expect((await page("/", withCookie(cookieOf(response)))).status).toBe(200);
  });

  it("never redirects off-site after login", async () => {
    const response = await page("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: gantry.token, next: "//evil.example/x" }).toString(),
    });
    expect(response.headers.get("location")).toBe("/");
  });

  it("shows a failed login on the form with 401", async () => {
    const response = await page("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": "ignored" },
      body: "token=gty_wrong",
    });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain("Login failed");
  });

  it("refuses a cross-site login post", async () => {
    const response = await page("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
      body: new URLSearchParams({ token: gantry.token }).toString(),
    });
    expect(response.status).toBe(403);
    // Browsers name the relation in Sec-Fetch-Site, and send `Origin: null` from sandboxes.
    const foreign: Record<string, string>[] = [{ "sec-fetch-site": "cross-site" }, { "sec-fetch-site": "same-site" }, { origin: "null" }];
    for (const headers of foreign) {
      const refused = await page("/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams({ token: gantry.token }).toString(),
      });
      expect(refused.status).toBe(403);
    }
    const ours = await page("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin", origin: gantry.url },
      body: new URLSearchParams({ token: gantry.token }).toString(),
    });
    expect(ours.status).toBe(303);
  });
});

describe("cookies that must not work", () => {
  it("refuses a tampered cookie and one signed with another key or algorithm", async () => {
    const { cookie } = await login();
    const [header, payload, signature] = cookie.split(".");
    // Change the first character of the signature to a different one (never a no-op).
    const tampered = `${header}.${payload}.${signature![0] === "A" ? "B" : "A"}${signature!.slice(1)}`;
    expect((await page("/", withCookie(tampered))).status).toBe(303);
    const sid = (JSON.parse(Buffer.from(payload!, "base64url").toString()) as { sid: string }).sid;
    const otherKey = await new SignJWT({ sid }).setProtectedHeader({ alg: "HS256" }).setIssuer("gantry").sign(new Uint8Array(32));
    expect((await page("/", withCookie(otherKey))).status).toBe(303);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${payload}.`;
    expect((await page("/", withCookie(unsigned))).status).toBe(303);
  });
});

describe("expiry", () => {
  it("ends a session idle for longer than the idle limit", async () => {
    const { cookie } = await login();
    clockOffsetMs = 11 * 60_000;
    try {
      expect((await page("/", withCookie(cookie))).status).toBe(303);
    } finally {
      clockOffsetMs = 0;
    }
    // Ended for good, not just while the clock is ahead.
    expect((await page("/", withCookie(cookie))).status).toBe(303);
  });

  it("ends an active session at its absolute age", async () => {
    const { cookie } = await login();
    try {
      // Active every 9 minutes, never idle, until the hour is up.
      for (const minutes of [9, 18, 27, 36, 45, 54]) {
        clockOffsetMs = minutes * 60_000;
        expect((await page("/", withCookie(cookie))).status).toBe(200);
      }
      clockOffsetMs = 61 * 60_000;
      expect((await page("/", withCookie(cookie))).status).toBe(303);
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("ends the session when its token is revoked", async () => {
    const created = (await (await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "short-lived", roles: ["viewer"] }) })).json()) as {
      token: { id: string };
      secret: string;
    };
    const { cookie } = await login(created.secret);
    expect((await page("/", withCookie(cookie))).status).toBe(200);
    await gantry.api(`/tokens/${created.token.id}`, { method: "DELETE" });
    expect((await page("/", withCookie(cookie))).status).toBe(303);
  });
});

describe("logout and CSRF", () => {
  it("refuses a state-changing request without the session's CSRF token, form or htmx header", async () => {
    const { cookie } = await login();
    const bare = await page("/logout", withCookie(cookie, { method: "POST" }));
    expect(bare.status).toBe(403);
    expect(((await bare.json()) as { error: { message: string } }).error.message).toContain("CSRF");
    const wrong = await page("/logout", withCookie(cookie, { method: "POST", headers: { "x-csrf-token": "nope", "hx-request": "true" } }));
    expect(wrong.status).toBe(403);
    // Another session's token does not fit this one.
    const other = await login();
    const foreign = await page("/logout", withCookie(cookie, { method: "POST", headers: { "x-csrf-token": await csrfOf(other.cookie) } }));
    expect(foreign.status).toBe(403);
    // Still logged in after all that.
    expect((await page("/", withCookie(cookie))).status).toBe(200);
  });

  it("logs out with the CSRF token (form field or htmx header) and the old cookie stops working", async () => {
    for (const how of ["form", "header"] as const) {
      const { cookie } = await login();
      const csrf = await csrfOf(cookie);
      const init: RequestInit =
        how === "form"
          ? { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `_csrf=${encodeURIComponent(csrf)}` }
          : { method: "POST", headers: { "x-csrf-token": csrf, "hx-request": "true" } };
      const response = await page("/logout", withCookie(cookie, init));
      expect(response.status).toBe(303);
      expect(response.headers.get("set-cookie")).toContain("gantry_session=;");
      // Replaying the old cookie after logout: the session is gone server-side.
      expect((await page("/", withCookie(cookie))).status).toBe(303);
    }
  });
});

describe("live streams", () => {
  /** Reads a stream to its end; true when the server closed it within the time. */
  async function closesWithin(response: Response, ms: number): Promise<boolean> {
    const reader = response.body!.getReader();
    let late = false;
    const deadline = setTimeout(() => {
      late = true;
      void reader.cancel();
    }, ms);
    try {
      for (;;) {
        const { done } = await reader.read();
        if (done) return !late;
      }
    } catch {
      return false;
    } finally {
      clearTimeout(deadline);
    }
  }

  it("end when their session is logged out", async () => {
    const { cookie } = await login();
    const csrf = await csrfOf(cookie);
    const stream = await page("/live/dashboard", withCookie(cookie, { headers: { accept: "text/event-stream" } }));
    expect(stream.status).toBe(200);
    const logout = await page("/logout", withCookie(cookie, { method: "POST", headers: { "x-csrf-token": csrf } }));
    expect(logout.status).toBe(303);
    expect(await closesWithin(stream, 3_000)).toBe(true);
  });

  it("do not keep an idle session alive: a page left open still idles out", async () => {
    const { cookie } = await login();
    const stream = await page("/live/dashboard", withCookie(cookie, { headers: { accept: "text/event-stream" } }));
    expect(stream.status).toBe(200);
    try {
      // The stream's checks at 9 minutes must not count as the reader being there.
      clockOffsetMs = 9 * 60_000;
      await Bun.sleep(500);
      clockOffsetMs = 11 * 60_000;
      expect(await closesWithin(stream, 3_000)).toBe(true);
    } finally {
      clockOffsetMs = 0;
    }
    expect((await page("/", withCookie(cookie))).status).toBe(303);
  });

  it("end when their API token is revoked, and not before", async () => {
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "streamer", roles: ["viewer"] }) });
    const { token, secret } = (await created.json()) as { token: { id: string }; secret: string };
    const open = () => fetch(`${gantry.url}/api/v1/events/stream`, { headers: { authorization: `Bearer ${secret}` } });
    const kept = await open();
    expect(await closesWithin(kept, 1_000)).toBe(false);
    const stream = await open();
    expect((await gantry.api(`/tokens/${token.id}`, { method: "DELETE" })).status).toBeLessThan(300);
    expect(await closesWithin(stream, 3_000)).toBe(true);
  });
});

describe("security headers", () => {
  it("serves pages with a Content-Security-Policy that allows no inline script", async () => {
    const { cookie } = await login();
    for (const response of [await page("/login"), await page("/", withCookie(cookie))]) {
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(response.headers.get("referrer-policy")).toBe("same-origin");
      const html = await response.text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toContain(" style=");
    }
  });
});

describe("failed authentication", () => {
  it("is rate-limited per address and token prefix with 429 and Retry-After, and logged as events", async () => {
    const before = ((await (await gantry.api("/events?limit=1000")).json()) as { events: { kind: string }[] }).events.filter(
      (event) => event.kind === "auth.failed",
    ).length;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const response = await fetch(`${gantry.url}/api/v1/pipelines`, { headers: { authorization: `Bearer gty_guess_${i}` } });
      statuses.push(response.status);
      if (response.status === 429) expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    // Earlier tests in this file already spent some of the 5 failures allowed per minute.
    expect(statuses).toContain(429);
    expect(statuses.at(-1)).toBe(429);
    // A valid token from the same address still gets in: only failures are held back.
    expect((await fetch(`${gantry.url}/api/v1/pipelines`, { headers: { authorization: `Bearer ${gantry.token}` } })).status).toBe(200);
    clockOffsetMs = 61_000;
    try {
      const events = ((await (await gantry.api("/events?limit=1000")).json()) as { events: { kind: string; data: { address: string; reason: string } }[] }).events.filter(
        (event) => event.kind === "auth.failed",
      );
      expect(events.length).toBeGreaterThan(before);
      expect(events.at(-1)!.data.address).toBeTruthy();
      expect(JSON.stringify(events)).not.toContain("gty_guess_");
    } finally {
      clockOffsetMs = 0;
    }
  });
});

describe("restart", () => {
  it("keeps sessions across a restart (the signing key lives in the data dir)", async () => {
    clockOffsetMs = 2 * 60_000; // past the failed-auth window of the test above
    const { cookie } = await login();
    await gantry.stop();
    gantry = await startTestGantry({ dataDir, now: () => new Date(Date.now() + clockOffsetMs) });
    expect((await page("/", withCookie(cookie))).status).toBe(200);
    clockOffsetMs = 0;
  });
});
