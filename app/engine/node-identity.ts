// This server's node id (GANTRY_NODE_ID, or one kept in its data dir) and the claim on it made
// first thing at start: one process at a time holds an id, so two servers can never drive the
// same runs under one id. A restarted server takes its id, and the runs left in flight, back.
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import { claimNode, getNode, type NodeRow } from "../db/repos/nodes.ts";
import { createFileOnce } from "../stores/create-once.ts";
import type { EngineNode } from "./runs/engine-context.ts";
import { processAlive } from "./process-alive.ts";

const NODE_ID_PATTERN = /^node-[a-z0-9]{8,32}$/;

export function loadNodeId(dataDir: string): string {
  const file = join(dataDir, "node-id");
  // Created whole or not at all: two servers starting at once on one data dir share one id (and one of them is refused).
  const text = existsSync(file) ? readFileSync(file, "utf8") : createFileOnce(file, `node-${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}\n`, 0o644);
  const id = text.trim();
  if (NODE_ID_PATTERN.test(id)) return id;
  throw new Error(`${file} does not hold a node id (expected node- and 8 to 32 of a-z 0-9); remove it to make a new one`);
}

/** This server as a node: the configured id (GANTRY_NODE_ID), else the data dir's, with an instance of its own. */
export function engineNode(dataDir: string, version: string, configuredId?: string): EngineNode {
  return {
    id: configuredId ?? loadNodeId(dataDir),
    hostname: hostname(),
    pid: process.pid,
    version,
    instance: crypto.randomUUID(),
    pidScope: pidScope(),
  };
}

/**
 * Where this process's pid means something: the boot of the machine and the pid namespace
 * (containers have their own, where the server is often pid 1). "" when it cannot be told
 * (not Linux): a holder's pid is then never taken as a sign of anything.
 */
export function pidScope(): string {
  try {
    return `${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}/${readlinkSync("/proc/self/ns/pid")}`;
  } catch {
    return "";
  }
}

export interface NodeClaimOptions {
  leaseMs: number;
  now: () => Date;
  /** How often a holder is looked at while it is watched for a heartbeat. */
  watchPollMs?: number;
}

/**
 * Claims `node.id` for this process (see claimNode), or says why it may not: another live
 * server holds it. Free at once when nobody holds it, its holder stopped cleanly or its
 * heartbeat is older than the lease, or its holder was a process of this pid namespace that
 * is gone (a kill -9 and restart). Otherwise the holder is watched for a heartbeat (every
 * third of the lease): one that beats is alive and keeps the id; one that does not is taken
 * over, and should it wake up, its next heartbeat finds the id gone and it stops.
 */
export async function claimNodeId(db: Db, node: EngineNode, options: NodeClaimOptions): Promise<string | undefined> {
  const lapsedBefore = () => new Date(options.now().getTime() - options.leaseMs);
  const claim = (from?: NodeRow) => claimNode(db, node, options.now(), { lapsedBefore: lapsedBefore(), ...(from && { from }) });
  if (await claim()) return undefined;
  let held = await getNode(db, node.id);
  if (!held) return (await claim()) ? undefined : problem(node.id, held);
  if (node.pidScope !== "" && held.pidScope === node.pidScope && !processAlive(held.pid)) {
    if (await claim(held)) return undefined;
    // Another server restarting at the same moment got it first: watched like any holder.
    held = (await getNode(db, node.id)) ?? held;
  }
  const until = Date.now() + Math.min(options.leaseMs, options.leaseMs / 3 + 2_000);
  while (Date.now() < until) {
    await Bun.sleep(options.watchPollMs ?? 500);
    const now = await getNode(db, node.id);
    if (now && (now.instance !== held.instance || now.heartbeatAt.getTime() !== held.heartbeatAt.getTime() || now.stoppedAt !== null)) {
      // It beat (alive), or it stopped meanwhile (free).
      return (await claim()) ? undefined : problem(node.id, now);
    }
  }
  return (await claim(held)) ? undefined : problem(node.id, (await getNode(db, node.id)) ?? held);
}

function problem(id: string, holder: NodeRow | undefined): string {
  const who = holder ? ` (pid ${holder.pid} on ${holder.hostname}, its heartbeat ${holder.heartbeatAt.toISOString()})` : "";
  return `node id ${id} is in use by a running server${who}: servers that share a data dir need a GANTRY_NODE_ID each`;
}
