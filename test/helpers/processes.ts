// Finds host processes by a marker in their command line: a run() task runs in its own pid
// namespace, so the pids it logs mean nothing on the host.
import { readdirSync, readFileSync } from "node:fs";

export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(marker)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
