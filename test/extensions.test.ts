// Extensions end to end on a real server: the API and CLI list them with state and
// subscriptions, subscriptions made or removed reach the extension, bad params and bad
// config show as errors, a crashed extension is restarted, and the event log is pruned.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../app/config.ts";
import type { Db } from "../app/db/client.ts";
import { insertEvent } from "../app/db/repos/events.ts";
import { EVENT_KINDS } from "../app/domain/event-kinds.ts";
import { startRun, startTestGantry, waitFor, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";
import { runCli } from "./helpers/cli.ts";

setDefaultTimeout(60_000);

/** Test extensions import "gantry" and valibot; the host provides both. */
const EXTENSIONS: Record<string, string> = {
  recorder: `
    import * as v from "valibot";
    import { defineExtension } from "gantry";
    export default defineExtension({
      id: "recorder",
      params: v.object({ channel: v.string() }),
      start(api) { api.log("recorder up"); },
      subscribe(sub, api) { api.log(\`subscribe \${sub.id} \${sub.namespace}/\${sub.pipeline} \${JSON.stringify(sub.params)}\`); },
      unsubscribe(sub, api) { api.log(\`unsubscribe \${sub.id}\`); },
    });`,
  // Stands in for the built-in interval extension, so a pipeline file's trigger has somewhere to go.
  interval: `
    import * as v from "valibot";
    import { defineExtension } from "gantry";
    export default defineExtension({
      id: "interval",
      params: v.object({ everyMs: v.number() }),
      subscribe(sub, api) { api.log(\`subscribe \${sub.id} \${sub.namespace}/\${sub.pipeline} every \${sub.params.everyMs}\`); },
    });`,
  // Crashes once, from a timer after start (an uncaught error in the Worker), then runs.
  crashy: `
    import * as v from "valibot";
    import { existsSync, writeFileSync } from "node:fs";
    import { defineExtension } from "gantry";
    export default defineExtension({
      id: "crashy",
      config: v.object({ marker: v.string() }),
      start(api) {
        if (existsSync(api.config.marker)) return api.log("crashy up again");
        writeFileSync(api.config.marker, "crashed once");
        api.log("crashy up, crashing soon");
        setTimeout(() => { throw new Error("crashy blew up"); }, 100);
      },
      subscribe(sub, api) { api.log(\`subscribe \${sub.id}\`); },
    });`,
  // Exits once with process.exit, which ends only its Worker.
  exiter: `
    import * as v from "valibot";
    import { existsSync, writeFileSync } from "node:fs";
    import { defineExtension } from "gantry";
    export default defineExtension({
      id: "exiter",
      config: v.object({ marker: v.string() }),
      start(api) {
        if (existsSync(api.config.marker)) return api.log("exiter up again");
        writeFileSync(api.config.marker, "exited once");
        setTimeout(() => process.exit(7), 100);
      },
    });`,
  // Starts one run when subscribed, then exits (a crash: restarted after 500 ms); told of the
  // run's end, which comes while it is down, once it is up again.
  teller: `
    import * as v from "valibot";
    import { existsSync, writeFileSync } from "node:fs";
    import { defineExtension } from "gantry";
    export default defineExtension({
      id: "teller",
      config: v.object({ marker: v.string() }),
      async subscribe(sub, api) {
        if (existsSync(api.config.marker)) return api.log("teller up again");
        writeFileSync(api.config.marker, "started");
        const started = await api.startRun(sub.id, {});
        api.log(\`started \${started.run} \${started.url}\`);
        process.exit(3);
      },
      onRunFinished(run, api) {
        api.log(\`finished \${run.run} \${run.state} \${run.tasks.map((task) => task.id + ":" + task.state).join(",")} \${run.url}\`);
      },
    });`,
  badconfig: `
    import * as v from "valibot";
    import { defineExtension } from "gantry";
    export default defineExtension({ id: "badconfig", config: v.object({ port: v.number() }), start(api) { api.log("never"); } });`,
  needsconfig: `
    import * as v from "valibot";
    import { defineExtension } from "gantry";
    export default defineExtension({ id: "needsconfig", config: v.object({ appId: v.string() }), start(api) { api.log("never"); } });`,
};

const HEADER = `import { definePipeline, run, interval } from "gantry";\n`;
const PIPELINES: Record<string, string> = {
  "target.ts": `${HEADER}export default definePipeline({ id: "target", tasks: { a: run((ctx) => ctx.log("target ran")) } });\n`,
  "other.ts": `${HEADER}export default definePipeline({ id: "other", tasks: { a: run(() => {}) } });\n`,
  "timed.ts": `${HEADER}export default definePipeline({ id: "timed", triggers: [interval("1h")], tasks: { a: run(() => {}) } });\n`,
};

interface SubscriptionJson {
  id: number;
  extension: string;
  namespace: string;
  pipeline: string;
  params: Record<string, unknown>;
  source: string;
  createdAt: string;
  error?: string;
}
interface ExtensionJson {
  id: string;
  state: string;
  restarts: number;
  error?: string;
  subscriptions: SubscriptionJson[];
  log: string[];
}
interface EventJson {
  id: number;
  kind: string;
  run: number | null;
  data: Record<string, unknown>;
  at: string;
}

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });

