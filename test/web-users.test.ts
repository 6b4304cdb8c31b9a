// The users page on a real server: people listed with their roles, Disable/Enable and
// grant/revoke forms behind CSRF, refusals shown on the page, the nav link only for those who
// may read users, and a signed-in person's own tokens on the tokens page (sign-in tokens hidden).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { signInPerson, type SignedInPerson } from "./helpers/people.ts";
import { pageHtml as page, webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

let gantry: TestGantry;
let admin: WebClient;
let dana: SignedInPerson;

async function loginWith(name: string, roles: string[]): Promise<WebClient> {
  const response = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name, roles }) });
  expect(response.status).toBe(201);
  return webLogin(gantry.url, ((await response.json()) as { secret: string }).secret);
}

beforeAll(async () => {
  gantry = await startTestGantry();
  admin = await webLogin(gantry.url, gantry.token);
  dana = await signInPerson(gantry, "dana", { name: "Dana <b>", login: "dana", email: "dana@example.com", groups: ["dev"], mappedRoles: ["viewer"] });
});
afterAll(() => gantry?.stop());

describe("the users page", () => {
  it("lists people with provider, groups, roles and state, escaped, and links to it from the nav", async () => {
    const html = await page(admin, "/users");
    expect(html).toContain("Dana &lt;b&gt;");
    expect(html).not.toContain("Dana <b>");
    expect(html).toContain("dana@example.com");
    expect(html).toContain('<a href="/users"');
    expect(html).toMatch(/user-roles-mapped">viewer/);
    expect(html).toContain('action="/users/disable"');
  });

  it("disables and enables with CSRF, and refuses a form without it", async () => {
    const forged = await fetch(`${gantry.url}/users/disable`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${admin.cookie}`, "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: new URLSearchParams({ id: "dana" }).toString(),
    });
    expect(forged.status).toBe(403);
    expect((await page(dana.web, "/tokens")).length).toBeGreaterThan(0);

    const disabled = await admin.post("/users/disable", { id: "dana" });
    expect(disabled.status).toBe(303);
    const after = await page(admin, disabled.headers.get("location")!);
    expect(after).toContain("disabled: their sessions and personal tokens are revoked");
    expect(after).toContain('action="/users/enable"');
    // Dana's session ended with the disabling.
    expect((await dana.web.get("/tokens")).status).toBe(303);

    expect((await admin.post("/users/enable", { id: "dana" })).status).toBe(303);
    expect(await page(admin, "/users")).toContain('action="/users/disable"');
    dana = await signInPerson(gantry, "dana", { name: "Dana <b>", login: "dana", groups: ["dev"], mappedRoles: ["viewer"] });
  });

  it("grants and revokes roles, and shows a refused grant on the page", async () => {
    const granted = await admin.post("/users/grant", { id: "dana", role: "admin" });
    expect(granted.status).toBe(303);
    expect(await page(admin, granted.headers.get("location")!)).toContain("Role admin granted to");
    // Dana's live session holds admin now: she sees the users page, but cannot change herself.
    const own = await page(dana.web, "/users");
    expect(own).toContain("You cannot change yourself.");
    const self = await dana.web.post("/users/revoke", { id: "dana", role: "admin" });
    expect(self.status).toBe(403);
    expect(await self.text()).toContain("you cannot change the roles of yourself");
    expect((await admin.post("/users/revoke", { id: "dana", role: "admin" })).status).toBe(303);

    expect((await gantry.api("/roles/people-admin", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "users", target: ".*", actions: ["read", "write"] }] }) })).status).toBe(201);
    const people = await loginWith("people-admin", ["people-admin"]);
    const refused = await people.post("/users/grant", { id: "dana", role: "admin" });
    expect(refused.status).toBe(403);
    const html = await refused.text();
    expect(html).toContain("which the calling token &quot;people-admin&quot; does not have");
    expect(html).toContain("Dana &lt;b&gt;");
  });

  it("is not in the nav, and answers 403, for a session that may not read users", async () => {
    expect((await gantry.api("/roles/pipes", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "pipelines", target: ".*", actions: ["read"] }] }) })).status).toBe(201);
    const pipes = await loginWith("pipes", ["pipes"]);
    expect(await page(pipes, "/pipelines")).not.toContain('href="/users"');
    expect((await pipes.get("/users")).status).toBe(403);
    const viewer = await loginWith("a-viewer", ["viewer"]);
    const html = await page(viewer, "/users");
    expect(html).toContain("Dana &lt;b&gt;");
    expect(html).not.toContain('action="/users/disable"');
    expect((await viewer.post("/users/disable", { id: "dana" })).status).toBe(403);
  });
});

describe("personal tokens on the tokens page", () => {
  it("says a signed-in person's token belongs to them, lists their own, and hides sign-in tokens", async () => {
    expect((await admin.post("/users/grant", { id: "dana", role: "admin" })).status).toBe(303);
    const form = await page(dana.web, "/tokens");
    expect(form).toContain("belongs to you");
    expect(form).toContain("dies if you are disabled");
    const created = await dana.web.post("/tokens", { name: "dana-laptop", roles: "viewer", expires: "30" });
    expect(created.status).toBe(201);
    const mine = await page(dana.web, "/tokens");
    const section = mine.slice(mine.indexOf('id="personal-tokens"'));
    expect(section).toContain("dana-laptop");
    // The admin's list shows the personal token as such, and no sign-in token (named after the person).
    const list = await page(admin, "/tokens");
    expect(list).toContain("dana-laptop");
    expect(list).toContain("admin-tag-personal");
    expect(list).not.toContain(`value="${dana.tokenId}"`);
    // A token login is no person: no personal section.
    expect(list).not.toContain('id="personal-tokens"');
  });
});

describe("personal tokens, self-service", () => {
  it("lets a signed-in viewer make and revoke their own expiring token, and nobody else's", async () => {
    const { signInPerson } = await import("./helpers/people.ts");
    const { getToken, listPersonalTokens, listTokens } = await import("../app/db/repos/tokens.ts");
    const vic = await signInPerson(gantry, "vic", { name: "Vic Viewer", login: "vic", mappedRoles: ["viewer"] });
    const page = await (await vic.web.get("/tokens")).text();
    expect(page).toContain("Create token");
    expect(page).not.toContain(">Never<");
    // No expiry: refused, saying why.
    const forever = await vic.web.post("/tokens", { name: "vic-forever", roles: "viewer", expires: "" });
    expect(forever.status).toBe(400);
    expect(await forever.text()).toContain("a personal token needs an expiry");
    // More than she holds: refused.
    expect((await vic.web.post("/tokens", { name: "vic-admin", roles: "admin", expires: "7" })).status).toBe(403);
    const made = await vic.web.post("/tokens", { name: "vic-ci", roles: "viewer", expires: "7" });
    expect(made.status).toBe(201);
    const secret = /gty_[A-Za-z0-9_-]+/.exec(await made.text())?.[0];
    expect(secret).toBeDefined();
    const mine = await listPersonalTokens(gantry.deps.db, "vic", gantry.deps.now());
    expect(mine.map((token) => token.name)).toEqual(["vic-ci"]);
    expect(mine[0]!.expiresAt).not.toBeNull();
    const whoami = await fetch(`${gantry.url}/api/v1/tokens/whoami`, { headers: { authorization: `Bearer ${secret}` } });
    expect(whoami.status).toBe(200);
    // Someone else's token stays out of her reach; her own she may revoke.
    const bootstrap = (await listTokens(gantry.deps.db)).find((token) => token.name === "bootstrap")!;
    expect((await vic.web.post("/tokens/revoke", { id: bootstrap.id })).status).toBe(403);
    expect((await getToken(gantry.deps.db, bootstrap.id))!.revokedAt).toBeNull();
    expect((await vic.web.post("/tokens/revoke", { id: mine[0]!.id })).status).toBe(303);
    expect((await fetch(`${gantry.url}/api/v1/tokens/whoami`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(401);
  });
});
