// /api/v1/extensions/:id/calls: where a container extension asks Gantry to act (start a run,
// read a secret, log, keep state). Authenticated by that extension's own secret, not a user token.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { errorBody } from "../errors.ts";

export const extensionCallsApi = new Hono<AppEnv>().post("/:id/calls", async (c) => {
  const presented = /^Bearer (\S+)$/.exec(c.req.header("authorization") ?? "")?.[1];
  const body = (await c.req.json().catch(() => undefined)) as { method?: unknown; args?: unknown } | undefined;
  const method = typeof body?.method === "string" ? body.method : "";
  const result = await c.get("deps").extensions.call(c.req.param("id"), presented, method, (body?.args ?? []) as unknown[]);
  if (result.ok) return c.json({ value: result.value ?? null });
  return c.json(errorBody(result.status === 401 ? "unauthorized" : "invalid", result.message), result.status);
});
