// runsOn: what a pipeline file may ask of a node (a safe charset, container tasks only), how a
// task's labels merge over its pipeline's, the constraints they become, and the load error a
// server that runs containers on Docker gives.
import { describe, expect, it } from "bun:test";
import { toPipelineSpec, type PipelineSpec } from "./pipeline-spec.ts";
import { placementConstraints, runnerReach, waitingForNodeReason } from "./placement.ts";
import { checkContainerPolicy, DEFAULT_CONTAINER_POLICY } from "./container-policy.ts";

const box = (extra: Record<string, unknown> = {}) => ({ kind: "container", image: "local/busybox:latest", ...extra });

const spec = (definition: Record<string, unknown>): PipelineSpec => {
  const result = toPipelineSpec({ id: "p", ...definition });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
};

const issues = (definition: Record<string, unknown>) => {
  const result = toPipelineSpec({ id: "p", ...definition });
  return result.ok ? [] : result.issues;
};

describe("runsOn", () => {
  it("merges a task's labels over its pipeline's, the task winning per key, and leaves builds unplaced", () => {
    const { tasks } = spec({
      runsOn: { labels: { zone: "eu", gpu: "false" } },
      tasks: {
        train: box({ runsOn: { labels: { gpu: "true" } } }),
        fetch: box(),
        image: box({ build: { context: ".", tags: ["local/app:1"] } }),
        check: { kind: "run", fn: () => {} },
      },
    });
    const runsOn = Object.fromEntries(tasks.map((task) => [task.id, task.container?.runsOn]));
    expect(runsOn).toEqual({ train: { labels: { zone: "eu", gpu: "true" } }, fetch: { labels: { zone: "eu", gpu: "false" } }, image: undefined, check: undefined });
  });

  it("refuses label keys and values that could change a constraint", () => {
    expect(issues({ tasks: { t: box({ runsOn: { labels: { "gpu==true,node.id": "x" } } }) } })[0]).toMatchObject({ path: "tasks.t.runsOn.labels.gpu==true,node.id", message: expect.stringContaining("must be a node label key") });
    expect(issues({ tasks: { t: box({ runsOn: { labels: { gpu: "true && 1" } } }) } })[0]).toMatchObject({ path: "tasks.t.runsOn.labels.gpu", message: expect.stringContaining("must be a node label value") });
    expect(issues({ tasks: { t: box({ runsOn: { labels: {} } }) } })[0]!.message).toContain("must name at least one node label");
  });

  it("is refused on run() tasks and on builds, with the reason", () => {
    expect(issues({ tasks: { t: { kind: "run", fn: () => {}, runsOn: { labels: { gpu: "true" } } } } })[0]!.message).toContain("run() tasks are not placed by node labels");
    expect(issues({ tasks: { t: box({ build: { context: ".", tags: ["local/app:1"] }, runsOn: { labels: { gpu: "true" } } }) } })[0]).toMatchObject({ path: "tasks.t.runsOn" });
  });

  it("does not load on a server that runs containers on Docker; loads for swarm and where the executor is unknown", () => {
    const placed = spec({ tasks: { t: box({ runsOn: { labels: { gpu: "true" } } }) } });
    expect(checkContainerPolicy(placed, { ...DEFAULT_CONTAINER_POLICY, executor: "docker" })[0]).toMatchObject({ path: "tasks.t.runsOn", message: expect.stringContaining("runsOn needs the swarm executor") });
    expect(checkContainerPolicy(placed, { ...DEFAULT_CONTAINER_POLICY, executor: "swarm" })).toEqual([]);
    expect(checkContainerPolicy(placed, DEFAULT_CONTAINER_POLICY)).toEqual([]);
  });

  it("becomes Swarm constraints, pinned to the run's node once it has one", () => {
    expect(placementConstraints({ labels: { gpu: "true", zone: "eu" } })).toEqual(["node.labels.gpu==true", "node.labels.zone==eu"]);
    expect(placementConstraints(undefined, "n1")).toEqual(["node.id==n1"]);
    expect(waitingForNodeReason({ labels: { gpu: "true" } }, undefined, "no suitable node (scheduling constraints not satisfied on 1 node)")).toBe(
      "waiting for a node: no node matches gpu=true (swarm: no suitable node (scheduling constraints not satisfied on 1 node))",
    );
  });
});

describe("runnerReach", () => {
  it("keeps a runner that reaches the API on loopback on the server's node, and refuses loopback off the host network", () => {
    expect(runnerReach("http://127.0.0.1:8080", "host")).toEqual({ serverNodeOnly: true });
    expect(runnerReach("http://localhost:8080", "host")).toEqual({ serverNodeOnly: true });
    expect(runnerReach("http://10.0.0.5:8080", "host")).toEqual({ serverNodeOnly: false });
    expect(runnerReach("https://gantry.internal", "gantry-net")).toEqual({ serverNodeOnly: false });
    expect(runnerReach("http://[::1]:8080", "bridge")).toEqual({ problem: expect.stringContaining('a runner service on network "bridge" cannot reach the API at http://[::1]:8080') });
  });
});
