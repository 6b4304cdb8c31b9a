// What a pipeline's container tasks may ask for, decided against the admin's allowlists.
// Checked when a file loads, so a task asking for too much never becomes a version.
import type { PipelineSpec, SpecIssue } from "./pipeline-spec.ts";

export interface ContainerPolicy {
  /** Host paths (and everything below them) that tasks may mount. */
  allowedMounts: string[];
  /** Capabilities beyond Docker's default set that tasks may keep. */
  allowedCapabilities: string[];
}

export const DEFAULT_CONTAINER_POLICY: ContainerPolicy = { allowedMounts: [], allowedCapabilities: [] };

/** Docker's default capability set: a task may keep any of these without an allowlist. */
export const DOCKER_DEFAULT_CAPABILITIES = [
  "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
  "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
];

const DOCKER_SOCKETS = ["/var/run/docker.sock", "/run/docker.sock"];

function isUnder(path: string, root: string): boolean {
  const normalRoot = root.replace(/\/+$/, "") || "/";
  return path === normalRoot || path.startsWith(normalRoot === "/" ? "/" : `${normalRoot}/`);
}

export function checkContainerPolicy(spec: PipelineSpec, policy: ContainerPolicy): SpecIssue[] {
  const issues: SpecIssue[] = [];
  for (const task of spec.tasks) {
    const container = task.container;
    if (!container) continue;
    container.mounts.forEach((mount, index) => {
      const source = mount.source.replace(/\/+$/, "") || "/";
      if (source.split("/").includes("..")) {
        issues.push({ path: `tasks.${task.id}.mounts.${index}.source`, message: "must not contain .." });
      } else if (!policy.allowedMounts.some((allowed) => isUnder(source, allowed))) {
        const what = DOCKER_SOCKETS.includes(source) ? "the Docker socket" : `host path ${source}`;
        issues.push({
          path: `tasks.${task.id}.mounts.${index}.source`,
          message: `mounting ${what} is not allowed; an admin can allow it with container_allowed_mounts in gantry.toml`,
        });
      }
    });
    container.capabilities.forEach((capability, index) => {
      if (!DOCKER_DEFAULT_CAPABILITIES.includes(capability) && !policy.allowedCapabilities.includes(capability)) {
        issues.push({
          path: `tasks.${task.id}.capabilities.${index}`,
          message: `capability ${capability} is beyond Docker's default set; an admin can allow it with container_allowed_capabilities`,
        });
      }
    });
  }
  return issues;
}
