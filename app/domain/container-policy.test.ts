// checkContainerPolicy and effectiveLimits: networks beyond bridge/none need the admin's
// allowlist, limits above the maxima are load errors naming the setting, and a task's own
// limits win over the server's defaults.
import { describe, expect, it } from "bun:test";
import { checkContainerPolicy, DEFAULT_CONTAINER_POLICY, effectiveLimits, type ContainerPolicy } from "./container-policy.ts";
import { toPipelineSpec, type PipelineSpec } from "./pipeline-spec.ts";

function specWith(task: Record<string, unknown>): PipelineSpec {
  const result = toPipelineSpec({ id: "p", tasks: { t: { kind: "container", image: "local/busybox:latest", ...task } } });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

const policy = (changes: Partial<ContainerPolicy> = {}): ContainerPolicy => ({ ...DEFAULT_CONTAINER_POLICY, ...changes });

describe("container network policy on the swarm executor", () => {
  it('refuses network "none" for container tasks, which become services, at load time', () => {
    const swarm = policy({ executor: "swarm" });
    const issues = checkContainerPolicy(specWith({ network: "none" }), swarm);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: "tasks.t.network", message: expect.stringContaining('network "none" cannot be given to a Swarm service') });
    // The server's default network counts for tasks that name none.
    expect(checkContainerPolicy(specWith({}), policy({ executor: "swarm", defaultNetwork: "none" }))[0]!.message).toContain("GANTRY_CONTAINER_NETWORK");
    // The Docker executor, and image builds (which stay on the server's engine), keep it.
    expect(checkContainerPolicy(specWith({ network: "none" }), policy({ executor: "docker" }))).toEqual([]);
    expect(checkContainerPolicy(specWith({ network: "none", build: { context: ".", tags: ["local/app:1"] } }), swarm)).toEqual([]);
    expect(checkContainerPolicy(specWith({ network: "bridge" }), swarm)).toEqual([]);
  });
});

describe("container network policy", () => {
  it("lets every task use the default network, bridge and none", () => {
    for (const network of [undefined, "bridge", "none"]) {
      expect(checkContainerPolicy(specWith(network ? { network } : {}), policy())).toEqual([]);
    }
  });

  it("refuses host networking without the allowlist, naming the setting", () => {
    const issues = checkContainerPolicy(specWith({ network: "host" }), policy());
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe("tasks.t.network");
    expect(issues[0]!.message).toContain('network "host" is not allowed');
    expect(issues[0]!.message).toContain("container_allowed_networks");
    expect(issues[0]!.message).toContain("GANTRY_CONTAINER_ALLOWED_NETWORKS");
  });

  it("refuses a named network that is not allowlisted", () => {
    expect(checkContainerPolicy(specWith({ network: "backend" }), policy())[0]!.message).toContain('network "backend" is not allowed');
  });

  it("allows what the admin allowlisted, and the server's own default network", () => {
    expect(checkContainerPolicy(specWith({ network: "host" }), policy({ allowedNetworks: ["host"] }))).toEqual([]);
    expect(checkContainerPolicy(specWith({ network: "backend" }), policy({ allowedNetworks: ["host", "backend"] }))).toEqual([]);
    expect(checkContainerPolicy(specWith({ network: "host" }), policy({ defaultNetwork: "host" }))).toEqual([]);
    // Allowing one network allows no other.
    expect(checkContainerPolicy(specWith({ network: "host" }), policy({ allowedNetworks: ["backend"] }))).toHaveLength(1);
  });
});

describe("container limit maxima", () => {
  it("accepts limits up to the maxima", () => {
    expect(checkContainerPolicy(specWith({ memory: "8g", cpus: 4, pids: 4096 }), policy())).toEqual([]);
    expect(checkContainerPolicy(specWith({ memory: "64m", cpus: 0.5, pids: 10 }), policy())).toEqual([]);
  });

  it("refuses each limit above its maximum, naming the setting", () => {
    const issues = checkContainerPolicy(specWith({ memory: "9g", cpus: 5, pids: 5000 }), policy());
    expect(issues).toEqual([
      { path: "tasks.t.memory", message: expect.stringContaining("9 GiB is over the maximum of 8 GiB") },
      { path: "tasks.t.cpus", message: expect.stringContaining("5 CPUs is over the maximum of 4") },
      { path: "tasks.t.pids", message: expect.stringContaining("5000 processes is over the maximum of 4096") },
    ]);
    expect(issues[0]!.message).toContain("GANTRY_CONTAINER_MAX_MEMORY");
    expect(issues[1]!.message).toContain("GANTRY_CONTAINER_MAX_CPUS");
    expect(issues[2]!.message).toContain("GANTRY_CONTAINER_MAX_PIDS");
  });

  it("follows an admin's own maxima", () => {
    const low = policy({ maxLimits: { memoryBytes: 256 * 1024 ** 2, cpus: 1, pids: 100 } });
    expect(checkContainerPolicy(specWith({ memory: "512m" }), low)[0]!.message).toContain("over the maximum of 256 MiB");
    expect(checkContainerPolicy(specWith({ pids: 100 }), low)).toEqual([]);
  });
});

describe("effectiveLimits", () => {
  const limits = {
    defaults: { memoryBytes: 2 * 1024 ** 3, cpus: 2, pids: 1024 },
    maxima: { memoryBytes: 8 * 1024 ** 3, cpus: 4, pids: 4096 },
  };

  it("gives a task that sets nothing the server's defaults", () => {
    expect(effectiveLimits({}, limits)).toEqual(limits.defaults);
  });

  it("lets a task's own values win, lower or higher", () => {
    expect(effectiveLimits({ memoryBytes: 64 * 1024 ** 2, cpus: 0.5, pidsLimit: 50 }, limits)).toEqual({ memoryBytes: 64 * 1024 ** 2, cpus: 0.5, pids: 50 });
    expect(effectiveLimits({ memoryBytes: 4 * 1024 ** 3, cpus: 3, pidsLimit: 2048 }, limits)).toEqual({ memoryBytes: 4 * 1024 ** 3, cpus: 3, pids: 2048 });
  });

  it("never passes the maxima, for defaults set above them or a version loaded under higher ones", () => {
    expect(effectiveLimits({ memoryBytes: 16 * 1024 ** 3, cpus: 8, pidsLimit: 10_000 }, limits)).toEqual(limits.maxima);
    expect(effectiveLimits({}, { defaults: limits.maxima, maxima: limits.defaults })).toEqual(limits.defaults);
  });
});
