// /api/v1/tokens: create (the secret is shown once), list, revoke, whoami.
import { Hono } from "hono";
import * as v from "valibot";
import { createToken } from "../../auth/tokens.ts";
import { BUILT_IN_ROLES, isBuiltInRole, permissionsOf, requirePermission } from "../../auth/roles.ts";
import { getRoles } from "../../db/repos/roles.ts";
import { getToken, listTokens, revokeToken } from "../../db/repos/tokens.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { covers } from "../../domain/permissions.ts";
import type { AppEnv } from "../env.ts";
import { validate } from "../validate.ts";
import { permit } from "../middleware/permit.ts";
import { tokenJson } from "./json.ts";

const createBody = v.strictObject({
  name: v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(100)),
  roles: v.pipe(v.array(v.string()), v.minLength(1, "must name at least one role")),
  expiresAt: v.optional(v.pipe(v.string(), v.isoTimestamp("must be an ISO 8601 timestamp with a time zone"))),
});

export const tokensApi = new Hono<AppEnv>()
  .get("/", async (c) => {
    requirePermission(c, "tokens", "read");
    return c.json({ tokens: (await listTokens(c.get("deps").db)).map(tokenJson) });
  })
  .get("/whoami", (c) => c.json({ token: tokenJson(c.get("token")), permissions: c.get("permissions") }))
  .post("/", permit("tokens", "write"), validate("json", createBody), async (c) => {
    const deps = c.get("deps");
    const body = c.req.valid("json");
    const custom = await getRoles(deps.db, body.roles.filter((role) => !isBuiltInRole(role)));
    const unknown = body.roles.filter((role) => !isBuiltInRole(role) && !custom.some((row) => row.id === role));
    if (unknown.length) {
      throw new ValidationError(`unknown role ${unknown.join(", ")}: roles are ${[...Object.keys(BUILT_IN_ROLES), ...custom.map((row) => row.id)].join(", ")} or one made with PUT /roles/:id`);
    }
    // No escalation: a token can only hand out what it may do itself.
    const granted = await permissionsOf(deps.db, { ...c.get("token"), roles: body.roles, permissions: null });
    const beyond = granted.find((permission) => !covers(c.get("permissions"), permission));
    if (beyond) {
      throw new ForbiddenError(`cannot grant ${beyond.resource}:${beyond.actions.join("+")} on ${beyond.target}: the calling token does not have it`);
    }
    const expiresAt = body.expiresAt ? new Date(body.expiresAt) : undefined;
    if (expiresAt && expiresAt.getTime() <= deps.now().getTime()) throw new ValidationError("expiresAt: must be in the future");
    const { token, secret } = await createToken(deps.db, { name: body.name, roles: body.roles, ...(expiresAt && { expiresAt }) }, deps.now());
    return c.json({ token: tokenJson(token), secret }, 201);
  })
  .delete("/:id", async (c) => {
    requirePermission(c, "tokens", "write");
    const deps = c.get("deps");
    const id = c.req.param("id");
    if (!(await revokeToken(deps.db, id, deps.now()))) throw new NotFoundError(`token ${id} not found`);
    return c.json({ token: tokenJson((await getToken(deps.db, id))!) });
  });
