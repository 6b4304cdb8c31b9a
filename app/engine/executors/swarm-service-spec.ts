// A task's container plan as a Swarm service: a replicated job of one task that Swarm never
// restarts (Gantry's retries decide), with the plan's labels, environment, workspace bind,
// capabilities, limits and init, placed by the task's constraints. The plan is a container
// task's (container-plan.ts) or a run() task's runner (runner-service.ts).
import type { ServiceSpec } from "./swarm-client.ts";
import { envLines, type ContainerPlan } from "./container-plan.ts";

export interface ServiceSpecOptions {
  /** Placement constraints ("node.labels.gpu==true", "node.id==..."). */
  constraints: string[];
  /** How long Swarm waits between SIGTERM and SIGKILL when it stops the task (its service removed). */
  stopGraceMs: number;
}

/**
 * Services cannot join Docker's `bridge` network by name (it is each engine's own, not a swarm
 * network), but a service attached to no network gets exactly that: the node's default bridge.
 * So Gantry's default network maps to no attachment. "host" is the nodes' own; other names
 * must be swarm-scoped (overlay) networks. "none" has no service form at all: see
 * serviceNetworkProblem.
 */
export function serviceNetworks(network: string): { Target: string }[] {
  return network === "bridge" ? [] : [{ Target: network }];
}

/** Why a task's network cannot be a service's, or undefined when it can. */
export function serviceNetworkProblem(network: string): string | undefined {
  if (network !== "none") return undefined;
  // Handing it the default bridge instead would give network to a task that asked for none.
  return 'network "none" cannot be given to a Swarm service (Swarm attaches services to swarm networks and "host" only); leave network out for the node\'s default bridge, or run such tasks with GANTRY_EXECUTOR=docker';
}

export function containerServiceSpec(plan: ContainerPlan, options: ServiceSpecOptions): ServiceSpec {
  const networks = serviceNetworks(plan.network);
  return {
    Name: plan.name,
    Labels: plan.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: plan.image,
        // The task's container carries the labels too, as the Docker executor's does.
        Labels: plan.labels,
        // A service's Command replaces the image's entrypoint and Args its command, as Entrypoint and Cmd do for a container.
        ...(plan.entrypoint && { Command: plan.entrypoint }),
        ...(plan.command && { Args: plan.command }),
        ...(plan.user && { User: plan.user }),
        Env: envLines(plan.env),
        Dir: plan.workdir,
        ...(plan.groups.length > 0 && { Groups: plan.groups }),
        Mounts: plan.mounts.map((mount) => ({ Type: "bind", Source: mount.source, Target: mount.target, ReadOnly: mount.readonly })),
        CapabilityDrop: ["ALL"],
        ...(plan.capabilities.length > 0 && { CapabilityAdd: plan.capabilities.map((name) => `CAP_${name}`) }),
        // Engines from API 1.44 keep no-new-privileges on services; older ones ignore the field.
        Privileges: { NoNewPrivileges: true },
        ...(plan.init && { Init: true }),
        StopGracePeriod: Math.round(options.stopGraceMs * 1e6),
      },
      // A service has no MemorySwap: the node's swap setting decides whether the task may swap.
      Resources: { Limits: { MemoryBytes: plan.limits.memoryBytes, NanoCPUs: Math.round(plan.limits.cpus * 1e9), Pids: plan.limits.pids } },
      RestartPolicy: { Condition: "none", MaxAttempts: 0 },
      Placement: { Constraints: options.constraints },
      ...(networks.length > 0 && { Networks: networks }),
    },
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
  };
}
