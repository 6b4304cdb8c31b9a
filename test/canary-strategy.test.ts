// canary() as a pipeline author writes it: the SDK's checks, the spec's validation of a deploy
// task's canary strategy (its HTTP analysis too), each step's share of replicas and the
// strategy's words in the log.
import { describe, expect, it } from "bun:test";
import { canaryReplicas, describeStrategy } from "../app/domain/deploy-tasks.ts";
import { toPipelineSpec } from "../app/domain/pipeline-spec.ts";
import { canary, deploy, type CanaryAnalysisOptions, type HttpAnalysisOptions } from "../app/sdk/deploy.ts";

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

  it("fills in the HTTP analysis's defaults and turns its durations into milliseconds", () => {
    expect(canary({ steps: [{ replicas: 1, pause: "1s" }], analysis: { http: { port: 8080 } } }).analysis).toEqual({
      http: { port: 8080, path: "/", requests: 20, intervalMs: 0, timeoutMs: 2_000, minSuccessPercent: 95, latencyPercentile: 95, maxLatencyMs: 500 },
    });
    const http = { port: 3000, path: "/health?deep=1", requests: 50, interval: "100ms", timeout: "1s", minSuccessPercent: 99.5, maxLatency: "250ms", latencyPercentile: 99 };
    expect(canary({ steps: [{ replicas: 1, pause: "1s" }], analysis: { http } }).analysis).toEqual({
      http: { port: 3000, path: "/health?deep=1", requests: 50, intervalMs: 100, timeoutMs: 1_000, minSuccessPercent: 99.5, latencyPercentile: 99, maxLatencyMs: 250 },
    });
  });

  it("refuses an HTTP analysis it cannot run, naming the field", () => {
    const analysed = (http: object) => () => canary({ steps: [{ replicas: 1, pause: "1s" }], analysis: { http: http as HttpAnalysisOptions } });
    expect(analysed({})).toThrow("canary: analysis.http.port must be a port number (1-65535), not undefined");
    expect(analysed({ port: 70_000 })).toThrow("canary: analysis.http.port must be a port number (1-65535), not 70000");
    expect(analysed({ port: 80, path: "health" })).toThrow('canary: analysis.http.path must start with / and have no spaces, not "health"');
    expect(analysed({ port: 80, requests: 0 })).toThrow("canary: analysis.http.requests must be a whole number from 1 to 1000, not 0");
    expect(analysed({ port: 80, minSuccessPercent: 0.95 * 200 })).toThrow("canary: analysis.http.minSuccessPercent must be 0 to 100, not 190");
    expect(analysed({ port: 80, latencyPercentile: 0 })).toThrow("canary: analysis.http.latencyPercentile must be 1 to 100, not 0");
    expect(analysed({ port: 80, maxLatency: "fast" })).toThrow('canary: analysis.http.maxLatency must be milliseconds or a duration like "10s", not "fast"');
    expect(analysed({ port: 80, timeout: 0 })).toThrow("canary: analysis.http.timeout must be from 1ms to 1 minute");
    // Bounded: the probe's stream stays quiet for a request plus the gap, which the engine client limits.
    expect(analysed({ port: 80, timeout: "2m" })).toThrow("canary: analysis.http.timeout must be from 1ms to 1 minute");
    expect(analysed({ port: 80, interval: "90s" })).toThrow("canary: analysis.http.interval must be at most 1 minute");
    expect(() => canary({ steps: [{ replicas: 1, pause: "1s" }], analysis: {} as CanaryAnalysisOptions })).toThrow("canary: analysis.http must say what to request");
  });

  it("says its HTTP analysis in the deploy's log", () => {
    const strategy = canary({ steps: [{ replicas: 1, pause: "1m" }, { percent: 100, pause: "1m" }], analysis: { http: { port: 8080, path: "/health", interval: "1s" } } });
    expect(describeStrategy(strategy)).toBe(
      "canary (1 → 100%, then promoted; each step judged by 20 requests every 1s to :8080/health in each canary task, ≥ 95% answering 2xx/3xx within 2s, p95 ≤ 500ms)",
    );
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

  it("accepts an HTTP analysis canary() makes", () => {
    const result = toPipelineSpec(pipeline(canary({ steps: [{ replicas: 1, pause: "1s" }], analysis: { http: { port: 8080, path: "/health", maxLatency: "300ms" } } })));
    expect(result.ok).toBe(true);
  });

  it("tells what is wrong with a hand-written HTTP analysis, naming the field", () => {
    const issues = (http: unknown) => {
      const steps = [{ replicas: 1, pauseMs: 0 }];
      const result = toPipelineSpec(pipeline({ kind: "canary", steps, analysis: { http } }));
      return result.ok ? [] : result.issues.map((issue) => `${issue.path}: ${issue.message}`);
    };
    const good = canary({ steps: [{ replicas: 1, pause: "1s" }], analysis: { http: { port: 8080 } } }).analysis!.http;
    expect(issues(good)).toEqual([]);
    expect(issues({ ...good, port: 0 })).toEqual(["tasks.web.deploy.strategy.analysis.http.port: must be a port number (1-65535)"]);
    expect(issues({ ...good, path: "/a b" })).toEqual(["tasks.web.deploy.strategy.analysis.http.path: must start with / and have no spaces or quotes"]);
    expect(issues({ ...good, requests: 5000 })).toEqual(["tasks.web.deploy.strategy.analysis.http.requests: must be 1 to 1000"]);
    expect(issues({ ...good, minSuccessPercent: 101 })).toEqual(["tasks.web.deploy.strategy.analysis.http.minSuccessPercent: must be 0 to 100"]);
    expect(issues({ ...good, latencyPercentile: 0 })).toEqual(["tasks.web.deploy.strategy.analysis.http.latencyPercentile: must be 1 to 100"]);
    expect(issues({ ...good, maxLatencyMs: 1.5 })).toEqual(["tasks.web.deploy.strategy.analysis.http.maxLatencyMs: must be whole milliseconds"]);
    expect(issues({ ...good, timeoutMs: 0 })).toEqual(["tasks.web.deploy.strategy.analysis.http.timeoutMs: must be at least 1ms"]);
    expect(issues({ ...good, intervalMs: 120_000 })).toEqual(["tasks.web.deploy.strategy.analysis.http.intervalMs: must be at most 1 minute"]);
    expect(issues(undefined)).toEqual(["tasks.web.deploy.strategy.analysis.http: is required"]);
    expect(issues(8080)).toEqual(["tasks.web.deploy.strategy.analysis.http: must say what to request, as canary({ analysis: { http: { port, path } } }) does"]);
  });
});
