// Issue 11, item 2: a token with only roles:write rewrote its own role to admin and then read
// and wrote secrets. Every route that changes permissions (API roles PUT/DELETE, tokens POST,
// and the web forms that do the same) now keeps a change within the caller's own rights and
// away from the caller's own roles.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startTestGantry, type TestGantry } from "../helpers/gantry.ts";
import { webLogin, type WebClient } from "../helpers/web.ts";

setDefaultTimeout(30_000);

let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startTestGantry();
  // Someone with more rights than the attacker keeps a role of their own.
  expect(
    (
      await gantry.api("/roles/ops", {
        method: "PUT",
        body: JSON.stringify({ permissions: [{ resource: "secrets", target: ".*", actions: ["read", "write"] }] }),
      })
    ).status,
  ).toBe(201);
});
afterAll(() => gantry?.stop());

const as = (secret: string, path: string, init: RequestInit = {}) =>
  fetch(`${gantry.url}/api/v1${path}`, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${secret}` } });

/** A role made by the admin and a token holding it alone. */
async function tokenWithRole(role: string, permissions: unknown[]): Promise<string> {
  expect((await gantry.api(`/roles/${role}`, { method: "PUT", body: JSON.stringify({ permissions }) })).status).toBeOneOf([200, 201]);
  const response = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: `${role}-token`, roles: [role] }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

const ADMIN_PERMISSIONS = [{ resource: "*", target: ".*", actions: ["read", "write"] }];
const messageOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

describe("the roles API", () => {
  let roleWriter: string;
  beforeAll(async () => {
    roleWriter = await tokenWithRole("role-writer", [{ resource: "roles", target: ".*", actions: ["read", "write"] }]);
  });

  it("refuses a token rewriting its own role to admin, so it never reaches the secrets", async () => {
    const rewrite = await as(roleWriter, "/roles/role-writer", { method: "PUT", body: JSON.stringify({ permissions: ADMIN_PERMISSIONS }) });
    expect(rewrite.status).toBe(403);
    const error = await messageOf(rewrite);
    expect(error.code).toBe("forbidden");
    expect(error.message).toContain("cannot change role role-writer");
    expect(error.message).toContain("holds it");
    // The role is as it was, and the attack's second half fails.
    const { role } = (await (await gantry.api("/roles/role-writer")).json()) as { role: { permissions: unknown[] } };
    expect(role.permissions).toEqual([{ resource: "roles", target: ".*", actions: ["read", "write"] }]);
    expect((await as(roleWriter, "/secrets")).status).toBe(403);
    expect((await as(roleWriter, "/secrets/stolen", { method: "PUT", body: JSON.stringify({ value: "attacker-value" }) })).status).toBe(403);
  });

  it("refuses even narrowing one's own role, and deleting it", async () => {
    const narrow = await as(roleWriter, "/roles/role-writer", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "roles", target: ".*", actions: ["read"] }] }),
    });
    expect(narrow.status).toBe(403);
    const remove = await as(roleWriter, "/roles/role-writer", { method: "DELETE" });
    expect(remove.status).toBe(403);
    expect((await messageOf(remove)).message).toContain("cannot delete role role-writer");
    expect((await gantry.api("/roles/role-writer")).status).toBe(200);
  });

  it("refuses granting anything the caller does not hold, to a new role or another one", async () => {
    const create = await as(roleWriter, "/roles/sneaky", { method: "PUT", body: JSON.stringify({ permissions: ADMIN_PERMISSIONS }) });
    expect(create.status).toBe(403);
    expect((await messageOf(create)).message).toMatch(/cannot grant \*:(read|write) on \.\* in role sneaky: the calling token does not have it/);
    expect((await gantry.api("/roles/sneaky")).status).toBe(404);
    // One permission beyond in an otherwise fine list is enough to refuse.
    const mixed = await as(roleWriter, "/roles/sneaky", {
      method: "PUT",
      body: JSON.stringify({
        permissions: [
          { resource: "roles", target: ".*", actions: ["read"] },
          { resource: "secrets", target: "default/.*", actions: ["read"] },
        ],
      }),
    });
    expect(mixed.status).toBe(403);
    expect((await messageOf(mixed)).message).toContain("cannot grant secrets:read on default/.*");
    // Within the caller's rights, a new role is fine.
    const fine = await as(roleWriter, "/roles/role-reader", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "roles", target: ".*", actions: ["read"] }] }),
    });
    expect(fine.status).toBe(201);
  });

  it("refuses changing or deleting a role that reaches beyond the caller", async () => {
    const change = await as(roleWriter, "/roles/ops", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "roles", target: ".*", actions: ["read"] }] }) });
    expect(change.status).toBe(403);
    expect((await messageOf(change)).message).toContain("cannot change role ops: it grants secrets:read on .*");
    const remove = await as(roleWriter, "/roles/ops", { method: "DELETE" });
    expect(remove.status).toBe(403);
    expect((await gantry.api("/roles/ops")).status).toBe(200);
    // A role within its rights (made above) it may delete, and the admin still manages any role.
    expect((await as(roleWriter, "/roles/role-reader", { method: "DELETE" })).status).toBe(200);
    expect((await gantry.api("/roles/temp", { method: "PUT", body: JSON.stringify({ permissions: ADMIN_PERMISSIONS }) })).status).toBe(201);
    expect((await gantry.api("/roles/temp", { method: "DELETE" })).status).toBe(200);
  });

});

describe("the tokens API", () => {
  it("refuses issuing a token with a role beyond the caller, a role made within it is fine", async () => {
    const maker = await tokenWithRole("maker", [
      { resource: "tokens", target: ".*", actions: ["read", "write"] },
      { resource: "roles", target: ".*", actions: ["read", "write"] },
    ]);
    for (const roles of [["admin"], ["ops"], ["viewer"]]) {
      const response = await as(maker, "/tokens", { method: "POST", body: JSON.stringify({ name: "sneaky", roles }) });
      expect(response.status, roles.join()).toBe(403);
      expect((await messageOf(response)).message).toContain("cannot grant");
    }
    // Two steps (make a role, then a token with it) reach no further than one.
    expect((await as(maker, "/roles/maker-two", { method: "PUT", body: JSON.stringify({ permissions: ADMIN_PERMISSIONS }) })).status).toBe(403);
    expect(
      (await as(maker, "/roles/maker-two", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "tokens", target: ".*", actions: ["read"] }] }) })).status,
    ).toBe(201);
    expect((await as(maker, "/tokens", { method: "POST", body: JSON.stringify({ name: "helper", roles: ["maker-two"] }) })).status).toBe(201);
  });
});

describe("the web forms", () => {
  let client: WebClient;
  beforeAll(async () => {
    const secret = await tokenWithRole("web-role-writer", [
      { resource: "roles", target: ".*", actions: ["read", "write"] },
      { resource: "tokens", target: ".*", actions: ["read", "write"] },
    ]);
    client = await webLogin(gantry.url, secret);
  });

  it("refuses rewriting the session's own role, saying why on the form", async () => {
    const response = await client.post("/tokens/roles", { id: "web-role-writer", description: "", permissions: "* .* read,write" });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("cannot change role web-role-writer");
    const { role } = (await (await gantry.api("/roles/web-role-writer")).json()) as { role: { permissions: { resource: string }[] } };
    expect(role.permissions.map((permission) => permission.resource)).toEqual(["roles", "tokens"]);
    // The page offers no buttons that would be refused: not for its own role, nor for a stronger one.
    const html = await (await client.get("/tokens")).text();
    expect(html).not.toContain('aria-label="Edit role web-role-writer"');
    expect(html).not.toContain('aria-label="Delete role ops"');
    expect(html).toContain("Your token holds this role");
    expect(html).toContain("Grants more than your token has");
  });

  it("refuses granting beyond the session, and deleting its own role or a stronger one", async () => {
    const grant = await client.post("/tokens/roles", { id: "web-sneaky", description: "", permissions: "secrets .* read" });
    expect(grant.status).toBe(403);
    expect(await grant.text()).toContain("cannot grant secrets:read on .* in role web-sneaky");
    expect((await gantry.api("/roles/web-sneaky")).status).toBe(404);
    for (const id of ["web-role-writer", "ops"]) {
      const remove = await client.post("/tokens/roles/delete", { id });
      expect(remove.status, id).toBe(403);
      expect((await gantry.api(`/roles/${id}`)).status, id).toBe(200);
    }
    const token = await client.post("/tokens", { name: "web-sneaky", roles: "admin" });
    expect(token.status).toBe(403);
    expect(await token.text()).toContain("cannot grant");
    // Within the session's rights, saving works.
    expect((await client.post("/tokens/roles", { id: "web-fine", description: "", permissions: "tokens .* read" })).status).toBe(303);
    expect((await gantry.api("/roles/web-fine")).status).toBe(200);
  });
});
