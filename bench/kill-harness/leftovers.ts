// What a killed server may leave behind: its task containers (found through Docker) and its
// run() task processes (found through /proc). Counted at each kill, checked at the end,
// removed when the harness ends.
import { Database } from "bun:sqlite";
import Docker from "dockerode";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface Containers {
  /** The janitor's own name for this server's containers (its database's instance id), once the server made it. */
  instance(): string | undefined;
  /** Containers of this server, or of this harness's pipelines. */
  list(): Promise<Docker.ContainerInfo[]>;
  /** Force-removes every one of them, ignoring errors (the harness's own clean-up). */
  removeAll(): Promise<void>;
}

export function serverContainers(dataDir: string, prefix: string): Containers {
  // The random id the server stored in its database at first start (system_state.instance_id).
  let known: string | undefined;
  const instance = () => {
    if (known) return known;
    try {
      const db = new Database(resolve(dataDir, "gantry.db"), { readonly: true });
      try {
        known = (db.query("select instance_id as id from system_state where id = 1").get() as { id: string | null } | null)?.id ?? undefined;
      } finally {
        db.close();
      }
    } catch {
      // Not made yet.
    }
    return known;
  };
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const list = async () => {
    const all = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } });
    const id = instance();
    return all.filter((info) => (id !== undefined && info.Labels["gantry.instance"] === id) || info.Labels["gantry.pipeline"]?.startsWith(prefix));
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
