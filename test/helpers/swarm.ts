// A real one-node swarm for deploy tests: the local engine made a manager when it is not one
// (and put back as it was afterwards), and small service images built FROM local/busybox.
import { spawnSync } from "node:child_process";
import type Docker from "dockerode";

export interface TestSwarm {
  /** True when this test made the engine a manager (and so must leave the swarm again). */
  initialised: boolean;
  /** Leaves the swarm if this test joined it, and removes the bridge network Swarm leaves behind. */
  restore(): Promise<void>;
}

/** The engine as a swarm manager, initialised on loopback when it is not in a swarm. */
export async function ensureSwarm(docker: Docker): Promise<TestSwarm> {
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string } };
  const initialised = info.Swarm?.LocalNodeState !== "active";
  if (initialised) await docker.swarmInit({ ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
  return {
    initialised,
    restore: async () => {
      if (!initialised) return;
      await docker.swarmLeave({ force: true });
      // `swarm leave --force` keeps docker_gwbridge; a later `swarm init` would make it again.
      await docker.getNetwork("docker_gwbridge").remove().catch(() => undefined);
    },
  };
}

/**
 * An image that idles until stopped (it exits at once on SIGTERM, so replaced tasks stop
 * quickly), with /ok present when `healthy` — for a health check `test -f /ok`.
 * Built by the CLI's legacy builder from a Dockerfile on stdin: nothing is pulled.
 */
export function buildServiceImage(tag: string, options: { healthy: boolean; label: string }): void {
  const dockerfile = [
    "FROM local/busybox:latest",
    `LABEL ${options.label}=true`,
    `RUN echo ${JSON.stringify(tag)} > /version${options.healthy ? " && touch /ok" : ""}`,
    `CMD ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`,
    "",
  ].join("\n");
  const built = spawnSync("docker", ["build", "-q", "-t", tag, "-"], { input: dockerfile, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`docker build ${tag} failed: ${built.stderr}`);
}
