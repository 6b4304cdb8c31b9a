// Several `gantry serve` processes on one database and one data dir (each its own
// GANTRY_NODE_ID): an extension idle on both starts on both at a subscription made through
// one; a run driven by one shows live on the other's pages with its logs; killed
// with kill -9, the other takes the run over once the lease lapses and ends it, no task run
// beyond its retries; a schedule starts one run per tick whatever the number of servers, goes
// on when one of them dies, and goes when its file goes back to an old version; a second
// server under a live server's node id is refused, also when both start at the same moment,
// and a server whose id another process took over stops.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readLog, readSse, startGantryProcess, startRun, waitFor, waitForLog, waitForRun, type GantryProcess, type RunJson, type SseMessage } from "./helpers/gantry.ts";
import { REPO_ROOT, sharedDir, tempDir, writeFile } from "./helpers/temp.ts";
import { webLogin } from "./helpers/web.ts";
import { openDatabase } from "../app/db/client.ts";

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
interface EventJson {
  id: number;
  kind: string;
  pipeline: string | null;
  data: Record<string, unknown>;
}
/** The event log from `after` on, every page of it. */
async function eventsOf(api: Api, after = 0): Promise<EventJson[]> {
  const all: EventJson[] = [];
  for (;;) {
    const { events } = (await (await api(`/events?after=${all.at(-1)?.id ?? after}&limit=1000`)).json()) as { events: EventJson[] };
    all.push(...events);
    if (events.length < 1000) return all;
  }
}
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
  const dataDir = tempDir("gantry-data-");
  const pipelinesDir = tempDir("gantry-pipelines-");
  const env = (node: string) => ({ GANTRY_NODE_ID: node, GANTRY_LEASE_TIMEOUT: "3s", GANTRY_KILL_GRACE: "1s", GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions") });

  it("show each other's runs live, take over a killed server's run, and start one run per scheduled tick", async () => {
    writeFile(join(pipelinesDir, "ms-steps.ts"), STEPS);
    writeFile(join(pipelinesDir, "ms-cron.ts"), schedule("ms-cron", `cron("*/2 * * * * *")`));
    writeFile(join(pipelinesDir, "ms-interval.ts"), schedule("ms-interval", `interval("2s")`));
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

    // An extension idle on both (no pipeline subscribes to notify) starts on both when a
    // subscription is made through one: the change reaches the other through the database.
    const stateOn = async (api: Api, id: string) => ((await (await api(`/extensions/${id}`)).json()) as { extension: { state: string } }).extension.state;
    expect([await stateOn(a.api, "notify"), await stateOn(b.api, "notify")]).toEqual(["idle", "idle"]);
    const subscribed = await a.api("/pipelines/default/ms-steps/subscriptions", { method: "POST", body: JSON.stringify({ extension: "notify", params: { url: "chat_url", on: ["run.finished"] } }) });
    expect(subscribed.status).toBe(201);
    await waitFor(async () => (await stateOn(b.api, "notify")) === "running", 5_000, "notify started on server B by a subscription made through A");
    await waitFor(async () => (await stateOn(a.api, "notify")) === "running", 5_000, "notify started on server A");

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

    // A file's trigger changed and changed back: both servers load each edit, and the one that
    // loads the old content second replaces no subscription and adds no version. It still drops
    // the changed trigger (the other server's load told it), so no server fires it any more.
    const revert = join(pipelinesDir, "ms-revert.ts");
    const loadedBy = async (content: string, version: number) => {
      const after = (await eventsOf(b.api)).at(-1)?.id ?? 0;
      writeFile(revert, content);
      const loads = async () => (await eventsOf(b.api, after)).filter((event) => event.pipeline === "ms-revert" && /^pipeline\.(version_added|loaded)$/.test(event.kind));
      await waitFor(async () => (await loads()).length >= 2, 10_000, `ms-revert v${version} loaded by both servers`);
      expect((await loads()).map((event) => event.data.version)).toEqual([version, version]);
    };
    await loadedBy(schedule("ms-revert", `interval("1h")`), 1);
    await loadedBy(schedule("ms-revert", `interval("2s")`), 2);
    await loadedBy(schedule("ms-revert", `interval("1h")`), 1);
    // Past the relay's look at the events; then two seconds' ticks would show within 4.5 s.
    await Bun.sleep(1_000);
    const reverted = Date.now();

    // Both servers up for three ticks of each schedule at least.
    await Bun.sleep(Math.max(0, bothUpFrom + 6_200 - Date.now()));
    const within = (runs: RunJson[]) => runs.filter((run) => Date.parse(run.createdAt) > bothUpFrom + 500);
    const bothUp = { cron: within(await runsOf(b.api, "ms-cron")), interval: within(await runsOf(b.api, "ms-interval")) };
    await Bun.sleep(Math.max(0, reverted + 4_500 - Date.now()));
    expect((await runsOf(b.api, "ms-revert")).filter((run) => Date.parse(run.createdAt) > reverted)).toEqual([]);
    // Servers firing one tick meet at its delivery id as a matter of course: not logged as duplicates.
    expect((await eventsOf(b.api)).filter((event) => event.kind === "delivery.duplicate")).toEqual([]);

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
    rmSync(revert);
    await b.stop();
  });

  it("started at the same moment under one node id: exactly one runs, the other is refused; one whose id is taken later stops", async () => {
    // A fresh id, and the id of the server killed above (its process is gone): each claimed by two at once.
    const attempts = ["server-c", "server-c", "server-a", "server-a"].map((node) =>
      startGantryProcess({ dataDir, pipelinesDir, env: env(node) }).then(
        (server) => (servers.push(server), { node, server }),
        (error: Error) => ({ node, refused: error.message }),
      ),
    );
    const outcomes = await Promise.all(attempts);
    for (const node of ["server-c", "server-a"]) {
      const mine = outcomes.filter((outcome) => outcome.node === node);
      const running = mine.flatMap((outcome) => ("server" in outcome ? [outcome.server] : []));
      const refused = mine.flatMap((outcome) => ("refused" in outcome ? [outcome.refused] : []));
      expect(running).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toContain("exited early (2)");
      expect(refused[0]).toContain(`node id ${node} is in use by a running server (pid ${running[0]!.proc.pid}`);
      // The one that runs serves, and still holds its id a few heartbeats on.
      expect((await running[0]!.api("/system")).status).toBe(200);
    }
    await Bun.sleep(2_000);
    const running = outcomes.flatMap((outcome) => ("server" in outcome ? [outcome.server] : []));
    for (const server of running) expect(server.proc.exitCode).toBeNull();

    // Should another process take the id over all the same (this one went without a heartbeat
    // for the lease), the server finds out at its next heartbeat and stops, exit 1.
    const database = await openDatabase(`file:${join(dataDir, "gantry.db")}`);
    try {
      await database.client.execute({ sql: "update nodes set instance = 'another-process' where id = 'server-c'", args: [] });
    } finally {
      database.close();
    }
    const robbed = running.find((server) => server.output().includes("node:      server-c"))!;
    expect(await Promise.race([robbed.exited, Bun.sleep(5_000).then(() => "still running")])).toBe(1);
    expect(robbed.output()).toContain("node id server-c was claimed by another server");
    expect(robbed.output()).toContain("gantry: FATAL: another server holds this node id now; stopping");
    for (const server of running) if (server !== robbed) await server.stop();
  });
});
