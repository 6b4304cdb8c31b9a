// The kill -9 harness, short: a real `gantry serve` killed with SIGKILL at random moments
// while runs, webhook deliveries and cancels stream in, restarted on the same data each
// time. Nothing acknowledged may be lost, every run must end, no container or task process
// may be left and no task may run beyond its retries. bench/kill-restart.ts runs it long.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { formatReport, runKillHarness } from "../bench/kill-harness/index.ts";

// Five kills, restarts and a final drain of real runs with containers: about 40 s.
setDefaultTimeout(180_000);

describe("a server killed with kill -9 again and again", () => {
  it("loses no acknowledged run or delivery, ends every run, leaves nothing behind and runs no task beyond its retries", async () => {
    // The harness removes its server, task processes, containers and temp folder itself, also when it fails.
    const report = await runKillHarness({ kills: 5, upMs: [400, 1_500], startupKillShare: 0.2, maxOutstanding: 6, drainTimeoutMs: 40_000 });
    const summary = formatReport(report);
    expect(report.violations, summary).toEqual([]);
    expect(report.kills).toBe(5);
    expect(report.survived, summary).toBe(5);
    // The checks looked at real work, not at nothing.
    expect(report.runsAcknowledged, summary).toBeGreaterThan(5);
    expect(report.deliveriesChecked, summary).toBeGreaterThan(0);
    expect(report.executionsChecked, summary).toBeGreaterThan(report.runsChecked);
    expect(report.markers, summary).toBeGreaterThan(0);
  });
});
