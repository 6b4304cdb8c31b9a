// Triggers that used to show "ok" but could never fire: an invalid cron expression, an unknown
// time zone, a schedule no date matches and a zero interval are load errors (API, CLI, web),
// never a version; a webhook whose secret does not exist is a trigger error on the pipeline,
// in `gantry pipeline get|validate` and on the dashboard, and creating the secret clears it.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startTestGantry, waitFor, type TestGantry } from "../helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/temp.ts";
import { webLogin, type WebClient } from "../helpers/web.ts";

setDefaultTimeout(60_000);

const source = (id: string, triggers: string) => `
import { cron, definePipeline, interval, run, secret, webhook } from "gantry";
export default definePipeline({ id: ${JSON.stringify(id)}, triggers: [${triggers}], tasks: { tick: run(() => {}) } });
`;

/** Each file's trigger and the load error it must give, at triggers.0. */
const BROKEN: Record<string, { triggers: string; message: string }> = {
  "bad-cron": { triggers: `cron("61 * * * *")`, message: 'invalid cron expression "61 * * * *": Invalid value for minute: 61' },
  "short-cron": { triggers: `cron("* * *")`, message: 'invalid cron expression "* * *": ' },
  "bad-zone": { triggers: `cron("0 3 * * *", { timezone: "Mars/Olympus_Mons" })`, message: 'unknown time zone "Mars/Olympus_Mons"' },
  "never-fires": { triggers: `cron("0 0 30 2 *")`, message: 'cron expression "0 0 30 2 *" never fires' },
  "zero-interval": { triggers: `interval("0s")`, message: 'interval "0s" must be at least 1ms' },
  "zero-number": { triggers: `interval(0)`, message: "interval 0 must be at least 1ms" },
  "huge-interval": { triggers: `interval("1000d")`, message: 'interval "1000d" is longer than 366 days' },
};

interface PipelineJson {
  version: number | null;
  error?: { file: string; issues: { path: string; message: string }[] };
}
interface SubscriptionJson {
  id: number;
  extension: string;
  params: Record<string, unknown>;
  error?: string;
}

let gantry: TestGantry;
let web: WebClient;
let pipelinesDir: string;

