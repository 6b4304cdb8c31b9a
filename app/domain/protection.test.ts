import { describe, expect, it } from "bun:test";
import { gatesBefore, matchesPattern, protectionRefusal, runBranch } from "./protection.ts";
import type { TaskSpec } from "./pipeline-spec.ts";

const task = (id: string, kind: TaskSpec["kind"], needs: string[] = []): TaskSpec =>
  ({ id, kind, needs: Object.fromEntries(needs.map((need) => [need, "success"])), env: {}, retries: 0, injectApiToken: false }) as TaskSpec;

describe("protection rules", () => {
  it("match * across any characters, the whole text only", () => {
    expect(matchesPattern("release/*", "release/1.2")).toBe(true);
    expect(matchesPattern("main", "main2")).toBe(false);
    expect(matchesPattern("ops/*", "ops/deploy")).toBe(true);
    expect(matchesPattern("a.b", "axb")).toBe(false);
  });

  it("read the branch from the GitHub ref, else the BRANCH variable", () => {
    expect(runBranch({ GANTRY_GITHUB_REF: "refs/heads/main", BRANCH: "other" })).toBe("main");
    expect(runBranch({ GANTRY_GITHUB_REF: "refs/tags/v1", BRANCH: "release/1" })).toBe("release/1");
    expect(runBranch({})).toBeUndefined();
  });

  it("find the approval gates a task needs through other tasks", () => {
    const tasks = [task("gate", "approval"), task("build", "container", ["gate"]), task("other", "approval"), task("deploy", "container", ["build"])];
    expect(gatesBefore("deploy", tasks)).toEqual(["gate"]);
  });

  it("refuse with the rule that failed, and let everything through without rules", () => {
    const facts = { environment: "prod", pipeline: "ops/ship", branch: "main", gates: [{ id: "gate", approved: false }] };
    expect(protectionRefusal({}, facts)).toBeUndefined();
    expect(protectionRefusal({ pipelines: ["web/*"] }, facts)).toContain("pipeline ops/ship may not deploy to environment prod");
    expect(protectionRefusal({ branches: ["release/*"] }, facts)).toContain("not main");
    expect(protectionRefusal({ branches: ["main"] }, { ...facts, branch: undefined })).toContain("names no branch");
    expect(protectionRefusal({ approval: true }, facts)).toContain("none of gate was approved");
    expect(protectionRefusal({ approval: true }, { ...facts, gates: [{ id: "gate", approved: true }] })).toBeUndefined();
  });
});
