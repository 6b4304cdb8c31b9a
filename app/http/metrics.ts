// GET /metrics: Prometheus' text format (engine/metrics.ts). It takes a token with
// system:read, as the API does; GANTRY_METRICS_PUBLIC=true lets a scraper in without one
// (inside a network that is trusted: run and pipeline names show).
import { Hono } from "hono";
import { requirePermission } from "../auth/roles.ts";
import type { AppEnv } from "./env.ts";
import { requireToken } from "./middleware/auth.ts";

export const metricsRoutes = new Hono<AppEnv>().get(
  "/",
  (c, next) => (c.get("deps").config.metricsPublic ? next() : requireToken(c, next)),
  async (c) => {
    const deps = c.get("deps");
    if (!deps.config.metricsPublic) requirePermission(c, "system", "read");
    const { body, contentType } = await deps.metrics.scrape();
    return c.body(body, 200, { "content-type": contentType, "cache-control": "no-store" });
  },
);
