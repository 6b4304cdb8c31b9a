// Task logs keep every line a task writes, in order, up to the cap (GANTRY_LOG_MAX_BYTES);
// past it they keep the head and each attempt's tail around one marker line with exact
// counts, and the API and the run page say the log was truncated. run() and container tasks.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { formatBytes } from "../../app/domain/bytes.ts";
import { readLog, startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "../helpers/gantry.ts";
import { webLogin } from "../helpers/web.ts";
import { runCli } from "../helpers/cli.ts";

setDefaultTimeout(120_000);

const IMAGE = "local/busybox:latest";
const HEADER = `import { definePipeline, container, run } from "gantry";\n`;
const LINES = 50_000;
const PAD = "x".repeat(40);

/** A stored line: "<24-character ISO time> [err] <text>" ("[err] " only on stderr). */
const STORED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?:\[(err|gantry)\] )?(.*)$/;
const parse = (log: string) =>
  log
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const match = STORED.exec(line);
      if (!match) throw new Error(`not a stored line: ${line.slice(0, 80)}`);
      return { stream: match[1] ?? "out", text: match[2]!, bytes: Buffer.byteLength(line) + 1 };
    });

/** The numbers of the lines "<prefix> <n> ..." of one stream, in log order. */
const numbers = (log: string, stream: string, prefix: string) =>
  parse(log)
    .filter((line) => line.stream === stream && line.text.startsWith(`${prefix} `))
    .map((line) => Number(line.text.split(" ")[1]));

const inOrder = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe("complete logs under the cap", () => {
  let gantry: TestGantry;
  beforeAll(async () => {
    const write = (stream: string) => `run(() => { for (let i = 1; i <= ${LINES}; i++) ${stream}(\`n \${i} ${PAD}\\n\`); })`;
    gantry = await startWithPipelines({
      "flood.ts": `${HEADER}export default definePipeline({
  id: "flood",
  parallelism: 3,
  tasks: {
    // ctx.log and process.stdout.write queue when the pipe is full: nothing may be lost at exit.
    a: run((ctx) => { for (let i = 1; i <= ${LINES}; i++) ctx.log(\`n \${i} ${PAD}\`); }),
    b: ${write("process.stdout.write")},
    c: ${write("process.stderr.write")},
  },
});`,
      "flood-container.ts": `${HEADER}export default definePipeline({
  id: "flood-container",
  tasks: {
    seq: container({ image: "${IMAGE}", network: "none", command: ["sh", "-c", "busybox seq 1 ${LINES} | busybox sed 's/^/n /'; busybox seq 1 ${LINES} | busybox sed 's/^/e /' >&2"] }),
  },
});`,
    });
  });
  afterAll(() => gantry?.stop());

  it("stores every line of three run() tasks writing 50,000 lines each at once, in order", async () => {
    // Several runs: the loss came and went with how fast the server drained the pipes.
    const runs = await Promise.all([0, 1].map(async () => waitForRun(gantry.api, "default/flood", (await startRun(gantry.api, "default/flood")).id, 90_000)));
    for (const run of runs) {
      expect(run.state).toBe("successful");
      for (const task of run.tasks) expect(task).not.toHaveProperty("log");
      const expected = inOrder(1, LINES);
      expect(numbers(await readLog(gantry.api, "default/flood", run.id, "a"), "out", "n")).toEqual(expected);
      expect(numbers(await readLog(gantry.api, "default/flood", run.id, "b"), "out", "n")).toEqual(expected);
      expect(numbers(await readLog(gantry.api, "default/flood", run.id, "c"), "err", "n")).toEqual(expected);
    }
  });

  it("stores every line of a container task's two streams, in order", async () => {
    const run = await waitForRun(gantry.api, "default/flood-container", (await startRun(gantry.api, "default/flood-container")).id, 90_000);
    expect(run.state).toBe("successful");
    const log = await readLog(gantry.api, "default/flood-container", run.id, "seq");
    expect(numbers(log, "out", "n")).toEqual(inOrder(1, LINES));
    expect(numbers(log, "err", "e")).toEqual(inOrder(1, LINES));
  });
});

