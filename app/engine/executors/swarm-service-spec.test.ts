// A run's later tasks are pinned to the node its first task took: the constraints their
// services get, from the run's placement and the task's runsOn, through containerServiceSpec.
// (On the one-node swarm of test/swarm-executor.test.ts every task lands on the same node
// anyway, so only this shows the pin is there.)
import { describe, expect, it } from "bun:test";
import { placementConstraints } from "../../domain/placement.ts";
import { toPipelineSpec } from "../../domain/pipeline-spec.ts";
import { createRunPlacement } from "../runs/run-placement.ts";
import { containerPlan } from "./container-plan.ts";
import type { TaskLaunch } from "./executor.ts";
import { containerServiceSpec, serviceNetworks } from "./swarm-service-spec.ts";

const spec = toPipelineSpec({
  id: "train",
  runsOn: { labels: { zone: "eu" } },
  tasks: {
    fetch: { kind: "container", image: "local/busybox:latest" },
    train: { kind: "container", image: "local/busybox:latest", runsOn: { labels: { gpu: "true" } }, needs: { fetch: "success" } },
  },
});
if (!spec.ok) throw new Error(JSON.stringify(spec.issues));

const launchOf = (id: string): TaskLaunch => ({
  namespace: "default",
  pipeline: "train",
  run: 7,
  task: spec.spec.tasks.find((task) => task.id === id)!,
  attempt: 1,
  ref: `gantry-default-train-7-${id}-1-abcd1234`,
  bundlePath: "/data/bundles/x.js",
  env: {},
  workspace: "/data/workspaces/default/train/7",
  log: {} as TaskLaunch["log"],
});

const planOptions = { instance: "test", defaultNetwork: "bridge", limits: { defaults: { memoryBytes: 1024 ** 3, cpus: 1, pids: 100 }, maxima: { memoryBytes: 1024 ** 3, cpus: 1, pids: 100 } } };

/** The service of a task as the swarm executor makes it: its runsOn labels, and the run's node once it has one. */
const serviceOf = (id: string, node: string | undefined) => {
  const launch = launchOf(id);
  return containerServiceSpec(containerPlan(launch, planOptions), { constraints: placementConstraints(launch.task.container!.runsOn, node), stopGraceMs: 2_000 });
};

describe("a run's services on a swarm", () => {
  it("leave the first task to Swarm's choice within its labels, and pin every later one to the node it took", async () => {
    const placement = createRunPlacement(null);
    // The first task claims the run: no node yet, so only its labels constrain it.
    expect(await placement.claim()).toBeUndefined();
    expect(serviceOf("fetch", undefined).TaskTemplate.Placement).toEqual({ Constraints: ["node.labels.zone==eu"] });
    // Its task began on node-b.
    await placement.placed("node-b");
    const later = await placement.claim();
    expect(later).toBe("node-b");
    expect(serviceOf("train", later).TaskTemplate.Placement).toEqual({ Constraints: ["node.labels.zone==eu", "node.labels.gpu==true", "node.id==node-b"] });
  });

  it("are replicated jobs Swarm never restarts, stopped with the grace given, on the node's default bridge", () => {
    const service = serviceOf("fetch", "node-b");
    expect(service.Mode).toEqual({ ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
    expect(service.TaskTemplate.RestartPolicy).toEqual({ Condition: "none", MaxAttempts: 0 });
    expect(service.TaskTemplate.ContainerSpec.StopGracePeriod).toBe(2_000_000_000);
    expect(service.TaskTemplate.Networks).toBeUndefined();
    expect(serviceNetworks("host")).toEqual([{ Target: "host" }]);
  });
});
