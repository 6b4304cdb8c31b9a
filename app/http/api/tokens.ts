// /api/v1/tokens: create (the secret is shown once), list, revoke, whoami.
import { Hono } from "hono";
import * as v from "valibot";
import { createToken } from "../../auth/tokens.ts";
import { BUILT_IN_ROLES, isKnownRole, requirePermission } from "../../auth/roles.ts";
import { getToken, listTokens, revokeToken } from "../../db/repos/tokens.ts";
import { NotFoundError, ValidationError } from "../../domain/errors.ts";
import type { AppEnv } from "../env.ts";
import { validate } from "../validate.ts";
import { tokenJson } from "./json.ts";

const createBody = v.strictObject({
  name: v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(100)),
  roles: v.pipe(v.array(v.string()), v.minLength(1, "must name at least one role")),
  expiresAt: v.optional(v.pipe(v.string(), v.isoTimestamp("must be an ISO 8601 timestamp with a time zone"))),
});

export const tokensApi = new Hono<AppEnv>()
  .get("/", async (c) => {
    requirePermission(c.get("token"), "tokens", "read");
    return c.json({ tokens: (await listTokens(c.get("deps").db)).map(tokenJson) });
  })
  .get("/whoami", (c) => {
    const token = c.get("token");
    const admin = token.roles.includes("admin");
    return c.json({ token: tokenJson(token), permissions: [{ resource: "*", target: ".*", actions: admin ? ["read", "write"] : ["read"] }] });
  })
  .post("/", validate("json", createBody), async (c) => {
    requirePermission(c.get("token"), "tokens", "write");
    const deps = c.get("deps");
    const body = c.req.valid("json");
    const unknown = body.roles.filter((role) => !isKnownRole(role));
    if (unknown.length) throw new ValidationError(`unknown role ${unknown.join(", ")}: known roles are ${BUILT_IN_ROLES.join(", ")}`);
    const expiresAt = body.expiresAt ? new Date(body.expiresAt) : undefined;
    if (expiresAt && expiresAt.getTime() <= deps.now().getTime()) throw new ValidationError("expiresAt: must be in the future");
    const { token, secret } = await createToken(deps.db, { name: body.name, roles: body.roles, ...(expiresAt && { expiresAt }) }, deps.now());
    return c.json({ token: tokenJson(token), secret }, 201);
  })
  .delete("/:id", async (c) => {
    requirePermission(c.get("token"), "tokens", "write");
    const deps = c.get("deps");
    const id = c.req.param("id");
    if (!(await revokeToken(deps.db, id, deps.now()))) throw new NotFoundError(`token ${id} not found`);
    return c.json({ token: tokenJson((await getToken(deps.db, id))!) });
  });
