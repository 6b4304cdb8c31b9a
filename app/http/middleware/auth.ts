// Bearer-token authentication for /api/v1 (all but health), rate-limited per client address.
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
  const token = await guardAuthentication(deps, clientAddress(c), "api", () => authenticate(deps.db, match[1]!, deps.now()));
  c.set("token", token);
  c.set("permissions", await permissionsOf(deps.db, token));
  await next();
});
