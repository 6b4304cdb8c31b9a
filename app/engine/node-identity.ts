// This server's node id, kept in its data dir: a restarted server is the same node and
// takes back the runs it left in flight at once, without waiting for their leases to lapse.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
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
  writeFileSync(file, `${id}\n`, { mode: 0o644 });
  return id;
}

export function engineNode(dataDir: string, version: string): EngineNode {
  return { id: loadNodeId(dataDir), hostname: hostname(), pid: process.pid, version };
}
