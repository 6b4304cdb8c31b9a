// What the swarm executor says of its engine: a manager is needed (a worker cannot create
// services), and services keep no-new-privileges only where the manager and every node speak
// Engine API 1.44 (Docker 25) or later.
import { describe, expect, it } from "bun:test";
import { noNewPrivilegesProblem, swarmRole } from "./swarm-health.ts";

describe("the swarm executor's engine", () => {
  it("must be a manager: a worker and an engine in no swarm are named as such", () => {
    expect(swarmRole({ Swarm: { LocalNodeState: "active", NodeID: "n1", ControlAvailable: true } })).toEqual({ node: "n1" });
    expect(swarmRole({ Swarm: { LocalNodeState: "active", NodeID: "n2", ControlAvailable: false } })).toEqual({
      problem: "this engine is a swarm worker; GANTRY_DOCKER_HOST must name a manager",
    });
    expect(swarmRole({ Swarm: { LocalNodeState: "inactive" } }).problem).toStartWith("this engine is in no swarm");
  });

  it("warns that no-new-privileges is not enforced when the manager or a node is older than Docker 25", () => {
    expect(noNewPrivilegesProblem("1.44", ["25.0.3", "27.1.1"])).toBeUndefined();
    expect(noNewPrivilegesProblem("1.45", ["26.1.0"])).toBeUndefined();
    const old = noNewPrivilegesProblem("1.41", ["20.10.24+dfsg1"]);
    expect(old).toStartWith("no-new-privileges is NOT enforced on swarm services: it needs Engine API 1.44 (Docker 25) on the manager and every node");
    expect(old).toContain("the manager speaks Engine API 1.41 and 1 of 1 node(s) run an older engine (20.10.24+dfsg1)");
    // A new manager does not help a node that runs an old engine.
    const oldNodes = noNewPrivilegesProblem("1.46", ["27.0.1", "24.0.7", "24.0.7"]);
    expect(oldNodes).toContain("and 2 of 3 node(s) run an older engine (24.0.7);");
    expect(oldNodes).not.toContain("the manager speaks");
  });
});