async function extension(id: string): Promise<ExtensionJson> {
  const response = await api(`/extensions/${id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { extension: ExtensionJson }).extension;
}

async function subscriptionsOf(pipeline: string): Promise<SubscriptionJson[]> {
  const response = await api(`/pipelines/${pipeline}/subscriptions`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { subscriptions: SubscriptionJson[] }).subscriptions;
}

async function subscribe(pipeline: string, body: unknown): Promise<SubscriptionJson> {
  const response = await api(`/pipelines/${pipeline}/subscriptions`, post(body));
  expect(response.status).toBe(201);
  return ((await response.json()) as { subscription: SubscriptionJson }).subscription;
}

/** Waits for a line of an extension's log to match. */
const waitForLogLine = (id: string, pattern: RegExp) =>
  waitFor(async () => (await extension(id)).log.find((line) => pattern.test(line)), 15_000, `${pattern} in the log of extension ${id}`);

async function errorOf(response: Response, status: number): Promise<string> {
  expect(response.status).toBe(status);
  return ((await response.json()) as { error: { message: string } }).error.message;
}

async function allEvents(target: TestGantry): Promise<EventJson[]> {
  const response = await target.api("/events?limit=1000");
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: EventJson[] }).events;
}

/** Runs `gantry <args>` from source against the test server. */
const cli = (args: string[]) => runCli(args, { server: gantry, env: { NO_COLOR: "1" } });

beforeAll(async () => {
  const extensionsDir = tempDir("gantry-extensions-");
  for (const [id, source] of Object.entries(EXTENSIONS)) writeFile(join(extensionsDir, id, "index.ts"), source);
  const pipelinesDir = tempDir("gantry-pipelines-");
  for (const [file, source] of Object.entries(PIPELINES)) writeFile(join(pipelinesDir, file), source);
  const markers = tempDir("gantry-markers-");
  gantry = await startTestGantry({
    pipelinesDir,
    env: {
      GANTRY_EXTENSIONS_DIR: extensionsDir,
      GANTRY_EXTENSIONS_CONFIG: JSON.stringify({
        badconfig: { port: "nope" },
        crashy: { marker: join(markers, "crashy") },
        exiter: { marker: join(markers, "exiter") },
        teller: { marker: join(markers, "teller") },
      }),
    },
  });
});
afterAll(() => gantry?.stop());

describe("listing extensions", () => {
  it("shows each extension's state, subscriptions and recent log over the API", async () => {
    const response = await api("/extensions");
    expect(response.status).toBe(200);
    const { extensions } = (await response.json()) as { extensions: ExtensionJson[] };
    expect(extensions.map((ext) => ext.id)).toEqual(["badconfig", "crashy", "exiter", "interval", "needsconfig", "recorder", "teller"]);
    const recorder = extensions.find((ext) => ext.id === "recorder")!;
    expect(recorder).toMatchObject({ state: "running", restarts: 0 });
    expect(recorder.error).toBeUndefined();
    expect(recorder.log.some((line) => line.endsWith("recorder up"))).toBe(true);
    expect(recorder.log.length).toBeLessThanOrEqual(20);
    // The pipeline file's trigger is a "file" subscription, and reached the extension.
    const interval = extensions.find((ext) => ext.id === "interval")!;
    expect(interval.state).toBe("running");
    expect(interval.subscriptions).toEqual([
      expect.objectContaining({ extension: "interval", namespace: "default", pipeline: "timed", params: { everyMs: 3_600_000 }, source: "file" }),
    ]);
    await waitForLogLine("interval", new RegExp(`subscribe ${interval.subscriptions[0]!.id} default/timed every 3600000$`));
  });

  it("answers 404 for an unknown extension", async () => {
    expect(await errorOf(await api("/extensions/nope"), 404)).toContain("nope");
  });

  it("lists them in the CLI, as a table and as JSON", async () => {
    const table = await cli(["extension", "ls"]);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(/^EXTENSION\s+FROM\s+STATE\s+RESTARTS\s+SUBSCRIPTIONS\s+ERROR/);
    expect(table.stdout).toMatch(/\ninterval\s+built-in\s+running\s+0\s+1\s+-/);
    expect(table.stdout).toMatch(/\nbadconfig\s+built-in\s+failed\s+0\s+0\s+config of extension badconfig: port: /);
    const json = await cli(["extensions", "ls", "--json"]);
    expect(json.exitCode).toBe(0);
    const parsed = JSON.parse(json.stdout) as { extensions: ExtensionJson[] };
    expect(parsed.extensions.find((ext) => ext.id === "recorder")?.state).toBe("running");
  });
});

describe("runs an extension started", () => {
  it("are told of their end with the tasks' states and the run's page, also when the extension was down as they ended", async () => {
    await subscribe("default/target", { extension: "teller" });
    const started = await waitForLogLine("teller", /^.*started (\d+) /);
    const id = Number(/started (\d+) /.exec(started)![1]);
    expect(started).toContain(`${gantry.url}/pipelines/default/target/runs/${id}`);
    await waitForLogLine("teller", /teller up again/);
    const finished = await waitForLogLine("teller", /finished \d+ /);
    expect(finished).toContain(`finished ${id} successful a:successful ${gantry.url}/pipelines/default/target/runs/${id}`);
    expect((await extension("teller")).restarts).toBe(1);
  });
});

describe("subscriptions", () => {
  it("reach the extension when made and removed through the API", async () => {
    const made = await subscribe("default/target", { extension: "recorder", params: { channel: "builds" } });
    expect(made).toMatchObject({ extension: "recorder", namespace: "default", pipeline: "target", params: { channel: "builds" }, source: "api" });
    expect(Date.parse(made.createdAt)).not.toBeNaN();
    await waitForLogLine("recorder", new RegExp(`subscribe ${made.id} default/target \\{"channel":"builds"\\}$`));
    expect((await subscriptionsOf("default/target")).map((sub) => sub.id)).toContain(made.id);
    expect((await extension("recorder")).subscriptions.map((sub) => sub.id)).toContain(made.id);

    const removed = await api(`/pipelines/default/target/subscriptions/${made.id}`, { method: "DELETE" });
    expect(removed.status).toBe(200);
    expect(((await removed.json()) as { subscription: SubscriptionJson }).subscription.id).toBe(made.id);
    await waitForLogLine("recorder", new RegExp(`unsubscribe ${made.id}$`));
    expect((await subscriptionsOf("default/target")).map((sub) => sub.id)).not.toContain(made.id);
    const kinds = (await allEvents(gantry)).filter((event) => event.data.subscription === made.id).map((event) => event.kind);
    expect(kinds).toEqual(["subscription.created", "subscription.deleted"]);
  });

  it("reach the extension when made and removed with the CLI", async () => {
    const made = await cli(["pipeline", "subscribe", "target", "recorder", "--params-json", '{"channel":"json"}', "--param", "channel=cli"]);
    expect(made.exitCode).toBe(0);
    const id = Number(/subscription (\d+)/.exec(made.stdout)?.[1]);
    expect(id).toBeGreaterThan(0);
    // --param wins over the same key in --params-json.
    await waitForLogLine("recorder", new RegExp(`subscribe ${id} default/target \\{"channel":"cli"\\}$`));

    const listed = await cli(["pipeline", "subscriptions", "default/target"]);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`\\n${id}\\s+recorder\\s+api\\s+\\{"channel":"cli"\\}.*ok`));
    const json = JSON.parse((await cli(["pipeline", "subscriptions", "target", "--json"])).stdout) as { subscriptions: SubscriptionJson[] };
    expect(json.subscriptions.find((sub) => sub.id === id)?.params).toEqual({ channel: "cli" });

    const logs = await cli(["extension", "logs", "recorder"]);
    expect(logs.exitCode).toBe(0);
    expect(logs.stdout).toContain(`subscribe ${id} default/target`);

    const removed = await cli(["pipeline", "unsubscribe", "target", String(id)]);
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain(`removed subscription ${id}`);
    await waitForLogLine("recorder", new RegExp(`unsubscribe ${id}$`));
  });

  it("shows params the extension's schema refuses as the subscription's error", async () => {
    const made = await subscribe("default/target", { extension: "recorder", params: { channel: 42 } });
    const error = await waitFor(async () => (await subscriptionsOf("default/target")).find((sub) => sub.id === made.id)?.error, 15_000, "the error");
    expect(error).toContain("channel");
    expect((await extension("recorder")).subscriptions.find((sub) => sub.id === made.id)?.error).toBe(error);
    // The extension itself is fine, and never saw the subscription.
    const recorder = await extension("recorder");
    expect(recorder.state).toBe("running");
    expect(recorder.log.some((line) => line.includes(`subscribe ${made.id} default/target`))).toBe(false);
    expect(recorder.log.some((line) => line.includes(`[gantry] subscription ${made.id}: channel`))).toBe(true);
    const listed = await cli(["pipeline", "subscriptions", "target"]);
    expect(listed.stdout).toMatch(new RegExp(`\\n${made.id}\\s+recorder.*channel`));
    expect((await api(`/pipelines/default/target/subscriptions/${made.id}`, { method: "DELETE" })).status).toBe(200);
  });

  it("refuses an unknown extension naming the known ones, and an unknown pipeline", async () => {
    const message = await errorOf(await api("/pipelines/default/target/subscriptions", post({ extension: "nope" })), 400);
    expect(message).toContain('"nope"');
    expect(message).toContain("recorder");
    expect(message).toContain("interval");
    await errorOf(await api("/pipelines/default/ghost/subscriptions", post({ extension: "recorder" })), 404);
    await errorOf(await api("/pipelines/default/ghost/subscriptions"), 404);
    expect(await errorOf(await api("/pipelines/default/target/subscriptions", post({ extension: "recorder", params: [1] })), 400)).toContain("params");
    const cliRefused = await cli(["pipeline", "subscribe", "target", "nope"]);
    expect(cliRefused.exitCode).toBe(2);
    expect(cliRefused.stderr).toContain("known: ");
  });

  it("removes only the pipeline's own subscriptions", async () => {
    const made = await subscribe("default/target", { extension: "recorder", params: { channel: "mine" } });
    expect(await errorOf(await api(`/pipelines/default/other/subscriptions/${made.id}`, { method: "DELETE" }), 404)).toContain(String(made.id));
    await errorOf(await api("/pipelines/default/target/subscriptions/999999", { method: "DELETE" }), 404);
    expect(await errorOf(await api("/pipelines/default/target/subscriptions/abc", { method: "DELETE" }), 400)).toContain("sub");
    expect((await api(`/pipelines/default/target/subscriptions/${made.id}`, { method: "DELETE" })).status).toBe(200);
  });

  it("refuses to delete a subscription made by the pipeline file (409), through API and CLI", async () => {
    const [fromFile] = await subscriptionsOf("default/timed");
    expect(fromFile).toMatchObject({ extension: "interval", source: "file" });
    const message = await errorOf(await api(`/pipelines/default/timed/subscriptions/${fromFile!.id}`, { method: "DELETE" }), 409);
    expect(message).toContain("edit the pipeline file");
    expect(message).toContain("timed.ts");
    const viaCli = await cli(["pipeline", "unsubscribe", "timed", String(fromFile!.id)]);
    expect(viaCli.exitCode).toBe(2);
    expect(viaCli.stderr).toContain("edit the pipeline file");
    expect((await subscriptionsOf("default/timed")).map((sub) => sub.id)).toEqual([fromFile!.id]);
  });

  it("needs pipelines:write to subscribe and shows a reader only the subscriptions it may see", async () => {
    const role = await api("/roles/target-reader", {
      method: "PUT",
      body: JSON.stringify({
        permissions: [
          { resource: "extensions", target: ".*", actions: ["read"] },
          { resource: "pipelines", target: "default/target", actions: ["read"] },
        ],
      }),
    });
    expect(role.status).toBeOneOf([200, 201]);
    const created = await api("/tokens", post({ name: "target-reader", roles: ["target-reader"] }));
    const { secret } = (await created.json()) as { secret: string };
    const as = (path: string, init: RequestInit = {}) =>
      fetch(`${gantry.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" } });
    expect((await as("/pipelines/default/target/subscriptions")).status).toBe(200);
    expect(await errorOf(await as("/pipelines/default/target/subscriptions", post({ extension: "recorder" })), 403)).toContain("pipelines:write on default/target");
    expect(await errorOf(await as("/pipelines/default/timed/subscriptions"), 403)).toContain("pipelines:read on default/timed");
    const { extensions } = (await (await as("/extensions")).json()) as { extensions: ExtensionJson[] };
    expect(extensions.find((ext) => ext.id === "interval")?.subscriptions).toEqual([]);
  });
});

