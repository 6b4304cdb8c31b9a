// Bearer-token authentication for /api/v1 (all but health); failures are limited per client
// address and token prefix, and a valid token always gets in.
import { createMiddleware } from "hono/factory";
import { authenticate } from "../../auth/tokens.ts";
import { permissionsOf } from "../../auth/roles.ts";
import { guardAuthentication } from "../../auth/failed-auth.ts";
import { UnauthorizedError } from "../../domain/errors.ts";
import { clientAddress } from "../client-address.ts";
import type { AppEnv } from "../env.ts";

export const requireToken = createMiddleware<AppEnv>(async (c, next) => {
  const deps = c.get("deps");
  const header = c.req.header("authorization");
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  // No credentials is not a guess at one: only presented secrets count toward the limit.
  if (!match) throw new UnauthorizedError("missing bearer token: send Authorization: Bearer <token>");
  const secret = match[1]!;
  const token = await guardAuthentication(deps, { address: clientAddress(c), presented: secret }, "api", () => authenticate(deps.db, secret, deps.now()));
  c.set("token", token);
  c.set("permissions", await permissionsOf(deps.db, token));
  await next();
});
