// Sign-in with GitHub against a fake GitHub (its OAuth endpoints and the API calls Gantry makes,
// on 127.0.0.1): orgs and teams mapped to roles, the PKCE verifier checked, a wrong state and
// a refusal at GitHub answered with an error page and an auth.failed event.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { listEvents } from "../app/db/repos/events.ts";
import { listUsers } from "../app/db/repos/users.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { Browserish } from "./helpers/sign-in.ts";

setDefaultTimeout(30_000);

interface FakeUser {
  id: number;
  login: string;
  name: string | null;
  email: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
  orgs: string[];
  teams: { org: string; slug: string }[];
}

const USERS: Record<string, FakeUser> = {
  octocat: {
    id: 583231,
    login: "octocat",
    name: "The Octocat",
    email: null,
    emails: [
      { email: "old@example.com", primary: false, verified: true },
      { email: "octocat@example.com", primary: true, verified: true },
    ],
    orgs: ["Acme"],
    teams: [{ org: "Acme", slug: "platform" }],
  },
  dan: { id: 42, login: "dev-dan", name: null, email: "dan@example.com", emails: [], orgs: ["acme", "other"], teams: [{ org: "other", slug: "platform" }] },
};

/** A fake github.com and api.github.com in one: who "signs in" next is `fake.next`. */
function startFakeGithub() {
  const codes = new Map<string, { user: FakeUser; challenge: string; redirectUri: string }>();
  const tokens = new Map<string, FakeUser>();
  const state = { next: "octocat", tokenRequests: [] as Record<string, string>[] };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === "/login/oauth/authorize") {
        const query = Object.fromEntries(url.searchParams);
        if (query.client_id !== "gh-client" || query.code_challenge_method !== "S256" || !query.scope?.includes("read:org")) return new Response("bad request", { status: 400 });
        const code = crypto.randomUUID();
        codes.set(code, { user: USERS[state.next]!, challenge: query.code_challenge!, redirectUri: query.redirect_uri! });
        const back = new URL(query.redirect_uri!);
        back.search = new URLSearchParams({ code, state: query.state! }).toString();
        return Response.redirect(back.href, 302);
      }
      if (url.pathname === "/login/oauth/access_token" && request.method === "POST") {
        const form = Object.fromEntries(new URLSearchParams(await request.text()));
        state.tokenRequests.push(form);
        const grant = codes.get(form.code ?? "");
        codes.delete(form.code ?? "");
        const verified = grant && new Bun.CryptoHasher("sha256").update(form.code_verifier ?? "").digest("base64url") === grant.challenge;
        if (form.client_id !== "gh-client" || form.client_secret !== "gh-secret" || !grant || !verified || grant.redirectUri !== form.redirect_uri) {
          return Response.json({ error: "bad_verification_code", error_description: "The code passed is incorrect or expired." });
        }
        const token = `gho_${crypto.randomUUID().replaceAll("-", "")}`;
        tokens.set(token, grant.user);
        return Response.json({ access_token: token, token_type: "bearer", scope: "read:org,read:user,user:email" });
      }
      const user = tokens.get(request.headers.get("authorization")?.replace(/^Bearer /, "") ?? "");
      if (!user) return Response.json({ message: "Bad credentials" }, { status: 401 });
      switch (url.pathname) {
        case "/user":
          return Response.json({ id: user.id, login: user.login, name: user.name, email: user.email, avatar_url: `https://avatars.example/${user.id}` });
        case "/user/emails":
          return Response.json(user.emails);
        case "/user/orgs":
          return Response.json(user.orgs.map((login) => ({ login, id: 1 })));
        case "/user/teams":
          return Response.json(user.teams.map((team) => ({ slug: team.slug, name: team.slug, organization: { login: team.org } })));
      }
      return new Response("not found", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, state, stop: () => server.stop(true) };
}

let github: ReturnType<typeof startFakeGithub>;
let gantry: TestGantry;

beforeAll(async () => {
  github = startFakeGithub();
  gantry = await startTestGantry({
    env: {
      GANTRY_GITHUB_OAUTH_CLIENT_ID: "gh-client",
      GANTRY_GITHUB_OAUTH_CLIENT_SECRET: "gh-secret",
      GANTRY_GITHUB_OAUTH_URL: github.url,
      GANTRY_GITHUB_OAUTH_API_URL: github.url,
      GANTRY_GITHUB_OAUTH_ROLE_MAP: "acme/platform=admin,acme=viewer",
    },
  });
});