describe("crashes and failures", () => {
  it("restarts an extension that throws from a timer, with events crashed then started", async () => {
    const crashy = await waitFor(
      async () => {
        const ext = await extension("crashy");
        return ext.state === "running" && ext.restarts >= 1 ? ext : undefined;
      },
      20_000,
      "crashy to be running again",
    );
    expect(crashy.error).toBeUndefined();
    expect(crashy.log.join("\n")).toContain("[gantry] crashed: error: crashy blew up");
    expect(crashy.log.join("\n")).toMatch(/\[gantry\] restarting in \d+ ms/);
    expect(crashy.log.at(-1)).toMatch(/crashy up again$|\[gantry\] started$/);
    const events = (await allEvents(gantry)).filter((event) => event.data.extension === "crashy");
    const kinds = events.map((event) => event.kind);
    const crashed = kinds.indexOf("extension.crashed");
    expect(crashed).toBeGreaterThanOrEqual(0);
    expect(kinds.slice(crashed + 1)).toContain("extension.started");
    // The reason is the error's message, not Bun's source excerpt.
    expect(events[crashed]!.data.reason).toBe("error: crashy blew up");

    // It works again: a new subscription reaches it.
    const made = await subscribe("default/target", { extension: "crashy" });
    await waitForLogLine("crashy", new RegExp(`subscribe ${made.id}$`));
  });

  it("restarts an extension whose Worker calls process.exit", async () => {
    const exiter = await waitFor(
      async () => {
        const ext = await extension("exiter");
        return ext.state === "running" && ext.restarts >= 1 ? ext : undefined;
      },
      20_000,
      "exiter to be running again",
    );
    expect(exiter.log.join("\n")).toContain("[gantry] crashed: the worker exited with code 7");
    expect(exiter.log.some((line) => line.endsWith("exiter up again"))).toBe(true);
    const kinds = (await allEvents(gantry)).filter((event) => event.data.extension === "exiter").map((event) => event.kind);
    expect(kinds.slice(kinds.indexOf("extension.crashed") + 1)).toContain("extension.started");
  });

  it("marks an extension with a bad config as failed, with the message, and does not restart it", async () => {
    const bad = await extension("badconfig");
    expect(bad.state).toBe("failed");
    expect(bad.restarts).toBe(0);
    expect(bad.error).toMatch(/^config of extension badconfig: port: .*number/);
    expect(bad.log.join("\n")).not.toContain("never");
    const failed = (await allEvents(gantry)).find((event) => event.kind === "extension.failed" && event.data.extension === "badconfig");
    expect(failed?.data.reason).toBe(bad.error);
  });

  it("marks an extension that needs a config nobody gave as unconfigured, not failed", async () => {
    const idle = await extension("needsconfig");
    expect(idle.state).toBe("unconfigured");
    expect(idle.restarts).toBe(0);
    expect(idle.error).toMatch(/^not configured: add \[extensions\.needsconfig\] to gantry\.toml to use it \(config of extension needsconfig: appId: /);
    const events = (await allEvents(gantry)).filter((event) => event.data.extension === "needsconfig");
    expect(events.map((event) => event.kind)).not.toContain("extension.failed");
  });

  it("starts the server when the Docker engine takes connections but never answers, and says why a container extension cannot start", async () => {
    // Accepts every connection and answers nothing, like a wedged dockerd.
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const startedAt = Date.now();
      const server = await startTestGantry({
        env: {
          GANTRY_DOCKER_HOST: `tcp://127.0.0.1:${silent.port}`,
          GANTRY_EXTENSIONS_DIR: tempDir("gantry-extensions-"),
          GANTRY_EXTENSIONS_CONFIG: JSON.stringify({ boxed: { image: "local/never-started:1" } }),
        },
      });
      try {
        expect(Date.now() - startedAt).toBeLessThan(20_000);
        const error = await waitFor(() => server.deps.extensions.get("boxed")?.error, 10_000, "the extension's error");
        expect(error).toContain(`Docker engine unreachable at tcp://127.0.0.1:${silent.port} (ETIMEDOUT)`);
        expect(server.deps.extensions.get("boxed")?.state).not.toBe("running");
      } finally {
        await server.stop();
      }
    } finally {
      silent.stop(true);
    }
  }, 30_000);

  it("writes only event kinds from the one list", async () => {
    const kinds = new Set((await allEvents(gantry)).map((event) => event.kind));
    expect([...kinds].filter((kind) => !(EVENT_KINDS as readonly string[]).includes(kind))).toEqual([]);
    // Compile-time: an unlisted kind does not type-check (bunx tsc --noEmit).
    const unlisted = (db: Db) =>
      // @ts-expect-error "run.exploded" is not an event kind
      insertEvent(db, { kind: "run.exploded", data: {}, at: new Date() });
    expect(typeof unlisted).toBe("function");
  });
});

