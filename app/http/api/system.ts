// /api/v1/system: the pause switch, the nodes working on this database, and backups.
import { Hono, type Context } from "hono";
import { iso } from "./json.ts";
import { getBunServer } from "hono/bun";
import type { RunnerCounts } from "../../engine/executors/bun-process.ts";
import type { SystemStatus } from "../../engine/runs/orchestrator.ts";
import { createBackup } from "../../stores/backup.ts";
import { ConflictError } from "../../domain/errors.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { may } from "../../auth/roles.ts";
import { systemAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";


export function systemJson(status: SystemStatus, runners: RunnerCounts | undefined) {
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
    ...(runners && { runners }),
  };
}

/** The answering server's warm runners, for a token that may read the system (pause and resume need only write). */
const runnersFor = (c: Context<AppEnv>) => (may(c, "system", "read") ? c.get("deps").runners() : undefined);

/**
 * A backup as a download (gzip'd tar): the database snapshot, logs, objects and bundles, never
 * the secret key. Shared with the web UI's download link.
 */
/** Servers (by their deps) making a backup right now. */
const backingUp = new WeakSet<object>();

export async function backupResponse(c: Context<AppEnv>): Promise<Response> {
  const deps = c.get("deps");
  const { config, database, secrets, now } = deps;
  // One at a time: each takes a full snapshot of the database on disk.
  if (backingUp.has(deps)) throw new ConflictError("a backup is being made already; try again once it is done");
  backingUp.add(deps);
  const release = () => backingUp.delete(deps);
  let backup: Awaited<ReturnType<typeof createBackup>>;
  try {
    backup = await createBackup({
      dataDir: config.dataDir,
      dbUrl: config.dbUrl,
      client: database.client,
      secretKey: { id: secrets.keyId, source: config.secretKey ? "env" : "file", secrets: (await secrets.list()).length },
      now: now(),
    });
  } catch (error) {
    release();
    throw error;
  }
  const reader = backup.stream.getReader();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        release();
        controller.error(error);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
  // A large backup takes a while, and gzip may hold bytes back: Bun's 10 s idle limit must not cut it.
  getBunServer<{ timeout?: (req: Request, seconds: number) => void }>(c)?.timeout?.(c.req.raw, 0);
  return new Response(stream, {
    headers: {
      "content-type": "application/gzip",
      "content-disposition": `attachment; filename="${backup.filename}"`,
      "cache-control": "no-store",
    },
  });
}

export const systemApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "Whether runs are paused, the nodes working on this database with their heartbeats, and this server's warm runners (how its run() tasks got their runners)", permission: "system:read", response: systemAnswer }), permit("system", "read"), async (c) => c.json(systemJson(await c.get("deps").orchestrator.systemStatus(), runnersFor(c))))
  .post("/pause", doc({ summary: "Pause: new runs are accepted and wait queued; running ones finish", permission: "system:write", response: systemAnswer }), permit("system", "write"), async (c) => c.json(systemJson(await c.get("deps").orchestrator.pause(c.get("token").name), runnersFor(c))))
  .post("/resume", doc({ summary: "Resume: queued runs start, in order", permission: "system:write", response: systemAnswer }), permit("system", "write"), async (c) => c.json(systemJson(await c.get("deps").orchestrator.resume(c.get("token").name), runnersFor(c))))
  // Its own grant (backups:write, admins have it): a backup holds every log and object and the encrypted secrets.
  .get("/backup", doc({ summary: "A backup as application/gzip (a tar): a consistent database snapshot, logs, objects and pipeline bundles, with a manifest and sha256 list; never the secret key (backups:write)", permission: "backups:write", response: { mediaType: "application/gzip", description: "a tar.gz: the database snapshot, logs, objects and bundles, a manifest and sha256 list" } }), permit("backups", "write"), backupResponse);
