// /api/v1/users: people who sign in through an identity provider — list, one, disable, enable,
// grant and revoke roles. The rules (own rights only, never oneself, an event each) are in auth/user-admin.ts.
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { disableUserAs, enableUserAs, grantUserRoles, requireUser, revokeUserRoles, type UserEditor } from "../../auth/user-admin.ts";
import { listUsers } from "../../db/repos/users.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { validate } from "../validate.ts";
import { userJson } from "./json.ts";
import { userAnswer, userListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

/** User ids are made by the server at a first sign-in; this only keeps odd text out of queries and messages. */
export const userIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "not a user id (see GET /users)"));
const userParams = v.object({ id: userIdSchema });
const rolesBody = v.strictObject({
  roles: v.pipe(
    v.array(v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(64))),
    v.minLength(1, "must name at least one role"),
    v.maxLength(50),
  ),
});

const editorOf = (c: Context<AppEnv>): UserEditor => ({ token: c.get("token"), permissions: c.get("permissions") });

export const usersApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "People who signed in through an identity provider: groups, mapped, granted and effective roles, last sign-in, disabled (users:read)", permission: "users:read", response: userListAnswer }), permit("users", "read"), async (c) => c.json({ users: (await listUsers(c.get("deps").db)).map(userJson) }))
  .get("/:id", doc({ summary: "One person", permission: "users:read", response: userAnswer }), permit("users", "read"), validate("param", userParams), async (c) => {
    return c.json({ user: userJson(await requireUser(c.get("deps").db, c.req.valid("param").id)) });
  })
  .post("/:id/disable", doc({ summary: "Disable a person: their sessions and personal tokens stop at once (users:write; not yourself, not someone who may do more than you)", permission: "users:write", response: userAnswer }), permit("users", "write"), validate("param", userParams), async (c) => {
    const deps = c.get("deps");
    return c.json({ user: userJson(await disableUserAs(deps, editorOf(c), c.req.valid("param").id, deps.now())) });
  })
  .post("/:id/enable", doc({ summary: "Enable a disabled person again; they sign in anew (users:write)", permission: "users:write", response: userAnswer }), permit("users", "write"), validate("param", userParams), async (c) => {
    const deps = c.get("deps");
    return c.json({ user: userJson(await enableUserAs(deps, editorOf(c), c.req.valid("param").id, deps.now())) });
  })
  .post("/:id/grant", doc({ summary: "Grant roles to a person, kept across sign-ins; live sessions get them at once. Only what the caller holds may be granted", permission: "users:write", response: userAnswer }), permit("users", "write"), validate("param", userParams), validate("json", rolesBody), async (c) => {
    const deps = c.get("deps");
    const user = await grantUserRoles(deps, editorOf(c), c.req.valid("param").id, c.req.valid("json").roles, deps.now());
    return c.json({ user: userJson(user) });
  })
  .post("/:id/revoke", doc({ summary: "Revoke granted roles from a person (roles from their groups change at the identity provider)", permission: "users:write", response: userAnswer }), permit("users", "write"), validate("param", userParams), validate("json", rolesBody), async (c) => {
    const deps = c.get("deps");
    const user = await revokeUserRoles(deps, editorOf(c), c.req.valid("param").id, c.req.valid("json").roles, deps.now());
    return c.json({ user: userJson(user) });
  });
