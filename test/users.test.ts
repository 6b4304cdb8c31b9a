// People who sign in, through the API and the CLI on a real server: listing them, granting
// and revoking roles (a live session gets them at once), disabling (sessions and personal
// tokens stop at once) and enabling, no escalation, nobody changes themselves, events.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { signIn } from "../app/auth/users.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { signInPerson, type SignedInPerson } from "./helpers/people.ts";
import { runCli } from "./helpers/cli.ts";

setDefaultTimeout(30_000);

interface UserJson {
  id: string;
  name: string;
  login: string | null;
  groups: string[];
  mappedRoles: string[];
  grantedRoles: string[];
  roles: string[];
  disabledAt: string | null;
  disabledBy: string | null;
}

let gantry: TestGantry;
let alice: SignedInPerson;

const as = (secret: string, path: string, init: RequestInit = {}) =>
  fetch(`${gantry.url}/api/v1${path}`, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${secret}` } });
const post = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;
const userOf = async (response: Response) => ((await response.json()) as { user: UserJson }).user;

async function tokenWithRole(role: string, permissions: unknown[]): Promise<string> {
  expect((await gantry.api(`/roles/${role}`, { method: "PUT", body: JSON.stringify({ permissions }) })).status).toBeOneOf([200, 201]);
  const response = await gantry.api("/tokens", post({ name: `${role}-token`, roles: [role] }));
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

/** A personal token made by the person through the tokens page with their session; its secret. */
async function personalToken(person: SignedInPerson, name: string, role: string): Promise<string> {
  const response = await person.web.post("/tokens", { name, roles: role, expires: "30" });
  const html = await response.text();
  expect(response.status, html.slice(0, 500)).toBe(201);
  return /id="created-token-secret"[^>]*value="(gty_[^"]+)"/.exec(html)?.[1] ?? /value="(gty_[^"]+)"/.exec(html)![1]!;
}

beforeAll(async () => {
  gantry = await startTestGantry();
  alice = await signInPerson(gantry, "alice", { name: "Alice", login: "alice", email: "alice@example.com", groups: ["dev"], mappedRoles: ["viewer"] });
  await signInPerson(gantry, "bob", { name: "Bob", groups: ["platform"], mappedRoles: ["admin"] });
});
afterAll(() => gantry?.stop());

describe("GET /users", () => {
  it("lists people with their groups and mapped, granted and effective roles", async () => {
    const response = await gantry.api("/users");
    expect(response.status).toBe(200);
    const { users } = (await response.json()) as { users: UserJson[] };
    const found = users.find((user) => user.id === "alice")!;
    expect(found).toMatchObject({ name: "Alice", login: "alice", groups: ["dev"], mappedRoles: ["viewer"], grantedRoles: [], roles: ["viewer"], disabledAt: null });
    expect(users.map((user) => user.id).sort()).toEqual(["alice", "bob"]);
    expect((await userOf(await gantry.api("/users/alice"))).name).toBe("Alice");
    expect((await gantry.api("/users/nobody")).status).toBe(404);
  });

  it("refuses a viewer's changes with 403 naming users:write", async () => {
    const viewer = ((await (await gantry.api("/tokens", post({ name: "a-viewer", roles: ["viewer"] }))).json()) as { secret: string }).secret;
    expect((await as(viewer, "/users")).status).toBe(200);
    for (const [path, body] of [["/users/alice/disable", {}], ["/users/alice/grant", { roles: ["viewer"] }]] as const) {
      const response = await as(viewer, path, post(body));
      expect(response.status, path).toBe(403);
      expect((await errorOf(response)).message).toContain("users:write");
    }
    const nobody = await tokenWithRole("pipelines-only", [{ resource: "pipelines", target: ".*", actions: ["read"] }]);
    expect((await as(nobody, "/users")).status).toBe(403);
  });
});

describe("granting and revoking", () => {
  it("gives a live session the granted role at once, and takes it away at once", async () => {
    // A viewer's session may not write secrets...
    const writeSecret = (name: string) => alice.web.post("/secrets", { scope: "global", name, value: `value-of-${name}-long-enough` });
    expect((await writeSecret("before")).status).toBe(403);
    const granted = await gantry.api("/users/alice/grant", post({ roles: ["admin"] }));
    expect(granted.status).toBe(200);
    expect(await userOf(granted)).toMatchObject({ grantedRoles: ["admin"], roles: ["viewer", "admin"] });
    // ...and the same session may now, without signing in again.
    expect((await writeSecret("after")).status).toBe(303);
    const revoked = await gantry.api("/users/alice/revoke", post({ roles: ["admin"] }));
    expect(await userOf(revoked)).toMatchObject({ grantedRoles: [], roles: ["viewer"] });
    expect((await writeSecret("again")).status).toBe(403);
  });

  it("refuses unknown roles, and revoking a role that comes from the person's groups", async () => {
    const unknown = await gantry.api("/users/alice/grant", post({ roles: ["root"] }));
    expect(unknown.status).toBe(400);
    expect((await errorOf(unknown)).message).toContain("unknown role root");
    const mapped = await gantry.api("/users/alice/revoke", post({ roles: ["viewer"] }));
    expect(mapped.status).toBe(400);
    expect((await errorOf(mapped)).message).toContain("from their groups");
    expect((await gantry.api("/users/alice/grant", post({ roles: [] }))).status).toBe(400);
  });

  it("does not let a users:write token grant more than it holds, or change someone who may do more", async () => {
    const people = await tokenWithRole("people-admin", [
      { resource: "users", target: ".*", actions: ["read", "write"] },
      { resource: "pipelines", target: ".*", actions: ["read"] },
    ]);
    expect((await gantry.api("/roles/pipeline-reader", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "pipelines", target: ".*", actions: ["read"] }] }) })).status).toBe(201);
    await signIn(gantry.deps.db, { provider: "github", subject: "9", name: "Carol", groups: [], mappedRoles: [] }, { newId: "carol", sessionMaxAgeMs: 60_000, now: new Date() });
    const admin = await as(people, "/users/carol/grant", post({ roles: ["admin"] }));
    expect(admin.status).toBe(403);
    expect((await errorOf(admin)).message).toContain("cannot grant");
    expect((await userOf(await gantry.api("/users/carol"))).grantedRoles).toEqual([]);
    expect((await as(people, "/users/carol/grant", post({ roles: ["pipeline-reader"] }))).status).toBe(200);
    // Bob is an admin through his groups: a users:write token without more cannot disable him.
    const bob = await as(people, "/users/bob/disable", post({}));
    expect(bob.status).toBe(403);
    expect((await errorOf(bob)).message).toContain("cannot disable Bob");
    expect((await userOf(await gantry.api("/users/bob"))).disabledAt).toBeNull();
  });
});

describe("disabling", () => {
  it("refuses to let a person disable or change themselves", async () => {
    await gantry.api("/users/alice/grant", post({ roles: ["admin"] }));
    const own = await personalToken(alice, "alice-admin", "admin");
    for (const [path, body] of [["/users/alice/disable", {}], ["/users/alice/revoke", { roles: ["admin"] }]] as const) {
      const response = await as(own, path, post(body));
      expect(response.status, path).toBe(403);
      expect((await errorOf(response)).message).toContain("yourself");
    }
    expect((await userOf(await gantry.api("/users/alice"))).disabledAt).toBeNull();
    await gantry.api("/users/alice/revoke", post({ roles: ["admin"] }));
  });

  it("stops the person's sessions and personal tokens at once, records who did it, and enabling lets them sign in again", async () => {
    // Making a token needs tokens:write: granted for the moment.
    await gantry.api("/users/alice/grant", post({ roles: ["admin"] }));
    const personal = await personalToken(alice, "laptop", "viewer");
    await gantry.api("/users/alice/revoke", post({ roles: ["admin"] }));
    const whoami = (await (await as(personal, "/tokens/whoami")).json()) as { token: { userId: string } };
    expect(whoami.token.userId).toBe("alice");
    // GET /tokens shows personal tokens with their owner, never the tokens behind sign-in sessions.
    const listed = ((await (await gantry.api("/tokens")).json()) as { tokens: { id: string; name: string; userId: string | null }[] }).tokens;
    expect(listed.find((token) => token.name === "laptop")?.userId).toBe("alice");
    expect(listed.map((token) => token.id)).not.toContain(alice.tokenId);

    const disabled = await gantry.api("/users/alice/disable", post({}));
    expect(disabled.status).toBe(200);
    expect(await userOf(disabled)).toMatchObject({ disabledBy: "bootstrap" });
    const page = await alice.web.get("/tokens");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toStartWith("/login");
    const refused = await as(personal, "/tokens/whoami");
    expect(refused.status).toBe(401);
    expect((await errorOf(refused)).message).toContain("revoked");
    // A disabled person cannot sign in again: nothing is made.
    const profile = { provider: "oidc" as const, subject: "sub-alice", name: "Alice", groups: ["dev"], mappedRoles: ["viewer"] };
    await expect(signIn(gantry.deps.db, profile, { newId: "unused", sessionMaxAgeMs: 60_000, now: new Date() })).rejects.toThrow("disabled");

    const enabled = await gantry.api("/users/alice/enable", post({}));
    expect(await userOf(enabled)).toMatchObject({ disabledAt: null, disabledBy: null });
    // Old tokens stay dead; a new sign-in works.
    expect((await as(personal, "/tokens/whoami")).status).toBe(401);
    alice = await signInPerson(gantry, "alice", { name: "Alice", login: "alice", groups: ["dev"], mappedRoles: ["viewer"] });
    expect((await alice.web.get("/tokens")).status).toBe(200);

    const events = ((await (await gantry.api("/events?limit=500")).json()) as { events: { kind: string; data: Record<string, unknown> }[] }).events;
    const mine = events.filter((event) => event.kind.startsWith("user.") && event.data.user === "alice");
    expect(mine.map((event) => event.kind)).toContain("user.disabled");
    expect(mine.map((event) => event.kind)).toContain("user.enabled");
    expect(mine.find((event) => event.kind === "user.disabled")!.data).toMatchObject({ by: "bootstrap", name: "Alice (alice)" });
    const grant = mine.find((event) => event.kind === "user.roles_changed" && Array.isArray(event.data.granted));
    expect(grant?.data).toMatchObject({ granted: ["admin"], by: "bootstrap" });
  });
});

describe("gantry user", () => {
  const cli = (args: string[]) => runCli(args, { server: gantry });

  it("lists, grants, revokes, disables and enables", async () => {
    const ls = await cli(["user", "ls"]);
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(ls.stdout).toContain("Alice");
    expect(ls.stdout).toContain("LAST SIGN-IN");
    const json = JSON.parse((await cli(["user", "ls", "--json"])).stdout) as { users: UserJson[] };
    expect(json.users.map((user) => user.id)).toContain("bob");
    const grant = await cli(["user", "grant", "carol", "viewer"]);
    expect(grant.exitCode, grant.stderr).toBe(0);
    expect(grant.stdout).toContain("granted viewer to Carol");
    expect((await cli(["user", "revoke", "carol", "viewer"])).stdout).toContain("revoked viewer from Carol");
    const disable = await cli(["user", "disable", "carol"]);
    expect(disable.stdout).toContain("disabled Carol");
    expect((await cli(["user", "get", "carol"])).stdout).toContain("disabled");
    expect((await cli(["user", "enable", "carol"])).stdout).toContain("enabled Carol");
    const unknown = await cli(["user", "grant", "carol", "root"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("unknown role root");
    const missing = await cli(["user", "grant", "carol"]);
    expect(missing.exitCode).toBe(2);
  });
});

describe("personal tokens follow their person", () => {
  it("lose a role the person loses, and stop when the person is disabled, however the token was made", async () => {
    const { issueToken, createToken } = await import("../app/auth/tokens.ts");
    const { permissionsOf } = await import("../app/auth/roles.ts");
    const { getToken } = await import("../app/db/repos/tokens.ts");
    const erin = await signInPerson(gantry, "erin", { name: "Erin", login: "erin", mappedRoles: [] });
    expect((await gantry.api("/users/erin/grant", post({ roles: ["admin"] }))).status).toBe(200);
    const signInToken = (await getToken(gantry.deps.db, erin.tokenId))!;
    const caller = { token: signInToken, permissions: await permissionsOf(gantry.deps.db, signInToken) };
    const personal = await issueToken(gantry.deps.db, caller, { name: "erin-ci", roles: ["admin"] }, gantry.deps.now());
    expect(personal.token.userId).toBe("erin");
    expect((await as(personal.secret, "/secrets")).status).toBe(200);

    // The admin role is taken from Erin: her personal token holds it no more.
    expect((await gantry.api("/users/erin/revoke", post({ roles: ["admin"] }))).status).toBe(200);
    const refused = await as(personal.secret, "/secrets");
    expect(refused.status).toBe(403);

    // A token made for her just as she is disabled (a sign-in racing the disable) opens nothing.
    expect((await gantry.api("/users/erin/disable", post({}))).status).toBe(200);
    const raced = await createToken(gantry.deps.db, { name: "Erin", roles: ["viewer"], userId: "erin", signIn: false }, gantry.deps.now());
    const late = await as(raced.secret, "/pipelines");
    expect(late.status).toBe(401);
    expect((await errorOf(late)).message).toContain("owner is disabled");
  });
});

describe("who a person is", () => {
  it("is a subject within its provider: the same sub from another issuer is someone else", async () => {
    const at = (issuer: string, name: string, id: string) =>
      signIn(gantry.deps.db, { provider: "oidc", issuer, subject: "same-sub", name, groups: [], mappedRoles: [] }, { newId: id, sessionMaxAgeMs: 60_000, now: new Date() });
    const first = await at("https://id.example.com", "First Person", "first-person");
    const second = await at("https://other-idp.example.org", "Second Person", "second-person");
    expect(first.user.id).toBe("first-person");
    expect(second.user.id).toBe("second-person");
    // The first provider's person signing in again is still the first person.
    expect((await at("https://id.example.com", "First Person", "unused-id")).user.id).toBe("first-person");
  });
});
