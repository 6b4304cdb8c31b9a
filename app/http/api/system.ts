// /api/v1/system: the pause switch and the nodes working on this database.
import { Hono } from "hono";
import type { SystemStatus } from "../../engine/runs/orchestrator.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export function systemJson(status: SystemStatus) {
  return {
    paused: status.paused,
    pausedBy: status.pausedBy,
    pausedAt: iso(status.pausedAt),
    nodes: status.nodes.map((node) => ({
      id: node.id,
      hostname: node.hostname,
      pid: node.pid,
      version: node.version,
      startedAt: iso(node.startedAt),
      heartbeatAt: iso(node.heartbeatAt),
      stoppedAt: iso(node.stoppedAt),
      alive: node.alive,
      self: node.self,
      runs: node.runs,
    })),
  };
}

export const systemApi = new Hono<AppEnv>()
  .get("/", permit("system", "read"), async (c) => c.json(systemJson(await c.get("deps").orchestrator.systemStatus())))
  .post("/pause", permit("system", "write"), async (c) => c.json(systemJson(await c.get("deps").orchestrator.pause(c.get("token").name))))
  .post("/resume", permit("system", "write"), async (c) => c.json(systemJson(await c.get("deps").orchestrator.resume(c.get("token").name))));
