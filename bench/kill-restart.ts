// Kill -9 benchmark (issue 10): kills a real `gantry serve` with SIGKILL at random moments
// during a stream of runs, webhook deliveries and cancels, restarts it on the same data, and
// checks that nothing acknowledged was lost, every run ended, nothing was left behind and no
// task ran beyond its retries. Goal: 200 kills, 0 violations. Exits 1 on any violation.
// Usage: bun bench/kill-restart.ts [--kills N] [--quick] [--keep]
import { formatReport, runKillHarness } from "./kill-harness/index.ts";

const args = process.argv.slice(2);
const killsAt = args.indexOf("--kills");
const kills = killsAt >= 0 ? Number(args[killsAt + 1]) : args.includes("--quick") ? 20 : 200;
if (!Number.isInteger(kills) || kills < 1) {
  console.error("usage: bun bench/kill-restart.ts [--kills N] [--quick] [--keep]");
  process.exit(2);
}

console.log(`kill -9 harness: ${kills} kills of a real gantry serve (progress every 10)`);
const report = await runKillHarness({
  kills,
  keep: args.includes("--keep"),
  progress: (line) => console.log(`  ${line}`),
});
console.log(`\n${formatReport(report)}`);
if (args.includes("--keep")) console.log(`\ndata, markers and server output kept in ${report.root}`);
const lost = report.violations.length;
console.log(`\ngoal: ${kills} kills survived, 0 lost — ${report.survived === report.kills && lost === 0 ? "OK" : "MISSED"}`);
process.exit(lost === 0 && report.survived === report.kills ? 0 : 1);
