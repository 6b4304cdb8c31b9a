// /api/v1/health: no auth; says the server is up and which version it runs.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { GANTRY_VERSION } from "../../version.ts";

export const healthApi = new Hono<AppEnv>().get("/", async (c) => {
  const { client } = c.get("deps").database;
  let database: "ok" | "unavailable" = "ok";
  try {
    await client.execute("SELECT 1");
  } catch {
    database = "unavailable";
  }
  return c.json(
    { status: database === "ok" ? "ok" : "degraded", version: GANTRY_VERSION, subsystems: { database } },
    database === "ok" ? 200 : 503,
  );
});
