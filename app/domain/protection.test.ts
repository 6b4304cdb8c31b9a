import { describe, expect, it } from "bun:test";
import { approvedByAnother, gatesBefore, matchesPattern, protectionRefusal, runBranch } from "./protection.ts";
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

  it("read the branch only from the system's GitHub ref, never from a variable anyone sets", () => {
    expect(runBranch({ GANTRY_GITHUB_REF: "refs/heads/main", BRANCH: "other" })).toBe("main");
    expect(runBranch({ GANTRY_GITHUB_REF: "refs/tags/v1", BRANCH: "release/1" })).toBeUndefined();
    expect(runBranch({ GANTRY_GITHUB_REF: "refs/pull/3/head" })).toBeUndefined();
    expect(runBranch({ BRANCH: "main" })).toBeUndefined();
  });

  it("count only a gate a person other than the starter approved", () => {
    const approved = (decision: Record<string, string>) => ({ state: "successful", decision: { outcome: "approved", ...decision } });
    expect(approvedByAnother(approved({ userId: "bob" }), { userId: "alice" })).toBe(true);
    expect(approvedByAnother(approved({ userId: "alice" }), { userId: "alice" })).toBe(false);
    expect(approvedByAnother(approved({ tokenId: "t1" }), { tokenId: "t1" })).toBe(false);
    expect(approvedByAnother(approved({ auto: "timeout" }), null)).toBe(false);
    expect(approvedByAnother({ state: "reused", decision: { outcome: "approved" } }, null)).toBe(false);
    expect(approvedByAnother(undefined, null)).toBe(false);
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
    expect(protectionRefusal({ branches: ["main"] }, { ...facts, branch: undefined })).toContain("this run was not started by a push to a branch");
    expect(protectionRefusal({ approval: true }, facts)).toContain("none of gate was (an automatic or self-approval does not count)");
    expect(protectionRefusal({ approval: true }, { ...facts, gates: [{ id: "gate", approved: true }] })).toBeUndefined();
  });
});
