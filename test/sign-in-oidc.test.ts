// Sign-in through a real OpenID provider (oidc-provider, started on 127.0.0.1): clicked through
// in Chromium, groups mapped to roles (and taken away at the next sign-in), a disabled person
// refused and their session stopped, forged and replayed callbacks refused as auth.failed
// events, and a provider that cannot be reached answered with an error page.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { decodeJwt } from "jose";
import { calculatePKCECodeChallenge } from "openid-client";
import { loadConfig } from "../app/config.ts";
import { disableUser } from "../app/auth/users.ts";
import { listEvents } from "../app/db/repos/events.ts";
import { getSystemState } from "../app/db/repos/system-state.ts";
import { listUsers } from "../app/db/repos/users.ts";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { Browserish, startOidcProvider, type TestAccount, type TestProvider } from "./helpers/sign-in.ts";
import { freePort } from "./helpers/ports.ts";

setDefaultTimeout(60_000);

const ACCOUNTS: Record<string, TestAccount> = {
  alice: { name: "Alice Admin", email: "alice@example.com", groups: ["platform", "everyone"] },
  bob: { name: "Bob Viewer", email: "bob@example.com", groups: ["dev"] },
  carol: { name: "Carol", email: "carol@example.com", groups: ["platform"] },
  dave: { name: "Dave", email: "dave@example.com", groups: ["platform"] },
  mallory: { name: "Mallory", email: "mallory@elsewhere.test", groups: ["platform"] },
  trudy: { name: "Trudy", email: "trudy@example.com", emailVerified: false, groups: ["platform"] },
};

let provider: TestProvider;
let gantry: TestGantry;
let callbackUrl: string;

beforeAll(async () => {
  // The provider must know Gantry's callback URL before Gantry (which needs the issuer) starts.
  const port = freePort();
  callbackUrl = `http://127.0.0.1:${port}/auth/oidc/callback`;
  provider = await startOidcProvider({
    clients: [
      { client_id: "gantry", client_secret: "gantry-client-secret", redirect_uris: [callbackUrl] },
      { client_id: "another-app", client_secret: "another-secret", redirect_uris: [callbackUrl] },
    ],
    accounts: ACCOUNTS,
  });
  gantry = await startTestGantry({
    env: {
      GANTRY_PORT: String(port),
      GANTRY_OIDC_ISSUER: provider.issuer,
      GANTRY_OIDC_CLIENT_ID: "gantry",
      GANTRY_OIDC_CLIENT_SECRET: "gantry-client-secret",
      GANTRY_OIDC_NAME: "Test SSO",
      GANTRY_OIDC_ROLE_MAP: "platform=admin,dev=viewer",
      GANTRY_OIDC_ALLOWED_DOMAINS: "example.com",
    },
  });
});

afterAll(async () => {
  await gantry?.stop();
  await provider?.stop();
});

/** From "Sign in with…" to the provider's redirect back to Gantry, signing in as `login`; the callback URL. */
async function reachCallback(browser: Browserish, login: string, next = "/"): Promise<string> {
  const start = await browser.request(`${gantry.url}/auth/oidc/start?next=${encodeURIComponent(next)}`);
  expect(start.status).toBe(302);
  const loginPage = await browser.followUntil(start.headers.get("location")!, `${provider.issuer}/interaction/`);
  const submitted = await browser.request(`${loginPage}/login`, { method: "POST", body: new URLSearchParams({ login }) });
  return browser.followUntil(new URL(submitted.headers.get("location")!, provider.issuer).href, `${gantry.url}/auth/oidc/callback`);
}

/** A full sign-in; the browser then holds a session. */
async function signInAs(login: string): Promise<Browserish> {
  const browser = new Browserish();
  const done = await browser.request(await reachCallback(browser, login));
  expect(done.status).toBe(200);
  expect(browser.cookie(gantry.url, "gantry_session")).toBeDefined();
  return browser;
}

const failures = async () => (await listEvents(gantry.deps.db, { kindPrefix: "auth.failed", before: Infinity, limit: 200 })).filter((event) => (event.data as { via?: string }).via === "sign-in-oidc");
const lastFailure = async () => (await failures()).map((event) => event.data as Record<string, string>).at(0);

