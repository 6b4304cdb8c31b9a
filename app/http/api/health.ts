// /api/v1/health: no auth; says the server is up and which version it runs.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { GANTRY_VERSION } from "../../version.ts";

export const healthApi = new Hono<AppEnv>().get("/", async (c) => {
  const deps = c.get("deps");
  const [database, docker] = await Promise.all([
    deps.database.client.execute("SELECT 1").then(
      () => ({ status: "ok" as const }),
      (error: Error) => ({ status: "unavailable" as const, message: error.message }),
    ),
    deps.docker.health(),
  ]);
  // Docker being down degrades container tasks only; the server itself is fine.
  const ok = database.status === "ok";
  return c.json({ status: ok ? "ok" : "unavailable", version: GANTRY_VERSION, subsystems: { database, docker } }, ok ? 200 : 503);
});
