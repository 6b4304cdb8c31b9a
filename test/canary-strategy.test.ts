// canary() as a pipeline author writes it: the SDK's checks, the spec's validation of a deploy
// task's canary strategy, each step's share of replicas and the strategy's words in the log.
import { describe, expect, it } from "bun:test";
import { canaryReplicas, describeStrategy } from "../app/domain/deploy-tasks.ts";
import { toPipelineSpec } from "../app/domain/pipeline-spec.ts";
import { canary, deploy } from "../app/sdk/deploy.ts";

/** A pipeline with one deploy task of `strategy`, as its file exports it. */
const pipeline = (strategy: unknown) => {
  const task = deploy({ environment: "production", service: "web", image: "app:1", replicas: 4 });
  return { id: "ship", tasks: { web: { ...task, deploy: { ...task.deploy, strategy } } } };
};

describe("canary()", () => {
  it("turns each step's pause into milliseconds", () => {
    expect(canary({ steps: [{ replicas: 1, pause: "10s" }, { percent: 50, pause: "2m" }] })).toEqual({
      kind: "canary",
      steps: [
        { replicas: 1, pauseMs: 10_000 },
        { percent: 50, pauseMs: 120_000 },
      ],
    });
  });

  it("refuses a step with both or neither of replicas and percent, a bad percent, or too many steps", () => {
    expect(() => canary({ steps: [{ replicas: 1, percent: 10, pause: "1s" }] })).toThrow("canary: step 1 takes exactly one of replicas and percent");
    expect(() => canary({ steps: [{ replicas: 1, pause: "1s" }, { pause: "1s" }] })).toThrow("canary: step 2 takes exactly one of replicas and percent");
    expect(() => canary({ steps: [{ percent: 0, pause: "1s" }] })).toThrow("canary: step 1: percent must be 1 to 100, not 0");
    expect(() => canary({ steps: [] })).toThrow("canary: steps must list at least one step");
    expect(() => canary({ steps: Array.from({ length: 11 }, () => ({ replicas: 1, pause: "1s" })) })).toThrow("canary: at most 10 steps, not 11");
    expect(() => canary({ steps: [{ replicas: 1, pause: "soon" }] })).toThrow('canary: step 1: pause must be milliseconds or a duration like "10s", not "soon"');
  });

  it("takes a step's share of the main service's replicas, rounded up, at least 1", () => {
    expect(canaryReplicas({ replicas: 3, pauseMs: 0 }, 10)).toBe(3);
    expect(canaryReplicas({ percent: 25, pauseMs: 0 }, 4)).toBe(1);
    expect(canaryReplicas({ percent: 30, pauseMs: 0 }, 4)).toBe(2);
    expect(canaryReplicas({ percent: 1, pauseMs: 0 }, 4)).toBe(1);
    expect(canaryReplicas({ percent: 100, pauseMs: 0 }, 4)).toBe(4);
  });

  it("says its steps in the deploy's log", () => {
    expect(describeStrategy(canary({ steps: [{ replicas: 1, pause: "1m" }, { percent: 50, pause: "1m" }] }))).toBe("canary (1 → 50%, then promoted)");
  });
});

describe("the spec's canary strategy", () => {
  it("accepts what canary() makes", () => {
    const result = toPipelineSpec(pipeline(canary({ steps: [{ replicas: 1, pause: "1s" }, { percent: 100, pause: "1s" }] })));
    expect(result.ok).toBe(true);
  });

  it("tells what is wrong with a hand-written one", () => {
    const issues = (strategy: unknown) => {
      const result = toPipelineSpec(pipeline(strategy));
      return result.ok ? [] : result.issues.map((issue) => `${issue.path}: ${issue.message}`);
    };
    expect(issues({ kind: "canary", steps: [] })).toEqual(["tasks.web.deploy.strategy.steps: a canary needs at least one step"]);
    expect(issues({ kind: "canary", steps: [{ replicas: 1, percent: 5, pauseMs: 0 }] })).toEqual(["tasks.web.deploy.strategy.steps.0: a canary step takes exactly one of replicas and percent"]);
    expect(issues({ kind: "canary", steps: [{ percent: 150, pauseMs: 0 }] })).toEqual(["tasks.web.deploy.strategy.steps.0.percent: must be 1 to 100"]);
    expect(issues({ kind: "canary", steps: Array.from({ length: 11 }, () => ({ replicas: 1, pauseMs: 0 })) })).toEqual(["tasks.web.deploy.strategy.steps: a canary takes at most 10 steps"]);
    expect(issues({ kind: "linear" })[0]).toEndWith("must be made with rolling(...), blueGreen(...) or canary(...)");
  });
});