describe("sign-in with OpenID Connect", () => {
  it("is clicked through in Chromium and lands on the dashboard as that person", async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${gantry.url}/login`);
      const button = page.getByRole("link", { name: "Sign in with Test SSO" });
      await expect(button.isVisible()).resolves.toBe(true);
      await screenshot(page, "login-with-sso");
      await button.click();
      await page.waitForURL(`${provider.issuer}/interaction/**`);
      await page.getByLabel("Username").fill("alice");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${gantry.url}/`);
      expect(await page.locator("header").innerText()).toContain("Alice Admin (alice)");
      expect(await page.title()).not.toContain("Log in");
      await screenshot(page, "signed-in-with-sso");
    } finally {
      await browser.close();
    }
    const alice = (await listUsers(gantry.deps.db)).find((user) => user.login === "alice")!;
    expect(alice).toMatchObject({ provider: "oidc", subject: "alice", name: "Alice Admin", email: "alice@example.com", mappedRoles: ["admin"] });
    expect(alice.groups).toEqual(["platform", "everyone"]);
  });

  it("maps groups to roles: a viewer cannot use an admin page, an admin can and is recorded by name", async () => {
    const bob = await signInAs("bob");
    expect((await bob.request(`${gantry.url}/`)).status).toBe(200);
    expect((await bob.request(`${gantry.url}/system/backup`)).status).toBe(403);

    const alice = await signInAs("alice");
    const dashboard = await (await alice.request(`${gantry.url}/`)).text();
    expect((await alice.request(`${gantry.url}/system/backup`)).status).toBe(200);
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(dashboard)![1]!;
    const paused = await alice.request(`${gantry.url}/system/pause`, {
      method: "POST",
      headers: { origin: gantry.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf, next: "/" }),
    });
    expect(paused.status).toBe(303);
    expect((await getSystemState(gantry.deps.db)).pausedBy).toBe("Alice Admin (alice)");
    await gantry.deps.orchestrator.resume("test");
  });

  it("takes a role away at the next sign-in when the group was removed at the provider", async () => {
    const before = await signInAs("dave");
    expect((await before.request(`${gantry.url}/system/backup`)).status).toBe(200);
    await provider.setAccounts({ ...ACCOUNTS, dave: { ...ACCOUNTS.dave!, groups: ["dev"] } });
    try {
      const after = await signInAs("dave");
      expect((await after.request(`${gantry.url}/system/backup`)).status).toBe(403);
      const dave = (await listUsers(gantry.deps.db)).find((user) => user.login === "dave")!;
      expect(dave.mappedRoles).toEqual(["viewer"]);
    } finally {
      await provider.setAccounts(ACCOUNTS);
    }
  });

  it("refuses a disabled person, and their live session stops at once", async () => {
    const carol = await signInAs("carol");
    expect((await carol.request(`${gantry.url}/`)).status).toBe(200);
    const user = (await listUsers(gantry.deps.db)).find((row) => row.login === "carol")!;
    await disableUser(gantry.deps.db, user.id, "test admin", new Date());

    const stopped = await carol.request(`${gantry.url}/`);
    expect(stopped.status).toBe(303);
    expect(stopped.headers.get("location")).toStartWith("/login");

    const again = new Browserish();
    const refused = await again.request(await reachCallback(again, "carol"));
    expect(refused.status).toBe(403);
    const body = await refused.text();
    expect(body).toContain("is disabled");
    expect(body).toContain('href="/login"');
    expect(again.cookie(gantry.url, "gantry_session")).toBeUndefined();
    expect(await lastFailure()).toMatchObject({ provider: "oidc", reason: "user_disabled" });
  });

  it("refuses an address outside the allowed domains", async () => {
    const browser = new Browserish();
    const refused = await browser.request(await reachCallback(browser, "mallory"));
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("email domain may not sign in here");
    expect(await lastFailure()).toMatchObject({ reason: "domain_not_allowed" });
    // The event names no address (viewers read events).
    expect(JSON.stringify(await lastFailure())).not.toContain("mallory@");
    expect((await listUsers(gantry.deps.db)).some((user) => user.login === "mallory")).toBe(false);
  });

  it("refuses an allowed domain the provider has not verified", async () => {
    const browser = new Browserish();
    const refused = await browser.request(await reachCallback(browser, "trudy"));
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("not verified");
    expect(browser.cookie(gantry.url, "gantry_session")).toBeUndefined();
    expect((await listUsers(gantry.deps.db)).some((user) => user.login === "trudy")).toBe(false);
  });

  it("sends the person home after signing in, whatever a crafted next said", async () => {
    for (const next of ["/\t/evil.com", "//evil.com", "/\\evil.com"]) {
      const browser = new Browserish();
      const done = await browser.request(await reachCallback(browser, "alice", next));
      expect(done.status).toBe(200);
      const page = await done.text();
      expect(page).not.toContain("evil.com");
    }
  });

  it("refuses a callback with a wrong state, and one without the browser's flow cookie", async () => {
    const browser = new Browserish();
    const callback = new URL(await reachCallback(browser, "alice"));
    callback.searchParams.set("state", "a-state-someone-made-up-0123456789");
    const wrong = await browser.request(callback.href);
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain("state mismatch");
    expect(browser.cookie(gantry.url, "gantry_session")).toBeUndefined();
    expect(await lastFailure()).toMatchObject({ provider: "oidc", reason: "state_mismatch" });

    // A callback forwarded to another browser (a login CSRF): it has no flow cookie.
    const other = new Browserish();
    const victim = new Browserish();
    const forwarded = await victim.request(await reachCallback(other, "alice"));
    expect(forwarded.status).toBe(400);
    expect(await lastFailure()).toMatchObject({ reason: "state_missing" });
  });

  it("takes a callback's state once: a replay is refused", async () => {
    const browser = new Browserish();
    const callback = await reachCallback(browser, "alice");
    const flowCookie = browser.cookie(gantry.url, "gantry_sign_in")!;
    expect((await browser.request(callback)).status).toBe(200);

    const attacker = new Browserish();
    attacker.setCookie(gantry.url, "gantry_sign_in", flowCookie);
    const replayed = await attacker.request(callback);
    expect(replayed.status).toBe(400);
    expect(await replayed.text()).toContain("already used");
    expect(attacker.cookie(gantry.url, "gantry_session")).toBeUndefined();
    expect(await lastFailure()).toMatchObject({ reason: "state_replayed" });
  });

  it("refuses a replay that reaches another server on the same database", async () => {
    const browser = new Browserish();
    const callback = await reachCallback(browser, "alice");
    const flowCookie = browser.cookie(gantry.url, "gantry_sign_in")!;
    expect((await browser.request(callback)).status).toBe(200);
    // A second node: same data (so the same flow key), same database, its own memory.
    const other = await startTestGantry({
      dataDir: gantry.dataDir,
      pipelinesDir: gantry.pipelinesDir,
      // Servers sharing a data dir each need their own node id.
      env: { GANTRY_OIDC_ISSUER: provider.issuer, GANTRY_OIDC_CLIENT_ID: "gantry", GANTRY_OIDC_CLIENT_SECRET: "gantry-client-secret", GANTRY_NODE_ID: "second-server" },
    });
    try {
      const attacker = new Browserish();
      attacker.setCookie(other.url, "gantry_sign_in", flowCookie);
      const replayed = await attacker.request(callback.replace(gantry.url, other.url));
      expect(replayed.status).toBe(400);
      expect(await replayed.text()).toContain("already used");
      expect(attacker.cookie(other.url, "gantry_session")).toBeUndefined();
    } finally {
      await other.stop({ cancelRuns: false });
    }
  });

  it("refuses a code issued to another client (wrong audience) and an ID token with another nonce", async () => {
    for (const forge of ["client", "nonce"] as const) {
      const browser = new Browserish();
      const start = await browser.request(`${gantry.url}/auth/oidc/start`);
      const flow = decodeJwt(browser.cookie(gantry.url, "gantry_sign_in")!) as { state: string; nonce: string; verifier: string };
      const authorize = new URL(start.headers.get("location")!);
      if (forge === "client") authorize.searchParams.set("client_id", "another-app");
      else authorize.searchParams.set("nonce", "a-nonce-from-another-flow");
      authorize.searchParams.set("code_challenge", await calculatePKCECodeChallenge(flow.verifier));
      const loginPage = await browser.followUntil(authorize.href, `${provider.issuer}/interaction/`);
      const submitted = await browser.request(`${loginPage}/login`, { method: "POST", body: new URLSearchParams({ login: "alice" }) });
      const callback = await browser.followUntil(new URL(submitted.headers.get("location")!, provider.issuer).href, callbackUrl);
      const refused = await browser.request(callback);
      expect(refused.status).toBe(400);
      const text = await refused.text();
      expect(text).toContain(forge === "client" ? "invalid_grant" : "nonce");
      expect(browser.cookie(gantry.url, "gantry_session")).toBeUndefined();
      expect(await lastFailure()).toMatchObject({ reason: "token_rejected" });
    }
  });

  it("shows the provider's refusal (access_denied) with the way back to log in", async () => {
    const browser = new Browserish();
    const refused = await browser.request(await reachCallback(browser, "nobody-known"));
    expect(refused.status).toBe(403);
    const body = await refused.text();
    expect(body).toContain("access_denied");
    expect(body).toContain('href="/login"');
    expect(await lastFailure()).toMatchObject({ reason: "provider_error" });
  });

  it("writes no secret into the auth.failed events", async () => {
    const all = JSON.stringify(await failures());
    expect(all.length).toBeGreaterThan(10);
    expect(all).not.toContain("gantry-client-secret");
    expect(all).not.toMatch(/code=|verifier|eyJ/);
  });
});

describe("an expired ID token", () => {
  it("is refused: the server's clock is past the token's expiry", async () => {
    const port = freePort();
    const late = await startOidcProvider({
      clients: [{ client_id: "gantry", client_secret: "gantry-client-secret", redirect_uris: [`http://127.0.0.1:${port}/auth/oidc/callback`] }],
      accounts: ACCOUNTS,
    });
    // Two hours ahead of the provider: every ID token it issues (valid one hour) has expired.
    const server = await startTestGantry({
      now: () => new Date(Date.now() + 2 * 3_600_000),
      env: { GANTRY_PORT: String(port), GANTRY_OIDC_ISSUER: late.issuer, GANTRY_OIDC_CLIENT_ID: "gantry", GANTRY_OIDC_CLIENT_SECRET: "gantry-client-secret" },
    });
    try {
      const browser = new Browserish();
      const start = await browser.request(`${server.url}/auth/oidc/start`);
      expect(start.status).toBe(302);
      const loginPage = await browser.followUntil(start.headers.get("location")!, `${late.issuer}/interaction/`);
      const submitted = await browser.request(`${loginPage}/login`, { method: "POST", body: new URLSearchParams({ login: "alice" }) });
      const callback = await browser.followUntil(new URL(submitted.headers.get("location")!, late.issuer).href, `${server.url}/auth/oidc/callback`);
      const refused = await browser.request(callback);
      expect(refused.status).toBe(400);
      expect((await refused.text()).toLowerCase()).toContain("exp");
      expect(browser.cookie(server.url, "gantry_session")).toBeUndefined();
      const events = await listEvents(server.deps.db, { kindPrefix: "auth.failed", before: Infinity, limit: 10 });
      expect(events.map((event) => event.data)).toContainEqual(expect.objectContaining({ via: "sign-in-oidc", reason: "token_rejected" }));
    } finally {
      await server.stop();
      await late.stop();
    }
  });
});

describe("an OpenID provider that cannot be reached", () => {
  it("gives a clear error page, not a crash nor a session; the login page still works", async () => {
    const gone = freePort();
    const server = await startTestGantry({ env: { GANTRY_OIDC_ISSUER: `http://127.0.0.1:${gone}`, GANTRY_OIDC_CLIENT_ID: "gantry" } });
    try {
      const login = await fetch(`${server.url}/login`);
      expect(login.status).toBe(200);
      expect(await login.text()).toContain("Sign in with single sign-on");
      const browser = new Browserish();
      const start = await browser.request(`${server.url}/auth/oidc/start`);
      expect(start.status).toBe(503);
      const body = await start.text();
      expect(body).toContain(`could not reach http://127.0.0.1:${gone}`);
      expect(body).toContain('href="/login"');
      expect(browser.cookie(server.url, "gantry_sign_in")).toBeUndefined();
      expect((await fetch(`${server.url}/api/v1/health`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe("OIDC settings", () => {
  const env = (issuer: string) => ({ GANTRY_OIDC_ISSUER: issuer, GANTRY_OIDC_CLIENT_ID: "gantry", GANTRY_DATA_DIR: "/tmp/unused" });
  it("accept http:// only for a loopback issuer", () => {
    expect(() => loadConfig({ env: env("http://idp.example.com/realms/x"), cwd: "/tmp" })).toThrow("http:// is accepted only on loopback addresses");
    for (const issuer of ["http://127.0.0.1:5556/dex", "http://localhost:8080", "http://[::1]:9000", "https://idp.example.com"]) {
      expect(loadConfig({ env: env(issuer), cwd: "/tmp" }).oidcIssuer).toBe(issuer);
    }
  });
  it("need a client id with an issuer", () => {
    expect(() => loadConfig({ env: { GANTRY_OIDC_ISSUER: "https://idp.example.com" }, cwd: "/tmp" })).toThrow("GANTRY_OIDC_CLIENT_ID must be set");
  });
  it("show no sign-in button when nothing is configured", async () => {
    const server = await startTestGantry();
    try {
      const html = await (await fetch(`${server.url}/login`)).text();
      expect(html).not.toContain("Sign in with");
      expect((await fetch(`${server.url}/auth/oidc/start`)).status).toBe(400);
    } finally {
      await server.stop();
    }
  });
});
