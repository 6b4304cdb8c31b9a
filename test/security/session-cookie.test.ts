// Issue 11: over https the session cookie is `__Host-` prefixed (Secure, Path=/, no Domain), so
// no sibling subdomain can set or shadow it. "https" is the request URL's scheme, the
// X-Forwarded-Proto of a trusted proxy (never of anyone else), or an https GANTRY_PUBLIC_URL.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { createServer } from "../../app/server.ts";
import { startTestGantry, type TestGantry } from "../helpers/gantry.ts";

setDefaultTimeout(30_000);

let gantry: TestGantry;
let app: ReturnType<typeof createServer>;

beforeAll(async () => {
  gantry = await startTestGantry();
  app = createServer(gantry.deps);
});
afterAll(() => gantry?.stop());

const loginForm = (token: string) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({ token, next: "/" }).toString(),
});

/** The Set-Cookie attributes, lower-cased names, e.g. { secure: "", path: "/" }. */
function attributes(setCookie: string): { name: string; value: string; attrs: Record<string, string> } {
  const [pair, ...rest] = setCookie.split(";").map((part) => part.trim());
  const [name, value] = [pair!.slice(0, pair!.indexOf("=")), pair!.slice(pair!.indexOf("=") + 1)];
  const attrs = Object.fromEntries(rest.map((part) => [part.split("=")[0]!.toLowerCase(), part.split("=")[1] ?? ""]));
  return { name, value, attrs };
}

describe("over https", () => {
  it("names the cookie __Host-gantry_session, Secure, Path=/, no Domain", async () => {
    const response = await app.request("https://gantry.example/login", loginForm(gantry.token));
    expect(response.status).toBe(303);
    const cookie = attributes(response.headers.get("set-cookie")!);
    expect(cookie.name).toBe("__Host-gantry_session");
    expect(cookie.attrs).toHaveProperty("secure");
    expect(cookie.attrs).toHaveProperty("httponly");
    expect(cookie.attrs.path).toBe("/");
    expect(cookie.attrs.samesite).toBe("Strict");
    expect(cookie.attrs).not.toHaveProperty("domain");
    // The prefixed cookie opens pages; the same value under the plain name does not (a
    // plain-named cookie could have been planted over http or by a subdomain).
    expect((await app.request("https://gantry.example/", { headers: { cookie: `__Host-gantry_session=${cookie.value}` } })).status).toBe(200);
    expect((await app.request("https://gantry.example/", { headers: { cookie: `gantry_session=${cookie.value}` } })).status).toBe(303);
  });

  it("clears the prefixed cookie on logout", async () => {
    const login = await app.request("https://gantry.example/login", loginForm(gantry.token));
    const { value } = attributes(login.headers.get("set-cookie")!);
    const cookie = `__Host-gantry_session=${value}`;
    const home = await (await app.request("https://gantry.example/", { headers: { cookie } })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(home)![1]!;
    const logout = await app.request("https://gantry.example/logout", { method: "POST", headers: { cookie, "x-csrf-token": csrf } });
    expect(logout.status).toBe(303);
    const cleared = attributes(logout.headers.get("set-cookie")!);
    expect(cleared.name).toBe("__Host-gantry_session");
    expect(cleared.value).toBe("");
    expect(cleared.attrs).toHaveProperty("secure");
    expect((await app.request("https://gantry.example/", { headers: { cookie } })).status).toBe(303);
  });
});

describe("over plain http", () => {
  it("keeps the plain name without Secure, whatever X-Forwarded-Proto a peer that is not a trusted proxy sends", async () => {
    const plain = attributes((await app.request("http://127.0.0.1/login", loginForm(gantry.token))).headers.get("set-cookie")!);
    expect(plain.name).toBe("gantry_session");
    expect(plain.attrs).not.toHaveProperty("secure");
    const login = loginForm(gantry.token);
    const response = await fetch(`${gantry.url}/login`, { redirect: "manual", ...login, headers: { ...login.headers, "x-forwarded-proto": "https" } });
    expect(response.status).toBe(303);
    const claimed = attributes(response.headers.get("set-cookie")!);
    expect(claimed.name).toBe("gantry_session");
    expect(claimed.attrs).not.toHaveProperty("secure");
  });
});

describe("behind a trusted proxy or an https public URL", () => {
  it("uses the prefix when a trusted proxy says https", async () => {
    const proxied = await startTestGantry({ env: { GANTRY_TRUSTED_PROXIES: "127.0.0.1" } });
    try {
      const login = loginForm(proxied.token);
      const response = await fetch(`${proxied.url}/login`, { redirect: "manual", ...login, headers: { ...login.headers, "x-forwarded-proto": "https" } });
      expect(response.status).toBe(303);
      const cookie = attributes(response.headers.get("set-cookie")!);
      expect(cookie.name).toBe("__Host-gantry_session");
      expect(cookie.attrs).toHaveProperty("secure");
      const home = await fetch(`${proxied.url}/`, { redirect: "manual", headers: { cookie: `__Host-gantry_session=${cookie.value}`, "x-forwarded-proto": "https" } });
      expect(home.status).toBe(200);
    } finally {
      await proxied.stop();
    }
  });

  it("uses the prefix whenever GANTRY_PUBLIC_URL is https", async () => {
    const behind = await startTestGantry({ env: { GANTRY_PUBLIC_URL: "https://ci.example.org" } });
    try {
      // The proxy in front talks plain http to us; browsers only ever see https.
      const response = await createServer(behind.deps).request("http://127.0.0.1/login", loginForm(behind.token));
      const cookie = attributes(response.headers.get("set-cookie")!);
      expect(cookie.name).toBe("__Host-gantry_session");
      expect(cookie.attrs).toHaveProperty("secure");
    } finally {
      await behind.stop();
    }
  });
});
