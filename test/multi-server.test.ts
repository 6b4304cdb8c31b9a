// Several `gantry serve` processes on one database and one data dir (each its own
// GANTRY_NODE_ID): a run driven by one shows live on the other's pages with its logs; killed
// with kill -9, the other takes the run over once the lease lapses and ends it, no task run
// beyond its retries; a schedule starts one run per tick whatever the number of servers, and
// goes on when one of them dies; a second server under a live server's node id is refused.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readLog, readSse, startGantryProcess, startRun, waitFor, waitForLog, waitForRun, type GantryProcess, type RunJson, type SseMessage } from "./helpers/gantry.ts";
import { REPO_ROOT, sharedDir, tempDir, writeFile } from "./helpers/temp.ts";
import { webLogin } from "./helpers/web.ts";

setDefaultTimeout(60_000);

const servers: GantryProcess[] = [];
afterAll(async () => {
  for (const server of servers) if (server.proc.exitCode === null && server.proc.signalCode === null) await server.kill9();
});

const flags = sharedDir("gantry-multi-");
const flag = (name: string) => join(flags, name);
/** The attempts tasks started, one file each ("mark-<task>-<attempt>-<random>"): written by the sandbox user, listed by the test. */
const marks = () =>
  readdirSync(flags)
    .filter((name) => name.startsWith("mark-"))
    .map((name) => name.split("-").slice(1, 3).join(":"))
    .sort();

const HEADER = `import { cron, definePipeline, interval, run } from "gantry";\n`;
/** A task that marks each attempt it starts, logs where it runs, then waits for `gate`. */
const step = (name: string, gate?: string, options = "") =>
  `run(async (ctx) => {
    await Bun.write(${JSON.stringify(flags)} + "/mark-${name}-" + ctx.attempt + "-" + crypto.randomUUID(), "");
    ctx.log("${name} attempt " + ctx.attempt + " on " + ctx.env.GANTRY_API_URL);
    ${gate ? `while (!(await Bun.file(${JSON.stringify(flag(gate))}).exists())) await Bun.sleep(50);` : ""}
  }${options ? `, ${options}` : ""})`;

const STEPS = `${HEADER}export default definePipeline({ id: "ms-steps", tasks: {
  one: ${step("one", "one-go")},
  two: ${step("two", "two-go", `{ needs: { one: "success" }, retries: 1 }`)},
  three: ${step("three", undefined, `{ needs: { two: "success" } }`)},
} });\n`;
const schedule = (id: string, trigger: string) => `${HEADER}export default definePipeline({ id: "${id}", triggers: [${trigger}], tasks: { tick: run(async (ctx) => ctx.log("tick")) } });\n`;

type Api = GantryProcess["api"];
const runsOf = async (api: Api, pipeline: string): Promise<RunJson[]> =>
  ((await (await api(`/pipelines/default/${pipeline}/runs?limit=100`)).json()) as { runs: RunJson[] }).runs.sort((a, b) => a.id - b.id);

/** Reads a stream until a message matches, or fails after `timeoutMs`. */
async function readUntil(stream: AsyncGenerator<SseMessage>, match: (message: SseMessage) => boolean, timeoutMs: number): Promise<SseMessage[]> {
  const seen: SseMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const next = await Promise.race([stream.next(), Bun.sleep(deadline - Date.now()).then(() => "timeout" as const)]);
    if (next === "timeout" || next.done) break;
    seen.push(next.value);
    if (match(next.value)) return seen;
  }
  throw new Error(`no matching message in ${timeoutMs} ms; read: ${JSON.stringify(seen.map((message) => `${message.event}: ${message.data.slice(0, 300)}`))}`);
}

/** A task's state in a render of the run page's live region. */
const stateOf = (html: string, task: string) => new RegExp(`id="status-${task}"[^>]*><span class="badge state-(\\w+)"`).exec(html)?.[1];