beforeAll(async () => {
  pipelinesDir = tempDir("gantry-pipelines-");
  for (const [id, { triggers }] of Object.entries(BROKEN)) writeFile(join(pipelinesDir, `${id}.ts`), source(id, triggers));
  writeFile(join(pipelinesDir, "hooked.ts"), source("hooked", `webhook({ secret: secret("hook_secret") })`));
  writeFile(join(pipelinesDir, "scoped.ts"), source("scoped", `webhook({ secret: secret("scoped_secret") })`));
  writeFile(join(pipelinesDir, "nightly.ts"), source("nightly", `cron("0 3 * * *", { timezone: "Europe/Berlin" })`));
  gantry = await startTestGantry({ pipelinesDir, env: { GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions") } });
  web = await webLogin(gantry.url, gantry.token);
});

afterAll(async () => {
  await gantry?.stop();
});

async function pipeline(id: string): Promise<PipelineJson> {
  const response = await gantry.api(`/pipelines/default/${id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { pipeline: PipelineJson }).pipeline;
}

async function subscriptions(id: string): Promise<SubscriptionJson[]> {
  const response = await gantry.api(`/pipelines/default/${id}/subscriptions`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { subscriptions: SubscriptionJson[] }).subscriptions;
}

/** `gantry <args>` from source, against the test server, with no ~/.gantry.toml. */
async function cli(args: string[]): Promise<{ exitCode: number; stdout: string }> {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir("gantry-home-"), GANTRY_URL: gantry.url, GANTRY_TOKEN: gantry.token, NO_COLOR: "1" };
  const proc = Bun.spawn([process.execPath, "app/main.ts", ...args], { cwd: REPO_ROOT, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout: stdout + stderr };
}

async function page(path: string): Promise<string> {
  const response = await web.get(path);
  expect(response.status).toBe(200);
  return response.text();
}

/** The HTML of the dashboard's "Needs attention" card. */
const attentionCard = (html: string) => /id="dash-attention-title"[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
const unescape = (html: string) => html.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&amp;", "&");

describe("schedule triggers that can never fire", () => {
  it("are load errors naming the trigger, and never become a version or a subscription", async () => {
    for (const [id, { message }] of Object.entries(BROKEN)) {
      const found = await pipeline(id);
      expect({ id, version: found.version }).toEqual({ id, version: null });
      expect({ id, issue: found.error?.issues[0] }).toEqual({ id, issue: { path: "triggers.0", message: expect.stringContaining(message) } });
      expect({ id, subscriptions: await subscriptions(id) }).toEqual({ id, subscriptions: [] });
    }
    // A valid schedule in a valid zone loads as ever.
    expect((await pipeline("nightly")).version).toBe(1);
    expect((await subscriptions("nightly")).map(({ params, error }) => ({ params, error }))).toEqual([
      { params: { expression: "0 3 * * *", timezone: "Europe/Berlin" }, error: undefined },
    ]);
  });

  it("show as load errors in `gantry pipeline get|validate` and on the dashboard", async () => {
    const got = await cli(["pipeline", "get", "default/bad-zone"]);
    expect(got.stdout).toContain('triggers.0: unknown time zone "Mars/Olympus_Mons"');

    const validated = await cli(["pipeline", "validate", join(pipelinesDir, "zero-interval.ts")]);
    expect(validated.exitCode).toBe(1);
    expect(validated.stdout).toContain('zero-interval.ts: triggers.0: interval "0s" must be at least 1ms');

    const card = unescape(attentionCard(await page("/")));
    expect(card).toContain("load error");
    expect(card).toContain('invalid cron expression "61 * * * *"');
  });

  it("keep the last good version when a good schedule is edited into a bad one", async () => {
    const file = writeFile(join(pipelinesDir, "edited.ts"), source("edited", `cron("*/5 * * * *")`));
    await gantry.deps.loader.scan();
    await waitFor(async () => (await gantry.api("/pipelines/default/edited")).status === 200 || undefined, 10_000, "edited to load");
    expect((await pipeline("edited")).version).toBe(1);

    writeFile(file, source("edited", `cron("*/5 * * * *", { timezone: "Europe/Atlantis" })`));
    await gantry.deps.loader.scan();
    const broken = await waitFor(async () => {
      const found = await pipeline("edited");
      return found.error ? found : undefined;
    }, 10_000, "the load error");
    expect(broken.version).toBe(1);
    expect(broken.error!.issues[0]).toEqual({ path: "triggers.0", message: expect.stringContaining('unknown time zone "Europe/Atlantis"') });
    // The subscription stays the good version's.
    expect((await subscriptions("edited")).map((row) => row.params)).toEqual([{ expression: "*/5 * * * *" }]);
  });
});

describe("a webhook trigger whose secret does not exist", () => {
  const missing = 'secret "hook_secret" does not exist';

  it("loads (the secret may come later) but shows a trigger error: API, pipeline page, CLI and dashboard", async () => {
    expect((await pipeline("hooked")).error).toBeUndefined();
    const [subscription] = await subscriptions("hooked");
    expect(subscription).toMatchObject({ extension: "webhook", params: { secret: "hook_secret" } });
    expect(subscription!.error).toContain(missing);
    expect(subscription!.error).toContain("gantry secret set hook_secret --pipeline default/hooked");

    const pipelinePage = unescape(await page("/pipelines/default/hooked"));
    expect(pipelinePage).toContain(missing);
    expect(pipelinePage).toContain("trigger-error");

    const got = await cli(["pipeline", "get", "default/hooked"]);
    expect(got.exitCode).toBe(0);
    expect(got.stdout).toContain("trigger errors:");
    expect(got.stdout).toContain(missing);

    // Not a load error: validate passes, and says what the server lacks.
    const validated = await cli(["pipeline", "validate", join(pipelinesDir, "hooked.ts")]);
    expect(validated.exitCode).toBe(0);
    expect(validated.stdout).toContain("ok: hooked (1 task)");
    expect(validated.stdout).toContain(`hooked.ts: triggers.0: trigger error: ${missing} on ${gantry.url}`);

    const card = unescape(attentionCard(await page("/")));
    expect(card).toContain("trigger error");
    expect(card).toContain(missing);
    expect(card).toContain('secret "scoped_secret" does not exist');
  });

  it("clears once the secret is created, globally or for the pipeline", async () => {
    const global = await gantry.api("/secrets/hook_secret", { method: "PUT", body: JSON.stringify({ value: "a-global-hook-secret" }) });
    expect(global.status).toBe(201);
    const scoped = await gantry.api("/pipelines/default/scoped/secrets/scoped_secret", { method: "PUT", body: JSON.stringify({ value: "a-pipeline-hook-secret" }) });
    expect(scoped.status).toBe(201);

    expect((await subscriptions("hooked"))[0]!.error).toBeUndefined();
    expect((await subscriptions("scoped"))[0]!.error).toBeUndefined();
    expect(unescape(await page("/pipelines/default/hooked"))).not.toContain("does not exist");
    expect((await cli(["pipeline", "get", "default/hooked"])).stdout).not.toContain("trigger errors:");
    const validated = await cli(["pipeline", "validate", join(pipelinesDir, "hooked.ts")]);
    expect(validated).toEqual({ exitCode: 0, stdout: "ok: hooked (1 task)\n" });
    const card = unescape(attentionCard(await page("/")));
    expect(card).not.toContain("trigger error");
    // The load errors above still need attention.
    expect(card).toContain("load error");

    // Deleted again: the error is back at once.
    expect((await gantry.api("/secrets/hook_secret", { method: "DELETE" })).status).toBe(200);
    expect((await subscriptions("hooked"))[0]!.error).toContain(missing);
  });
});
