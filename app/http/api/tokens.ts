// /api/v1/tokens: create (the secret is shown once), list, revoke, whoami. Tokens the engine
// issued to a task say so (`issuedTo`); a person can never make one.
import { Hono, type MiddlewareHandler } from "hono";
import * as v from "valibot";
import { isOwnPersonalToken, issueToken } from "../../auth/tokens.ts";
import { requirePermission } from "../../auth/roles.ts";
import { getToken, listTokens, revokeToken, type TokenRow } from "../../db/repos/tokens.ts";
import { NotFoundError, ValidationError } from "../../domain/errors.ts";
import type { AppEnv } from "../env.ts";
import { validate } from "../validate.ts";
import { tokenJson } from "./json.ts";
import { createdTokenAnswer, tokenAnswer, tokenListAnswer, whoamiAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

/** A token as the API shows it: run tokens name their run, task and scope. */
const tokenView = (token: TokenRow) => ({
  ...tokenJson(token),
  ...(token.run !== null && { issuedTo: { run: token.run, task: token.task, scope: token.scope } }),
});

const createBody = v.strictObject({
  name: v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(100)),
  roles: v.pipe(v.array(v.string()), v.minLength(1, "must name at least one role")),
  expiresAt: v.optional(v.pipe(v.string(), v.isoTimestamp("must be an ISO 8601 timestamp with a time zone"))),
});

/**
 * tokens:write, or a signed-in person making a personal token: it belongs to them, holds at
 * most their roles (issueToken checks) and must expire.
 */
const mayCreateTokens: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get("token").userId) requirePermission(c, "tokens", "write");
  await next();
};

export const tokensApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "List tokens; those the engine issued to a task carry issuedTo: { run, task, scope }, a person's own (personal) ones their userId. Tokens a sign-in made to carry a web session are left out", permission: "tokens:read", response: tokenListAnswer }), async (c) => {
    requirePermission(c, "tokens", "read");
    return c.json({ tokens: (await listTokens(c.get("deps").db)).map(tokenView) });
  })
  .get("/whoami", doc({ summary: "The calling token and what it may do", response: whoamiAnswer }), (c) => c.json({ token: tokenView(c.get("token")), permissions: c.get("permissions") }))
  .post("/", doc({ summary: "Create a token; its secret is returned once (tokens:write, or a signed-in person's own personal token, which must expire)", permission: "tokens:write, or a signed-in person making a personal token of their own", success: 201, response: createdTokenAnswer }), mayCreateTokens, validate("json", createBody), async (c) => {
    const deps = c.get("deps");
    const body = c.req.valid("json");
    if (c.get("token").userId && !body.expiresAt) throw new ValidationError("expiresAt: a personal token needs an expiry");
    const { token, secret } = await issueToken(
      deps.db,
      { token: c.get("token"), permissions: c.get("permissions") },
      { name: body.name, roles: body.roles, ...(body.expiresAt && { expiresAt: new Date(body.expiresAt) }) },
      deps.now(),
    );
    return c.json({ token: tokenJson(token), secret }, 201);
  })
  .delete("/:id", doc({ summary: "Revoke a token (tokens:write, or a person's own personal token)", permission: "tokens:write", response: tokenAnswer }), async (c) => {
    const deps = c.get("deps");
    const id = c.req.param("id");
    // A person may revoke their own personal tokens; anything else needs tokens:write.
    if (!isOwnPersonalToken(c.get("token"), await getToken(deps.db, id))) requirePermission(c, "tokens", "write");
    if (!(await revokeToken(deps.db, id, deps.now()))) throw new NotFoundError(`token ${id} not found`);
    return c.json({ token: tokenView((await getToken(deps.db, id))!) });
  });
