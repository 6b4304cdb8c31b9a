// This server's node id: GANTRY_NODE_ID, or one kept in its data dir. A restarted server is the
// same node and takes back the runs it left in flight at once, without waiting for their leases
// to lapse. Servers sharing a data dir each need their own GANTRY_NODE_ID.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import { getNode } from "../db/repos/nodes.ts";
import type { EngineNode } from "./runs/engine-context.ts";

const NODE_ID_PATTERN = /^node-[a-z0-9]{8,32}$/;

export function loadNodeId(dataDir: string): string {
  const file = join(dataDir, "node-id");
  if (existsSync(file)) {
    const id = readFileSync(file, "utf8").trim();
    if (NODE_ID_PATTERN.test(id)) return id;
    throw new Error(`${file} does not hold a node id (expected node- and 8 to 32 of a-z 0-9); remove it to make a new one`);
  }
  const id = `node-${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  // "wx": two servers starting at once on one data dir must not each keep an id of their own.
  try {
    writeFileSync(file, `${id}\n`, { mode: 0o644, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return loadNodeId(dataDir);
  }
  return id;
}

/** This server as a node: the configured id (GANTRY_NODE_ID), else the data dir's. */
export function engineNode(dataDir: string, version: string, configuredId?: string): EngineNode {
  return { id: configuredId ?? loadNodeId(dataDir), hostname: hostname(), pid: process.pid, version };
}

/** Whether a process of this machine is alive: one we may not signal is, a zombie (killed, not yet reaped by its parent) is not. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    // No /proc here (or the process went meanwhile): the signal's answer stands.
    return existsSync(`/proc/${pid}`) || process.platform !== "linux";
  }
}

/**
 * Why this server may not start as `node`, or undefined when it may: another server that is
 * alive holds the id (two servers sharing a data dir, and so its node-id file, would drive the
 * same runs twice). A server killed on this machine is not alive, so its restart goes on at once;
 * one on another machine is watched for a heartbeat (a third of the lease) before it is believed gone.
 */
export async function nodeIdProblem(db: Db, nodeId: string, options: { leaseMs: number; now: () => Date; watchPollMs?: number }): Promise<string | undefined> {
  const node = { id: nodeId, hostname: hostname(), pid: process.pid };
  const row = await getNode(db, node.id);
  if (!row || row.stoppedAt !== null) return undefined;
  // The same process (servers started and stopped in one process, as tests do).
  if (row.hostname === node.hostname && row.pid === node.pid) return undefined;
  if (options.now().getTime() - row.heartbeatAt.getTime() >= options.leaseMs) return undefined;
  const problem = `node id ${node.id} is in use by a running server (pid ${row.pid} on ${row.hostname}, its heartbeat ${row.heartbeatAt.toISOString()}): servers that share a data dir need a GANTRY_NODE_ID each`;
  if (row.hostname === node.hostname) return processAlive(row.pid) ? problem : undefined;
  const until = Date.now() + Math.min(options.leaseMs, options.leaseMs / 3 + 2_000);
  while (Date.now() < until) {
    await Bun.sleep(options.watchPollMs ?? 500);
    const now = await getNode(db, node.id);
    if (now && now.stoppedAt === null && now.heartbeatAt.getTime() !== row.heartbeatAt.getTime()) return problem;
  }
  return undefined;
}
