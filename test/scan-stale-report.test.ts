// A scan's report is this attempt's: one left by an earlier attempt (or copied into a
// re-run's workspace) is removed before the attempt starts, so a scanner that wrote nothing
// fails for the missing report instead of passing on old findings.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readLog, startRun, startWithPipelines, waitForRun, type TestGantry } from "./helpers/gantry.ts";

setDefaultTimeout(60_000);

const REPORT = JSON.stringify({ version: "2.1.0", runs: [{ tool: { driver: { name: "old" } }, results: [] }] });

let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startWithPipelines({
    "stale.ts": `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "stale",
  tasks: {
    scan: run(async (ctx) => {
      // The first attempt writes a clean report and then fails; the retry writes none.
      if (ctx.attempt === 1) {
        await Bun.write(ctx.workspace + "/report.sarif", ${JSON.stringify(REPORT)});
        throw new Error("scanner crashed");
      }
    }, { retries: 1, retryDelay: 0, sarif: { path: "report.sarif" } }),
  },
});
`,
  });
});

afterAll(() => gantry?.stop());

describe("a scan's report", () => {
  it("is never an earlier attempt's", async () => {
    const run = await waitForRun(gantry.api, "default/stale", (await startRun(gantry.api, "default/stale")).id);
    const scan = run.tasks.find((task) => task.id === "scan")!;
    expect(scan.state).toBe("failed");
    expect(scan.reason).toContain("report.sarif");
    expect(await readLog(gantry.api, "default/stale", run.id, "scan")).not.toContain("scan: no findings");
  });
});
