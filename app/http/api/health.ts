// /api/v1/health: no auth; says the server is up, which version it runs, and how its
// subsystems are (database, Docker, the sandbox, and the swarm with GANTRY_EXECUTOR=swarm).
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { GANTRY_VERSION } from "../../version.ts";
import { healthAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

export const healthApi = new Hono<AppEnv>().get("/", doc({ summary: "Server status and version, with its subsystems: database, docker, sandbox (the run() sandbox: ok, off or unavailable, with why) and, with GANTRY_EXECUTOR=swarm, swarm (ok, degraded when services run without no-new-privileges, or unavailable when the engine is no swarm manager)", auth: "public", success: [200, 503], response: healthAnswer }), async (c) => {
  const deps = c.get("deps");
  const [database, docker, swarm] = await Promise.all([
    deps.database.client.execute("SELECT 1").then(
      () => ({ status: "ok" as const }),
      (error: Error) => ({ status: "unavailable" as const, message: error.message }),
    ),
    deps.docker.health(),
    // With the swarm executor: whether the engine is a manager, and whether services get no-new-privileges there.
    deps.config.executor === "swarm" ? deps.swarm.health() : undefined,
  ]);
  // Docker being down degrades container tasks only; the server itself is fine.
  const ok = database.status === "ok";
  // Without its sandbox, pipeline code is refused (or, turned off by an admin, unconfined): said here, the server still serves.
  const status = deps.sandbox.status;
  const sandbox =
    status.state === "on"
      ? { status: "ok" as const, ...(status.user && { user: status.user.name }) }
      : status.state === "off"
        ? { status: "off" as const, message: "GANTRY_RUN_SANDBOX=off: pipeline code runs with the server's rights" }
        : { status: "unavailable" as const, message: status.reason };
  return c.json({ status: ok ? "ok" : "unavailable", version: GANTRY_VERSION, subsystems: { database, docker, sandbox, ...(swarm && { swarm }) } }, ok ? 200 : 503);
});
