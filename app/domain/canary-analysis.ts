// Judging a canary step's HTTP analysis: the probes' requests in, the success rate, the latency
// percentile and whether either breaches its threshold out. Pure: the Swarm provider gathers the
// requests (swarm-probe.ts) and applies the verdict.
import { formatDuration } from "./duration.ts";
import type { HttpAnalysis } from "./deploy-tasks.ts";

/** One request a probe made. */
export interface ProbeRequest {
  /** The HTTP status of the answer; undefined when none came (refused, reset, cut). */
  status?: number;
  /** From sending the request to the end of the answer (or to the cut), ms. */
  latencyMs: number;
  /** Cut at the analysis's timeout. */
  timedOut: boolean;
  /** What went wrong besides the status, in a few words ("was refused", "broke off after answering 200"). */
  error?: string;
}

export interface HttpAnalysisReport {
  requests: number;
  succeeded: number;
  /** The latency at the analysis's percentile, over all requests (a timed-out one counts its time to the cut); undefined without requests. */
  latencyMs?: number;
  /** What went wrong with the failed requests, most frequent first ("3 answered 500, 1 timed out after 2s"). */
  failures: string;
  /** Why the step fails, or undefined when it passes. */
  breach?: string;
}

/** A request succeeds when it was answered in time with a 2xx or 3xx status. */
export const requestSucceeded = (request: ProbeRequest): boolean =>
  !request.timedOut && request.error === undefined && request.status !== undefined && request.status >= 200 && request.status < 400;

/** The nearest-rank percentile (95: the smallest value at least 95% of the values do not exceed). */
export function percentile(values: readonly number[], rank: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((rank / 100) * sorted.length))) - 1];
}

/** The step's requests (all its tasks together) held to the analysis's thresholds. */
export function judgeHttpAnalysis(requests: readonly ProbeRequest[], http: HttpAnalysis): HttpAnalysisReport {
  const succeeded = requests.filter(requestSucceeded).length;
  const latencyMs = percentile(
    requests.map((request) => request.latencyMs),
    http.latencyPercentile,
  );
  const failures = describeFailedRequests(requests, http);
  if (requests.length === 0) return { requests: 0, succeeded: 0, failures, breach: "the HTTP analysis made no requests" };
  const breaches: string[] = [];
  // Compared as whole numbers: 19 of 20 is exactly 95%, never 94.99999%.
  if (succeeded * 100 < http.minSuccessPercent * requests.length) {
    breaches.push(`${percentText(succeeded, requests.length)} of ${requests.length} requests succeeded, below the ${http.minSuccessPercent}% required${failures ? ` (${failures})` : ""}`);
  }
  if (latencyMs !== undefined && latencyMs > http.maxLatencyMs) {
    breaches.push(`the p${http.latencyPercentile} latency of ${requests.length} requests was ${formatDuration(latencyMs)}, above the ${formatDuration(http.maxLatencyMs)} allowed`);
  }
  return { requests: requests.length, succeeded, ...(latencyMs !== undefined && { latencyMs }), failures, ...(breaches.length > 0 && { breach: breaches.join("; ") }) };
}

/** The report as the step's log line: the figures against the thresholds. */
export function describeHttpAnalysisReport(report: HttpAnalysisReport, http: HttpAnalysis): string {
  const succeeded = report.requests === 0 ? "none" : percentText(report.succeeded, report.requests);
  const latency = report.latencyMs === undefined ? "no latency" : `p${http.latencyPercentile} latency ${formatDuration(report.latencyMs)}`;
  const failures = report.failures ? `; failed requests: ${report.failures}` : "";
  return `${report.requests} requests, ${succeeded} succeeded (≥ ${http.minSuccessPercent}% required), ${latency} (≤ ${formatDuration(http.maxLatencyMs)} allowed)${failures}`;
}

/** Rounded down to a tenth, so a share just under the threshold never reads as the threshold. */
function percentText(part: number, whole: number): string {
  return `${Math.floor((1000 * part) / whole) / 10}%`;
}

function describeFailedRequests(requests: readonly ProbeRequest[], http: HttpAnalysis): string {
  const counts = new Map<string, number>();
  for (const request of requests) {
    if (requestSucceeded(request)) continue;
    const what = request.timedOut ? `timed out after ${formatDuration(http.timeoutMs)}` : (request.error ?? (request.status !== undefined ? `answered ${request.status}` : "got no answer"));
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort(([, a], [, b]) => b - a)
    .map(([what, count]) => `${count} ${what}`)
    .join(", ");
}