afterAll(async () => {
  await gantry?.stop();
  github?.stop();
});

async function signInAs(login: string): Promise<{ browser: Browserish; response: Response }> {
  github.state.next = login;
  const browser = new Browserish();
  const callback = await browser.followUntil(`${gantry.url}/auth/github/start?next=/pipelines`, `${gantry.url}/auth/github/callback`);
  return { browser, response: await browser.request(callback) };
}

const lastFailure = async () =>
  (await listEvents(gantry.deps.db, { kindPrefix: "auth.failed", before: Infinity, limit: 50 })).map((event) => event.data as Record<string, string>).find((data) => data.via === "sign-in-github");

describe("sign-in with GitHub", () => {
  it("offers its button on the login page", async () => {
    const html = await (await fetch(`${gantry.url}/login?next=/pipelines`)).text();
    expect(html).toContain('href="/auth/github/start?next=%2Fpipelines"');
    expect(html).toContain("Sign in with GitHub");
  });

  it("signs a team member in as admin, with their primary email, and moves on to where they were going", async () => {
    const { browser, response } = await signInAs("octocat");
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('content="0;url=/pipelines"');
    const dashboard = await browser.request(`${gantry.url}/`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain("The Octocat (octocat)");
    expect((await browser.request(`${gantry.url}/system/backup`)).status).toBe(200);
    const user = (await listUsers(gantry.deps.db)).find((row) => row.provider === "github" && row.login === "octocat")!;
    expect(user).toMatchObject({ subject: "583231", email: "octocat@example.com", groups: ["acme", "acme/platform"], mappedRoles: ["admin", "viewer"] });
    // The verifier went to GitHub with the code: PKCE.
    expect(github.state.tokenRequests.at(-1)?.code_verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("maps an org member outside the team to viewer only", async () => {
    const { browser, response } = await signInAs("dan");
    expect(response.status).toBe(200);
    expect((await browser.request(`${gantry.url}/`)).status).toBe(200);
    expect((await browser.request(`${gantry.url}/system/backup`)).status).toBe(403);
    const user = (await listUsers(gantry.deps.db)).find((row) => row.login === "dev-dan")!;
    expect(user.mappedRoles).toEqual(["viewer"]);
    expect(user.name).toBe("dev-dan");
  });

  it("refuses a callback with a wrong state", async () => {
    github.state.next = "octocat";
    const browser = new Browserish();
    const callback = new URL(await browser.followUntil(`${gantry.url}/auth/github/start`, `${gantry.url}/auth/github/callback`));
    callback.searchParams.set("state", "forged-state-forged-state-forged");
    const refused = await browser.request(callback.href);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('href="/login"');
    expect(browser.cookie(gantry.url, "gantry_session")).toBeUndefined();
    expect(await lastFailure()).toMatchObject({ provider: "github", reason: "state_mismatch" });
  });

  it("shows GitHub's refusal when the person declines", async () => {
    const browser = new Browserish();
    const start = await browser.request(`${gantry.url}/auth/github/start`);
    const state = new URL(start.headers.get("location")!).searchParams.get("state")!;
    const refused = await browser.request(`${gantry.url}/auth/github/callback?error=access_denied&error_description=The+user+has+denied&state=${state}`);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("access_denied");
    expect(await lastFailure()).toMatchObject({ reason: "provider_error" });
  });

  it("refuses a code GitHub does not take (a verifier from another flow)", async () => {
    github.state.next = "octocat";
    const browser = new Browserish();
    const start = await browser.request(`${gantry.url}/auth/github/start`);
    const authorize = new URL(start.headers.get("location")!);
    authorize.searchParams.set("code_challenge", "A".repeat(43));
    const callback = await browser.followUntil(authorize.href, `${gantry.url}/auth/github/callback`);
    const refused = await browser.request(callback);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("bad_verification_code");
    expect(await lastFailure()).toMatchObject({ reason: "token_rejected" });
  });
});