describe("servers sharing a database and a data dir", () => {
  it("show each other's runs live, take over a killed server's run, and start one run per scheduled tick", async () => {
    const dataDir = tempDir("gantry-data-");
    const pipelinesDir = tempDir("gantry-pipelines-");
    writeFile(join(pipelinesDir, "ms-steps.ts"), STEPS);
    writeFile(join(pipelinesDir, "ms-cron.ts"), schedule("ms-cron", `cron("*/2 * * * * *")`));
    writeFile(join(pipelinesDir, "ms-interval.ts"), schedule("ms-interval", `interval("2s")`));
    const env = (node: string) => ({ GANTRY_NODE_ID: node, GANTRY_LEASE_TIMEOUT: "3s", GANTRY_KILL_GRACE: "1s", GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions") });
    const start = async (node: string) => {
      const server = await startGantryProcess({ dataDir, pipelinesDir, env: env(node) });
      servers.push(server);
      return server;
    };
    const a = await start("server-a");
    const b = await start("server-b");
    // From here both servers' extensions fire every tick of the schedules.
    const bothUpFrom = Date.now();
    expect(b.token).toBe(a.token);

    // A third server under a live server's node id would drive its runs twice: refused.
    const refused = await startGantryProcess({ dataDir, pipelinesDir, env: env("server-a") }).then(
      (server) => (servers.push(server), "started"),
      (error: Error) => error.message,
    );
    expect(refused).toContain("exited early (2)");
    expect(refused).toContain("node id server-a is in use by a running server");

    // A run driven by A, started through A's API.
    const started = await startRun(a.api, "default/ms-steps");
    expect(started.node).toBe("server-a");
    const key = `/pipelines/default/ms-steps/runs/${started.id}`;
    // B's API reads A's log lines (one data dir).
    await waitForLog(b.api, "default/ms-steps", started.id, "one", new RegExp(`one attempt 1 on ${a.url}`));

    // B's live page of the run: A's changes reach it through the database within a moment.
    const web = await webLogin(b.url, b.token);
    const response = await fetch(`${b.url}${key}/live`, { headers: { cookie: `gantry_session=${web.cookie}`, accept: "text/event-stream" } });
    expect(response.status).toBe(200);
    const live = readSse(response);
    const first = await readUntil(live, (message) => stateOf(message.data, "one") !== undefined, 5_000);
    expect(stateOf(first.at(-1)!.data, "one")).toBe("running");
    const released = Date.now();
    writeFile(flag("one-go"), "go");
    await readUntil(live, (message) => stateOf(message.data, "one") === "successful" && stateOf(message.data, "two") === "running", 5_000);
    expect(Date.now() - released).toBeLessThan(3_000);
    await waitForLog(b.api, "default/ms-steps", started.id, "two", new RegExp(`two attempt 1 on ${a.url}`));

    // Both servers up for three ticks of each schedule at least.
    await Bun.sleep(Math.max(0, bothUpFrom + 6_200 - Date.now()));
    const within = (runs: RunJson[]) => runs.filter((run) => Date.parse(run.createdAt) > bothUpFrom + 500);
    const bothUp = { cron: within(await runsOf(b.api, "ms-cron")), interval: within(await runsOf(b.api, "ms-interval")) };

    // kill -9 A mid-task: B takes the run over once A's lease lapses, and ends it.
    const killedAt = Date.now();
    await a.kill9();
    writeFile(flag("two-go"), "go");
    const ended = await waitForRun(b.api, "default/ms-steps", started.id, 20_000);
    expect(ended.state).toBe("successful");
    expect(ended.node).toBe("server-b");
    const two = ended.tasks.find((task) => task.id === "two")!;
    expect(two.attempts.map(({ attempt, state, node }) => ({ attempt, state, node }))).toEqual([
      { attempt: 1, state: "failed", node: "server-a" },
      { attempt: 2, state: "successful", node: "server-b" },
    ]);
    // Each task ran once, but the one cut off by the kill, which ran within its retries.
    expect(marks()).toEqual(["one:1", "three:1", "two:1", "two:2"]);
    // B serves the whole log, the lines A wrote first.
    expect(await readLog(b.api, "default/ms-steps", started.id, "one")).toContain(`one attempt 1 on ${a.url}`);
    const twoLog = await readLog(b.api, "default/ms-steps", started.id, "two");
    expect(twoLog.indexOf(`two attempt 1 on ${a.url}`)).toBeGreaterThanOrEqual(0);
    expect(twoLog.indexOf(`two attempt 2 on ${b.url}`)).toBeGreaterThan(twoLog.indexOf(`two attempt 1 on ${a.url}`));
    expect(await readLog(b.api, "default/ms-steps", started.id, "three")).toContain(`three attempt 1 on ${b.url}`);
    // B's live page followed the run to its end, across the takeover.
    const tail = await readUntil(live, (message) => message.event === "end", 5_000);
    expect(tail.at(-1)).toMatchObject({ event: "end", data: "successful" });

    // The schedules: one run per tick while both servers were up (no two in one tick), and
    // they go on with A gone (B's extensions had the subscriptions too).
    const seconds = (runs: RunJson[]) => runs.map((run) => Math.floor(Date.parse(run.createdAt) / 1000));
    expect(bothUp.cron.length).toBeGreaterThanOrEqual(2);
    expect(new Set(seconds(bothUp.cron)).size).toBe(bothUp.cron.length);
    expect(seconds(bothUp.cron).every((second) => second % 2 === 0)).toBe(true);
    expect(bothUp.interval.length).toBeGreaterThanOrEqual(2);
    const gaps = bothUp.interval.slice(1).map((run, index) => Date.parse(run.createdAt) - Date.parse(bothUp.interval[index]!.createdAt));
    for (const gap of gaps) expect(gap).toBeGreaterThan(1_500);
    const afterKill = (runs: RunJson[]) => runs.filter((run) => Date.parse(run.createdAt) > killedAt + 500);
    await waitFor(async () => afterKill(await runsOf(b.api, "ms-cron")).length > 0 && afterKill(await runsOf(b.api, "ms-interval")).length > 0, 6_000, "scheduled runs after the kill");
    for (const pipeline of ["ms-cron", "ms-interval"]) {
      const runs = afterKill(await runsOf(b.api, pipeline));
      expect(runs.every((run) => run.node === "server-b")).toBe(true);
    }
    rmSync(join(pipelinesDir, "ms-cron.ts"));
    rmSync(join(pipelinesDir, "ms-interval.ts"));
    await b.stop();
  });
});