describe("event retention", () => {
  const quick = `${HEADER}export default definePipeline({ id: "quick", tasks: { a: run(() => {}) } });\n`;
  const emptyExtensions = () => tempDir("gantry-no-extensions-");

  it("reads GANTRY_EVENTS_MAX_AGE and GANTRY_EVENTS_MAX_COUNT, 30 days and 100000 by default", () => {
    const defaults = loadConfig({ env: {}, cwd: tempDir() });
    expect(defaults.eventsMaxAgeMs).toBe(30 * 86_400_000);
    expect(defaults.eventsMaxCount).toBe(100_000);
    const set = loadConfig({ env: { GANTRY_EVENTS_MAX_AGE: "7d", GANTRY_EVENTS_MAX_COUNT: "50" }, cwd: tempDir() });
    expect([set.eventsMaxAgeMs, set.eventsMaxCount]).toEqual([7 * 86_400_000, 50]);
    expect(() => loadConfig({ env: { GANTRY_EVENTS_MAX_AGE: "forever" }, cwd: tempDir() })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { GANTRY_EVENTS_MAX_COUNT: "0" }, cwd: tempDir() })).toThrow(/GANTRY_EVENTS_MAX_COUNT/);
  });

  it("keeps only the newest GANTRY_EVENTS_MAX_COUNT events after a prune", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    writeFile(join(pipelinesDir, "quick.ts"), quick);
    const server = await startTestGantry({ pipelinesDir, env: { GANTRY_EVENTS_MAX_COUNT: "4", GANTRY_EXTENSIONS_DIR: emptyExtensions() } });
    try {
      for (let i = 0; i < 3; i++) await waitForRun(server.api, "default/quick", (await startRun(server.api, "default/quick")).id);
      await server.deps.orchestrator.idle();
      const before = await allEvents(server);
      expect(before.length).toBeGreaterThan(4);
      const pruned = await server.deps.janitor.prune();
      expect(pruned.events).toBe(before.length - 4);
      const after = await allEvents(server);
      expect(after.map((event) => event.id)).toEqual(before.slice(-4).map((event) => event.id));
    } finally {
      await server.stop();
    }
  });

  it("prunes events older than GANTRY_EVENTS_MAX_AGE (fake clock)", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    writeFile(join(pipelinesDir, "quick.ts"), quick);
    let offsetMs = 0;
    const server = await startTestGantry({
      pipelinesDir,
      env: { GANTRY_EVENTS_MAX_AGE: "30d", GANTRY_EXTENSIONS_DIR: emptyExtensions() },
      now: () => new Date(Date.now() + offsetMs),
    });
    try {
      const first = await waitForRun(server.api, "default/quick", (await startRun(server.api, "default/quick")).id);
      await server.deps.orchestrator.idle();
      expect((await server.deps.janitor.prune()).events).toBe(0);
      offsetMs = 31 * 86_400_000;
      const jumped = Date.now() + offsetMs;
      const second = await waitForRun(server.api, "default/quick", (await startRun(server.api, "default/quick")).id);
      await server.deps.orchestrator.idle();
      const before = await allEvents(server);
      expect(before.some((event) => event.run === first.id)).toBe(true);
      const pruned = await server.deps.janitor.prune();
      const after = await allEvents(server);
      expect(pruned.events).toBe(before.length - after.length);
      expect(after.some((event) => event.run === first.id)).toBe(false);
      expect(after.filter((event) => event.run === second.id).map((event) => event.kind)).toContain("run.finished");
      expect(after.every((event) => Date.parse(event.at) >= jumped - 1_000)).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
