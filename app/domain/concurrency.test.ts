import { describe, expect, it } from "bun:test";
import { concurrencyKey, expandGroup, groupName, groupTemplateProblems } from "./concurrency.ts";

describe("group templates", () => {
  it("accepts the pipeline's variables and GANTRY_* names", () => {
    expect(groupTemplateProblems("deploy-${BRANCH}-${GANTRY_GITHUB_REF}", ["BRANCH"])).toEqual([]);
  });
  it("names an unknown variable and the ones it could use", () => {
    expect(groupTemplateProblems("deploy-${BRNCH}", ["BRANCH"])).toEqual([
      'unknown variable "BRNCH"; the group key can use the pipeline\'s variables (BRANCH) and GANTRY_* ones',
    ]);
  });
  it("refuses a malformed reference and an unclosed one", () => {
    expect(groupTemplateProblems("x-${1A}", [])).toEqual(['"${1A}" is not a variable reference; write ${NAME}']);
    expect(groupTemplateProblems("x-${A", ["A"])).toEqual(['"${" is not closed with "}"']);
  });
  it("expands variables, an unset one as empty", () => {
    expect(expandGroup("deploy-${BRANCH}${GANTRY_X}", { BRANCH: "main" })).toBe("deploy-main");
  });
});

describe("concurrencyKey", () => {
  const pipeline = { namespace: "ops", id: "deploy" };
  it("is null without settings, the pipeline's own key without a group, the namespace's group with one", () => {
    expect(concurrencyKey(pipeline, undefined, {})).toBeNull();
    expect(concurrencyKey(pipeline, { limit: 1, queue: "all", cancelInProgress: false }, {})).toBe("ops/deploy");
    const grouped = concurrencyKey(pipeline, { group: "deploy-${BRANCH}", queue: "all", cancelInProgress: false }, { BRANCH: "main" });
    expect(grouped).toBe("ops:deploy-main");
    expect(groupName(grouped)).toBe("deploy-main");
    expect(groupName("ops/deploy")).toBeUndefined();
  });
});
