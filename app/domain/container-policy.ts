// What a pipeline's container tasks may ask for, decided against the admin's allowlists and
// maxima; checked when a file loads, so a task asking for too much never becomes a version.
// Also the limits a task runs with: its own where it set them, the server's defaults otherwise.
import { formatBytes } from "./bytes.ts";
import type { PipelineSpec, SpecIssue, TaskSpec } from "./pipeline-spec.ts";

/** Memory, CPU and process limits of one container. */
export interface ContainerLimits {
  memoryBytes: number;
  cpus: number;
  pids: number;
}

export interface ContainerPolicy {
  /** Host paths (and everything below them) that tasks may mount. */
  allowedMounts: string[];
  /** Capabilities beyond Docker's default set that tasks may keep. */
  allowedCapabilities: string[];
  /** Networks beyond "bridge", "none" and `defaultNetwork` that tasks may join ("host" among them). */
  allowedNetworks: string[];
  /** The server's own network for tasks (GANTRY_CONTAINER_NETWORK): the admin chose it, so tasks may name it. */
  defaultNetwork: string;
  /** The most a task may ask for (container_max_memory, _cpus, _pids). */
  maxLimits: ContainerLimits;
  /** What runs the server's container tasks (GANTRY_EXECUTOR): only "swarm" places them by `runsOn`. Unknown (validate, dev): not judged. */
  executor?: "docker" | "swarm";
}

/** The fallbacks of config.ts, for callers without a server config (`gantry pipeline validate`, `gantry dev`). */
export const DEFAULT_CONTAINER_LIMITS: ContainerLimits = { memoryBytes: 2 * 1024 ** 3, cpus: 2, pids: 1024 };
export const DEFAULT_MAX_CONTAINER_LIMITS: ContainerLimits = { memoryBytes: 8 * 1024 ** 3, cpus: 4, pids: 4096 };

export const DEFAULT_CONTAINER_POLICY: ContainerPolicy = {
  allowedMounts: [],
  allowedCapabilities: [],
  allowedNetworks: [],
  defaultNetwork: "bridge",
  maxLimits: DEFAULT_MAX_CONTAINER_LIMITS,
};

/** Docker's default capability set: a task may keep any of these without an allowlist. */
export const DOCKER_DEFAULT_CAPABILITIES = [
  "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
  "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
];

/** Networks every task may use: Docker's isolated default and no network at all. */
const ALWAYS_ALLOWED_NETWORKS = ["bridge", "none"];

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
    if (container.runsOn && policy.executor === "docker") {
      issues.push({
        path: `tasks.${task.id}.runsOn`,
        message: 'runsOn needs the swarm executor, and this server runs container tasks on its Docker engine; an admin can set GANTRY_EXECUTOR=swarm (executor = "swarm" in gantry.toml)',
      });
    }
    const networkIssue = networkProblem(container.network, policy) ?? swarmNetworkProblem(task, policy);
    if (networkIssue) issues.push({ path: `tasks.${task.id}.network`, message: networkIssue });
    issues.push(...limitIssues(task, policy.maxLimits));
  }
  return issues;
}

function networkProblem(network: string | undefined, policy: ContainerPolicy): string | undefined {
  if (network === undefined || network === policy.defaultNetwork) return undefined;
  if (ALWAYS_ALLOWED_NETWORKS.includes(network) || policy.allowedNetworks.includes(network)) return undefined;
  // The host's network reaches everything listening on its loopback, this server's API included.
  const why = network === "host" ? "host networking reaches every service on the server's loopback, the Gantry API included" : "only bridge and none are open to every pipeline";
  return `network "${network}" is not allowed (${why}); an admin can allow it with container_allowed_networks in gantry.toml (GANTRY_CONTAINER_ALLOWED_NETWORKS)`;
}

/**
 * On the swarm executor a plain container task is a service, and Swarm has no "none" network
 * for services (handing it the node's bridge instead would give network to a task that asked
 * for none). Image builds, pushes and deploys stay on the server's engine, where "none" works.
 */
function swarmNetworkProblem(task: TaskSpec, policy: ContainerPolicy): string | undefined {
  const container = task.container!;
  if (policy.executor !== "swarm" || container.build || container.push || container.deploy) return undefined;
  if ((container.network ?? policy.defaultNetwork) !== "none") return undefined;
  const whose = container.network === undefined ? " (the server's default network, GANTRY_CONTAINER_NETWORK)" : "";
  return `network "none"${whose} cannot be given to a Swarm service, and this server runs container tasks as services (GANTRY_EXECUTOR=swarm); leave network out for the node's default bridge, or run such tasks on a server with GANTRY_EXECUTOR=docker`;
}

/** A task may ask for more than the defaults, up to the admin's maxima; above them is a load error rather than a silent clamp. */
function limitIssues(task: TaskSpec, max: ContainerLimits): SpecIssue[] {
  const container = task.container!;
  const issues: SpecIssue[] = [];
  if (container.memoryBytes !== undefined && container.memoryBytes > max.memoryBytes) {
    issues.push({
      path: `tasks.${task.id}.memory`,
      message: `${formatBytes(container.memoryBytes)} is over the maximum of ${formatBytes(max.memoryBytes)}; an admin can raise container_max_memory (GANTRY_CONTAINER_MAX_MEMORY)`,
    });
  }
  if (container.cpus !== undefined && container.cpus > max.cpus) {
    issues.push({
      path: `tasks.${task.id}.cpus`,
      message: `${container.cpus} CPUs is over the maximum of ${max.cpus}; an admin can raise container_max_cpus (GANTRY_CONTAINER_MAX_CPUS)`,
    });
  }
  if (container.pidsLimit !== undefined && container.pidsLimit > max.pids) {
    issues.push({
      path: `tasks.${task.id}.pids`,
      message: `${container.pidsLimit} processes is over the maximum of ${max.pids}; an admin can raise container_max_pids (GANTRY_CONTAINER_MAX_PIDS)`,
    });
  }
  return issues;
}

/**
 * The limits a container runs with: the task's own where it set them, the server's defaults
 * otherwise, and never above the maxima (a version loaded before an admin lowered one, or
 * defaults set above the maxima, still gets the maximum).
 */
export function effectiveLimits(
  container: { memoryBytes?: number; cpus?: number; pidsLimit?: number },
  limits: { defaults: ContainerLimits; maxima: ContainerLimits },
): ContainerLimits {
  const { defaults, maxima } = limits;
  return {
    memoryBytes: Math.min(container.memoryBytes ?? defaults.memoryBytes, maxima.memoryBytes),
    cpus: Math.min(container.cpus ?? defaults.cpus, maxima.cpus),
    pids: Math.min(container.pidsLimit ?? defaults.pids, maxima.pids),
  };
}
