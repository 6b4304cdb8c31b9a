// The pipeline page's task durations over the last finished runs: a task that got slower has
// its newest time marked (screen readers are told against which median); a table needs two
// finished runs at least.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startRun, startWithPipelines, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const PIPELINE = `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "timed", tasks: {
  work: run(async (ctx) => { await Bun.sleep(Number(ctx.env.SLEEP ?? "0")); }),
  after: run(() => {}, { needs: { work: "success" } }),
} });
`;

let gantry: TestGantry;
let admin: WebClient;

beforeAll(async () => {
  gantry = await startWithPipelines({ "timed.ts": PIPELINE });
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

const finish = async (variables: Record<string, string> = {}) => waitForRun(gantry.api, "default/timed", (await startRun(gantry.api, "default/timed", variables)).id);
const page = async () => (await admin.get("/pipelines/default/timed")).text();
const rowOf = (html: string, task: string) => new RegExp(`<tr[^>]*><th scope="row" class="mono">${task}</th>([\\s\\S]*?)</tr>`).exec(html)?.[0];

describe("task durations on the pipeline page", () => {
  it("need two finished runs", async () => {
    await finish();
    expect(await page()).not.toContain("Task durations");
  });

  it("list each task's time per run, and mark the newest one of a task that got slower", async () => {
    await finish();
    await finish();
    const steady = await page();
    expect(steady).toContain('<h3 id="task-durations">Task durations</h3>');
    expect(steady).toContain("The last 3 finished runs, oldest on the left");
    expect(rowOf(steady, "work")).not.toContain("▲");
    const slow = await finish({ SLEEP: "700" });
    expect(slow.state).toBe("successful");
    const html = await page();
    const work = rowOf(html, "work")!;
    expect(work).toStartWith('<tr class="slower">');
    expect(work).toMatch(/<td class="num slower" title="slower than its median of \d+ms"><span aria-hidden="true">▲ <\/span>[\d.]+s?m?s?<span class="sr-only">, slower than its median of \d+ms<\/span><\/td>/);
    // The task after it did not get slower.
    expect(rowOf(html, "after")).not.toContain("▲");
    expect(html).toContain(`>#${slow.id}</th>`);
  });
});
