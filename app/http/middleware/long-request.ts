// Requests answered only when long work ends (a source's sync, a service's rollback): Bun's 10 s
// idle limit would otherwise close the connection while the work goes on, and the caller would
// never hear how it went.
import { createMiddleware } from "hono/factory";
import { getBunServer } from "hono/bun";

export const longRequest = createMiddleware(async (c, next) => {
  getBunServer<{ timeout?: (req: Request, seconds: number) => void }>(c)?.timeout?.(c.req.raw, 0);
  await next();
});