describe("a log past its cap", () => {
  const CAP = 200_000;
  const FLOOD = 20_000;
  let gantry: TestGantry;
  beforeAll(async () => {
    gantry = await startWithPipelines(
      {
        "capped.ts": `${HEADER}export default definePipeline({
  id: "capped",
  tasks: {
    flood: run((ctx) => { for (let i = 1; i <= ${FLOOD}; i++) ctx.log(\`n \${i} ${PAD}\`); ctx.log("the error is at the end"); }),
    twice: run(async (ctx) => {
      for (let i = 1; i <= ${FLOOD}; i++) ctx.log(\`a\${ctx.attempt} \${i} ${PAD}\`);
      // The stack goes to stderr: after stdout is read, so the count of dropped lines is known.
      await Bun.sleep(500);
      if (ctx.attempt === 1) throw new Error("first attempt fails");
    }, { retries: 1, retryDelay: "10ms" }),
    box: container({ image: "${IMAGE}", network: "none", command: ["sh", "-c", "busybox seq 1 ${FLOOD} | busybox sed 's/^/n /'; echo the error is at the end"] }),
  },
});`,
      },
      { env: { GANTRY_LOG_MAX_BYTES: String(CAP) } },
    );
  });
  afterAll(() => gantry?.stop());

  /**
   * Checks a capped log (or one attempt's part): its head and tail are unbroken runs of the
   * lines "<prefix> <n>", one marker between them gives the exact count and size of the
   * lines in the gap, and the whole stays under the cap. Returns what was dropped.
   */
  function checkCut(log: string, prefix: string, last: number, pad = PAD) {
    const lines = parse(log);
    const markers = lines.filter((line) => line.stream === "gantry" && line.text.includes("dropped here"));
    expect(markers).toHaveLength(1);
    const at = lines.indexOf(markers[0]!);
    const head = lines.slice(0, at).filter((line) => line.stream === "out" && line.text.startsWith(`${prefix} `));
    const tail = lines.slice(at + 1).filter((line) => line.stream === "out" && line.text.startsWith(`${prefix} `));
    const first = head.length > 0 ? Number(head.at(-1)!.text.split(" ")[1]) : 0;
    const resumed = Number(tail[0]!.text.split(" ")[1]);
    expect(head.map((line) => Number(line.text.split(" ")[1]))).toEqual(inOrder(1, first));
    expect(tail.map((line) => Number(line.text.split(" ")[1]))).toEqual(inOrder(resumed, last));
    // Each dropped line would have been stored as "<time> <prefix> <n> <pad>\n".
    const droppedLines = resumed - first - 1;
    let droppedBytes = 0;
    for (let n = first + 1; n < resumed; n++) droppedBytes += 25 + `${prefix} ${n}${pad ? ` ${pad}` : ""}`.length + 1;
    expect(markers[0]!.text).toStartWith(`${droppedLines.toLocaleString("en-US")} lines (${formatBytes(droppedBytes)}) dropped here: the log is capped at ${formatBytes(CAP)}`);
    return { droppedLines, droppedBytes };
  }

  it("keeps the head and the tail of a run() task's flood, with one marker of exact counts, and says so", async () => {
    const run = await waitForRun(gantry.api, "default/capped", (await startRun(gantry.api, "default/capped")).id, 90_000);
    const task = (id: string) => run.tasks.find((each) => each.id === id)! as RunJson["tasks"][number] & { log?: unknown; attempts: { log?: unknown }[] };

    const log = await readLog(gantry.api, "default/capped", run.id, "flood");
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(CAP);
    expect(log.trimEnd().split("\n").at(-1)).toEndWith("the error is at the end");
    const dropped = checkCut(log, "n", FLOOD);
    expect(dropped.droppedLines).toBeGreaterThan(FLOOD / 2);
    expect(task("flood").state).toBe("successful");
    expect(task("flood").log).toEqual({ truncated: true, ...dropped, maxBytes: CAP });
    expect(task("flood").attempts[0]!.log).toEqual({ truncated: true, ...dropped, maxBytes: CAP });

    // The run page says it too, above the pane (which shows only the last lines).
    const web = await webLogin(gantry.url, gantry.token);
    const page = await (await web.get(`/pipelines/default/capped/runs/${run.id}`)).text();
    expect(page).toContain(`Log truncated: ${dropped.droppedLines.toLocaleString("en-US")} lines (${formatBytes(dropped.droppedBytes)}) were dropped`);

    // And the CLI's run view.
    const { exitCode: code, stdout, stderr } = await runCli(["run", "get", "default/capped", String(run.id)], { server: gantry, env: { NO_COLOR: "1" } });
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toContain(`log truncated: ${dropped.droppedLines.toLocaleString("en-US")} lines (${formatBytes(dropped.droppedBytes)}) dropped`);
  });

  it("keeps each attempt's own tail behind its own marker, and ?attempt=N reads that part", async () => {
    const run = await waitForRun(gantry.api, "default/capped", (await startRun(gantry.api, "default/capped")).id, 90_000);
    const twice = run.tasks.find((each) => each.id === "twice")! as RunJson["tasks"][number] & { log?: unknown };
    expect(twice.state).toBe("successful");
    expect(twice.attempts).toHaveLength(2);
    const parts = [];
    for (const attempt of [1, 2]) {
      const response = await gantry.api(`/pipelines/default/capped/runs/${run.id}/tasks/twice/logs?attempt=${attempt}`);
      const part = await response.text();
      const dropped = checkCut(part, `a${attempt}`, FLOOD);
      expect((twice.attempts[attempt - 1] as { log?: unknown }).log).toEqual({ truncated: true, ...dropped, maxBytes: CAP });
      parts.push(dropped);
    }
    // The first attempt's failure follows its tail; the whole log is both parts.
    const whole = await readLog(gantry.api, "default/capped", run.id, "twice");
    expect(whole).toContain("first attempt fails");
    expect(twice.log).toEqual({
      truncated: true,
      droppedLines: parts[0]!.droppedLines + parts[1]!.droppedLines,
      droppedBytes: parts[0]!.droppedBytes + parts[1]!.droppedBytes,
      maxBytes: CAP,
    });
  });

  it("keeps the head and the tail of a container task's flood", async () => {
    const run = await waitForRun(gantry.api, "default/capped", (await startRun(gantry.api, "default/capped")).id, 90_000);
    const box = run.tasks.find((each) => each.id === "box")! as RunJson["tasks"][number] & { log?: unknown };
    expect(box.state).toBe("successful");
    const log = await readLog(gantry.api, "default/capped", run.id, "box");
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(CAP);
    // (On stdout: Docker keeps the order within a stream, not across the two.)
    expect(log.trimEnd().split("\n").at(-1)).toEndWith(" the error is at the end");
    const dropped = checkCut(log, "n", FLOOD, "");
    expect(box.log).toEqual({ truncated: true, ...dropped, maxBytes: CAP });
  });
});
