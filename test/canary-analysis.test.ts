// The canary's HTTP analysis without Docker: the probe script's lines read into requests (curl's
// and wget's forms), and a step's requests judged against the thresholds, in the words the
// deploy's log and reason use.
import { describe, expect, it } from "bun:test";
import { describeHttpAnalysisReport, judgeHttpAnalysis, percentile, type ProbeRequest } from "../app/domain/canary-analysis.ts";
import { HTTP_ANALYSIS_DEFAULTS, type HttpAnalysis } from "../app/domain/deploy-tasks.ts";
import { parseRequest } from "../app/engine/deploy/swarm-probe.ts";

const http: HttpAnalysis = { port: 8080, ...HTTP_ANALYSIS_DEFAULTS };
const answered = (count: number, status: number, latencyMs = 5): ProbeRequest[] => Array.from({ length: count }, () => ({ status, latencyMs, timedOut: false }));

describe("judging a canary step's HTTP analysis", () => {
  it("passes a step whose requests meet both thresholds", () => {
    const report = judgeHttpAnalysis(answered(20, 200), http);
    expect(report).toEqual({ requests: 20, succeeded: 20, latencyMs: 5, failures: "" });
    expect(describeHttpAnalysisReport(report, http)).toBe("20 requests, 100% succeeded (≥ 95% required), p95 latency 5ms (≤ 500ms allowed)");
  });

  it("counts 2xx and 3xx answered in time as successes, and exactly the threshold as enough", () => {
    expect(judgeHttpAnalysis([...answered(18, 204), ...answered(1, 302), ...answered(1, 404)], http).breach).toBeUndefined();
  });

  it("fails a step below the success rate, saying how the failed requests failed", () => {
    const requests = [...answered(14, 200), ...answered(4, 503), { latencyMs: 2_000, timedOut: true }, { latencyMs: 1, timedOut: false, error: "were refused" }];
    const report = judgeHttpAnalysis(requests, { ...http, maxLatencyMs: 5_000 });
    expect(report.breach).toBe("70% of 20 requests succeeded, below the 95% required (4 answered 503, 1 timed out after 2s, 1 were refused)");
    expect(describeHttpAnalysisReport(report, { ...http, maxLatencyMs: 5_000 })).toBe(
      "20 requests, 70% succeeded (≥ 95% required), p95 latency 5ms (≤ 5s allowed); failed requests: 4 answered 503, 1 timed out after 2s, 1 were refused",
    );
  });

  it("fails a step whose latency percentile is above the limit", () => {
    const requests = [...answered(18, 200, 20), ...answered(2, 200, 900)];
    expect(judgeHttpAnalysis(requests, http).breach).toBe("the p95 latency of 20 requests was 900ms, above the 500ms allowed");
    // The p90 of the same requests is the 18th: 20 ms.
    expect(judgeHttpAnalysis(requests, { ...http, latencyPercentile: 90 }).breach).toBeUndefined();
  });

  it("names both breaches when both thresholds are missed, and fails a step without requests", () => {
    expect(judgeHttpAnalysis(answered(3, 500, 310), { ...http, maxLatencyMs: 200 }).breach).toBe(
      "0% of 3 requests succeeded, below the 95% required (3 answered 500); the p95 latency of 3 requests was 310ms, above the 200ms allowed",
    );
    expect(judgeHttpAnalysis([], http).breach).toBe("the HTTP analysis made no requests");
  });

  it("rounds a share down, so one just under the threshold never reads as it", () => {
    const requests = [...answered(999, 200), ...answered(1001 - 999, 500)];
    expect(judgeHttpAnalysis(requests, { ...http, minSuccessPercent: 99.9 }).breach).toStartWith("99.8% of 1001 requests succeeded, below the 99.9% required");
  });

  it("takes the nearest-rank percentile", () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 95)).toBe(5);
    expect(percentile([5, 1, 4, 2, 3], 1)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 95)).toBeUndefined();
  });
});

describe("the probe's lines", () => {
  it("reads curl's status and own timing", () => {
    expect(parseRequest("gantry-probe curl 0 200 0.012345", http)).toEqual({ status: 200, latencyMs: 12, timedOut: false });
    expect(parseRequest("gantry-probe curl 0 503 0.002", http)).toEqual({ status: 503, latencyMs: 2, timedOut: false });
    expect(parseRequest("gantry-probe curl 28 000 2.001", http)).toEqual({ latencyMs: 2_001, timedOut: true });
    expect(parseRequest("gantry-probe curl 7 000 0.000120", http)).toEqual({ latencyMs: 0, timedOut: false, error: "were refused" });
  });

  it("reads busybox wget's status lines timed by /proc/uptime", () => {
    expect(parseRequest("gantry-probe wget 0 32070.67 32070.68 HTTP/1.1 200 OK Content-Type: text/plain", http)).toEqual({ status: 200, latencyMs: 10, timedOut: false });
    expect(parseRequest("gantry-probe wget 1 100.00 100.31 HTTP/1.1 500 Broken wget: server returned error: HTTP/1.1 500 Broken", http)).toEqual({ status: 500, latencyMs: 310, timedOut: false });
    expect(parseRequest("gantry-probe wget 143 100.00 101.00 Terminated", { timeoutMs: 500 })).toEqual({ latencyMs: 1_000, timedOut: true });
    expect(parseRequest("gantry-probe wget 1 5.00 5.00 wget: can't connect to remote host (127.0.0.1): Connection refused", http)).toEqual({ latencyMs: 0, timedOut: false, error: "were refused" });
  });

  it("reads GNU wget timed by date +%s%N, taking the last status after a redirect", () => {
    const start = "1796595509000000000";
    expect(parseRequest(`gantry-probe wget 0 ${start} 1796595509004500000 HTTP/1.1 301 Moved Permanently Location: /new HTTP/1.1 200 OK`, http)).toEqual({ status: 200, latencyMs: 4, timedOut: false });
    expect(parseRequest(`gantry-probe wget 4 ${start} 1796595509050000000 HTTP/1.1 200 OK`, http)).toEqual({ status: 200, latencyMs: 50, timedOut: false, error: "broke off after answering 200" });
  });

  it("ignores the script's other lines", () => {
    expect(parseRequest("gantry-probe using wget uptime timeout", http)).toBeUndefined();
    expect(parseRequest("gantry-probe done", http)).toBeUndefined();
    expect(parseRequest("something the image printed", http)).toBeUndefined();
  });
});
