// Bearer-token authentication for /api/v1 (all but health).
import { createMiddleware } from "hono/factory";
import { authenticate } from "../../auth/tokens.ts";
import { permissionsOf } from "../../auth/roles.ts";
import { UnauthorizedError } from "../../domain/errors.ts";
import type { AppEnv } from "../env.ts";

export const requireToken = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match) throw new UnauthorizedError("missing bearer token: send Authorization: Bearer <token>");
  const deps = c.get("deps");
  const token = await authenticate(deps.db, match[1]!, deps.now());
  c.set("token", token);
  c.set("permissions", await permissionsOf(deps.db, token));
  await next();
});
