import { describe, expect, it } from "bun:test";
import { toPipelineSpec } from "./pipeline-spec.ts";
import { fixedRetryDelay, growingRetryDelay, retryAt, retryCountdown, retryDelayMs, retryNote } from "./retry-delay.ts";
import { taskPhase, timingOutReason } from "./states.ts";

const delays = (delay: Parameters<typeof retryDelayMs>[0], attempts: number) => Array.from({ length: attempts }, (_, i) => retryDelayMs(delay, i + 1));

describe("retryDelayMs", () => {
  it("doubles from 1 s and stops at 1 min by default", () => {
    expect(delays(undefined, 9)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it("keeps a fixed delay the same, and 0 retries at once", () => {
    expect(delays(fixedRetryDelay(5_000), 4)).toEqual([5_000, 5_000, 5_000, 5_000]);
    expect(delays(fixedRetryDelay(0), 3)).toEqual([0, 0, 0]);
    expect(retryAt(fixedRetryDelay(0), 1, new Date(0))).toBeNull();
  });

  it("grows by the factor up to the cap it was given", () => {
    expect(delays(growingRetryDelay(500, 3, 10_000), 5)).toEqual([500, 1_500, 4_500, 10_000, 10_000]);
    // Without a cap: 1 min, or the first wait when that is longer.
    expect(growingRetryDelay(2_000).maxMs).toBe(60_000);
    expect(delays(growingRetryDelay(300_000), 3)).toEqual([300_000, 300_000, 300_000]);
  });

  it("stays finite however many attempts failed", () => {
    expect(retryDelayMs(growingRetryDelay(86_400_000, 10, 86_400_000), 20)).toBe(86_400_000);
  });

  it("dates the next attempt from the failed one's end", () => {
    expect(retryAt(undefined, 2, new Date(10_000))).toEqual(new Date(12_000));
  });
});

describe("retryNote", () => {
  it("says when the next attempt starts, in whole seconds rounded up", () => {
    const at = new Date(2026, 11, 6, 14, 3, 5);
    expect(retryNote(at, new Date(at.getTime() - 3_200))).toBe("retrying at 14:03:05 (in 4s)");
    expect(retryCountdown(at, new Date(at.getTime() - 90_000))).toBe("in 1m30s");
    expect(retryCountdown(at, at)).toBe("now");
  });
});

describe("retryDelay in a pipeline file", () => {
  const parse = (retryDelay: unknown) => toPipelineSpec({ id: "p", tasks: { a: { kind: "run", fn: () => {}, retries: 2, retryDelay } } });

  it("takes a duration or { initial, factor?, max? }", () => {
    const spec = (retryDelay: unknown) => {
      const result = parse(retryDelay);
      if (!result.ok) throw new Error(JSON.stringify(result.issues));
      return result.spec.tasks[0]!.retryDelay;
    };
    expect(spec(undefined)).toBeUndefined();
    expect(spec("5s")).toEqual(fixedRetryDelay(5_000));
    expect(spec(0)).toEqual(fixedRetryDelay(0));
    expect(spec({ initial: "2s", factor: 3, max: "10m" })).toEqual({ initialMs: 2_000, factor: 3, maxMs: 600_000 });
  });

  it("names the problem of the form written", () => {
    const issues = (retryDelay: unknown) => {
      const result = parse(retryDelay);
      return result.ok ? [] : result.issues;
    };
    expect(issues("soon")[0]).toMatchObject({ path: "tasks.a.retryDelay", message: expect.stringContaining("must be milliseconds") });
    expect(issues("2d")[0]?.message).toBe("must be at most 1d");
    expect(issues({ initial: "2s", max: "1s" })[0]?.message).toBe("max must not be less than initial");
    expect(issues({ initial: "1s", factor: 0.5 })[0]).toMatchObject({ path: "tasks.a.retryDelay.factor", message: "must be at least 1" });
    expect(issues({ initial: "1s", maximum: "1m" })[0]).toMatchObject({ path: "tasks.a.retryDelay.maximum" });
  });
});

describe("taskPhase", () => {
  it("tells a task waiting to retry and one being stopped at its timeout from a running one", () => {
    expect(taskPhase({ state: "running", reason: null, retryAt: null })).toBeUndefined();
    expect(taskPhase({ state: "running", reason: null, retryAt: new Date() })).toBe("retrying");
    expect(taskPhase({ state: "running", reason: timingOutReason(5_000), retryAt: null })).toBe("timing out");
    expect(timingOutReason(5_000)).toBe("timed out after 5s, stopping");
    // An ended task is only its state, whatever is left stored.
    expect(taskPhase({ state: "failed", reason: timingOutReason(5_000), retryAt: "2026-12-06T14:03:05.000Z" })).toBeUndefined();
  });
});
