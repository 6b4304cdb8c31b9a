// Whether the swarm executor's engine can run tasks as services, and what it cannot promise:
// the engine must be a swarm manager (a worker cannot create services), and `no-new-privileges`
// (Privileges.NoNewPrivileges in a service's spec) holds only where the manager and every
// node speak Engine API 1.44 (Docker 25) or later; older ones drop the field without a word.
import type Docker from "dockerode";
import { describeDockerFailure, withinTime } from "./docker-client.ts";

/** The Engine API version from which services keep no-new-privileges. */
export const NO_NEW_PRIVILEGES_API = "1.44";
/** The Docker release that brought it. */
const NO_NEW_PRIVILEGES_DOCKER = 25;

export type SwarmHealth =
  | { status: "ok"; node: string; detail: string }
  /** Tasks run, but without a protection the spec asks for. */
  | { status: "degraded"; node: string; message: string }
  /** Tasks cannot run as services: not a manager, in no swarm, or no answer. */
  | { status: "unavailable"; message: string };

/** The engine's role in its swarm, from `docker info`. */
export interface SwarmRole {
  /** Its node id when it is a manager of an active swarm. */
  node?: string;
  /** Why it cannot create services, when it cannot. */
  problem?: string;
}

export type SwarmInfo = { Swarm?: { NodeID?: string; LocalNodeState?: string; ControlAvailable?: boolean } };

export function swarmRole(info: SwarmInfo): SwarmRole {
  const swarm = info.Swarm ?? {};
  if (swarm.LocalNodeState !== "active" || !swarm.NodeID) return { problem: "this engine is in no swarm: container tasks fail until it is a manager of one (docker swarm init)" };
  if (!swarm.ControlAvailable) return { problem: "this engine is a swarm worker; GANTRY_DOCKER_HOST must name a manager" };
  return { node: swarm.NodeID };
}

/** Whether Engine API `version` ("1.41") is older than `than` ("1.44"). */
function olderApi(version: string, than: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const [wantMajor = 0, wantMinor = 0] = than.split(".").map(Number);
  return major < wantMajor || (major === wantMajor && minor < wantMinor);
}

/**
 * Why services do not get no-new-privileges here, or undefined when they do: the manager's API
 * version (it stores the spec) and every node's engine version (each runs its tasks).
 */
export function noNewPrivilegesProblem(managerApi: string | undefined, nodeEngines: string[]): string | undefined {
  const oldManager = managerApi !== undefined && olderApi(managerApi, NO_NEW_PRIVILEGES_API);
  const oldNodes = nodeEngines.filter((version) => (Number.parseInt(version, 10) || 0) < NO_NEW_PRIVILEGES_DOCKER);
  if (!oldManager && oldNodes.length === 0) return undefined;
  const why = [
    ...(oldManager ? [`the manager speaks Engine API ${managerApi}`] : []),
    ...(oldNodes.length > 0 ? [`${oldNodes.length} of ${nodeEngines.length} node(s) run an older engine (${[...new Set(oldNodes)].join(", ")})`] : []),
  ];
  return `no-new-privileges is NOT enforced on swarm services: it needs Engine API ${NO_NEW_PRIVILEGES_API} (Docker ${NO_NEW_PRIVILEGES_DOCKER}) on the manager and every node, and ${why.join(" and ")}; a setuid binary in a task's image can still change its user (see docs/scale-out.md)`;
}

/** Asks the engine: its role, its API version and its nodes' engines. */
export async function askSwarmHealth(docker: Docker, host: string): Promise<SwarmHealth> {
  try {
    const info = (await withinTime(docker.info(), 2_000)) as SwarmInfo;
    const role = swarmRole(info);
    if (!role.node) return { status: "unavailable", message: role.problem! };
    const [version, nodes] = await Promise.all([
      withinTime(docker.version() as Promise<{ ApiVersion?: string }>, 2_000),
      withinTime(docker.listNodes() as Promise<{ Description?: { Engine?: { EngineVersion?: string } } }[]>, 2_000),
    ]);
    const engines = nodes.map((node) => node.Description?.Engine?.EngineVersion ?? "unknown");
    const problem = noNewPrivilegesProblem(version.ApiVersion, engines);
    if (problem) return { status: "degraded", node: role.node, message: problem };
    return { status: "ok", node: role.node, detail: `manager API ${version.ApiVersion}, ${nodes.length} node(s)` };
  } catch (error) {
    return { status: "unavailable", message: describeDockerFailure(error, host, "asking the swarm manager") };
  }
}
