// What a killed server may leave behind: its task containers (found through Docker) and its
// run() task processes (found through /proc). Counted at each kill, checked at the end,
// removed when the harness ends.
import Docker from "dockerode";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface Containers {
  /** The janitor's own name for this server's containers. */
  instance: string;
  /** Containers of this server, or of this harness's pipelines. */
  list(): Promise<Docker.ContainerInfo[]>;
  /** Force-removes every one of them, ignoring errors (the harness's own clean-up). */
  removeAll(): Promise<void>;
}

export function serverContainers(dataDir: string, prefix: string): Containers {
  // A hash of the server's database URL, as app/deps.ts makes it.
  const instance = new Bun.CryptoHasher("sha256").update(`file:${resolve(dataDir, "gantry.db")}`).digest("hex").slice(0, 16);
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const list = async () => {
    const all = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } });
    return all.filter((info) => info.Labels["gantry.instance"] === instance || info.Labels["gantry.pipeline"]?.startsWith(prefix));
  };
  return {
    instance,
    list,
    async removeAll() {
      for (const info of await list().catch(() => [])) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    },
  };
}

/** Processes of this data dir's task runners (their command line names the version's bundle). */
export function taskProcesses(dataDir: string): { pid: number; command: string }[] {
  const needle = join(dataDir, "bundles");
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      if (command.includes(needle)) found.push({ pid: Number(entry), command });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** SIGKILLs every task process of this data dir still alive. */
export function killTaskProcesses(dataDir: string): void {
  for (const leftover of taskProcesses(dataDir)) {
    try {
      process.kill(leftover.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
