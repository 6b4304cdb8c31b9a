// The dashboard on a real server: the empty state of a new install, recent runs with their
// state, trigger and links, "Needs attention" for failed runs and broken files, health,
// the live stream, escaping of hostile values, and a limited session seeing only its
// pipelines, on the page and in the stream; queued runs and why they wait, the pause switch
// and the banner every page shows while runs are paused, and the nodes.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { readSse, startRun, startTestGantry, waitFor, waitForRun, type SseMessage, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, writeFile } from "./helpers/temp.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const HOSTILE_NAME = "<script>alert(1)</script>";
const HOSTILE_DESCRIPTION = '"><img src=x onerror=alert(1)>';
const HOSTILE_BY = "<script>alert(2)</script>\"><img src=x onerror=alert(3)>";

let gantry: TestGantry;
let admin: WebClient;

beforeAll(async () => {
  // No Docker engine at this address: the health card must say so, quickly.
  gantry = await startTestGantry({ env: { GANTRY_DOCKER_HOST: "unix:///nonexistent/gantry-test/docker.sock" } });
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

const pipelineFile = (id: string, options: { name?: string; description?: string; fail?: boolean; slow?: boolean } = {}) => `
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: ${JSON.stringify(id)},
  ${options.name !== undefined ? `name: ${JSON.stringify(options.name)},` : ""}
  ${options.description !== undefined ? `description: ${JSON.stringify(options.description)},` : ""}
  tasks: {
    build: run(async () => { ${options.slow ? "await Bun.sleep(700);" : ""} ${options.fail ? 'throw new Error("boom");' : ""} }),
    test: run(() => {}, { needs: { build: "success" } }),
  },
});
`;

async function addPipeline(relativePath: string, content: string, key: string): Promise<void> {
  writeFile(join(gantry.pipelinesDir, relativePath), content);
  await gantry.deps.loader.scan();
  await waitFor(async () => (await gantry.api(`/pipelines/${key}`)).status === 200 || undefined, 10_000, `${key} to load`);
}

async function dashboard(client: WebClient = admin): Promise<string> {
  const response = await client.get("/");
  expect(response.status).toBe(200);
  return response.text();
}

/** The HTML of the "Needs attention" card. */
const attentionCard = (html: string) => /id="dash-attention-title"[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
/** The table row of one run. */
const runRow = (html: string, href: string) => new RegExp(`<tr[ >](?:(?!</tr>)[\\s\\S])*href="${href}"[\\s\\S]*?</tr>`).exec(html)?.[0];

/** Opens the dashboard stream; `next(match)` waits for a render that satisfies it. */
async function openStream(client: WebClient) {
  const controller = new AbortController();
  const response = await fetch(`${gantry.url}/live/dashboard`, {
    headers: { cookie: `gantry_session=${client.cookie}`, accept: "text/event-stream" },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const messages = readSse(response);
  const seen: SseMessage[] = [];
  return {
    seen,
    async next(match: (html: string) => boolean, timeoutMs = 15_000): Promise<string> {
      const deadline = setTimeout(() => controller.abort(), timeoutMs);
      try {
        for (;;) {
          const { value, done } = await messages.next();
          if (done) throw new Error("the stream ended");
          seen.push(value);
          if (value.event === "message" && match(value.data)) return value.data;
        }
      } finally {
        clearTimeout(deadline);
      }
    },
    close: () => controller.abort(),
  };
}

describe("dashboard", () => {
  it("sends visitors without a session to the login page", async () => {
    const response = await fetch(`${gantry.url}/`, { redirect: "manual" });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/login?next=%2F");
    const stream = await fetch(`${gantry.url}/live/dashboard`, { redirect: "manual" });
    expect(stream.status).toBe(303);
    expect(stream.headers.get("location")).toStartWith("/login");
  });

  it("welcomes a new install with the pipelines folder and a link to /pipelines", async () => {
    const html = await dashboard();
    expect(html).toContain("no pipelines yet");
    expect(html).toContain(gantry.pipelinesDir);
    expect(html).toContain('href="/pipelines"');
    expect(html).toContain("No runs yet");
  });

  it("shows Docker's status in words, quickly, with the extensions and a link to them", async () => {
    const html = await waitFor(async () => {
      const page = await dashboard();
      return page.includes("unavailable") ? page : undefined;
    });
    const health = /id="dash-health-title"[\s\S]*?<\/section>/.exec(html)![0];
    expect(health).toContain("Docker");
    expect(health).toContain("unavailable");
    expect(health).toContain("Docker engine unreachable at unix:///nonexistent/gantry-test/docker.sock");
    expect(health).toContain('href="/extensions"');
    // The repository's extensions are in this server; no pipeline uses the webhook one, so it waits, idle.
    expect(health).toMatch(/<span aria-hidden="true">◌<\/span> idle<\/span> <span class="dash-extension-id">webhook/);
  });

  it("lists recent runs with state, task progress, trigger and links", async () => {
    await addPipeline("web.ts", pipelineFile("web", { name: "Web frontend", description: "Builds the site" }), "default/web");
    const run = await startRun(gantry.api, "default/web");
    await waitForRun(gantry.api, "default/web", run.id);
    const html = await dashboard();
    const row = runRow(html, `/pipelines/default/web/runs/${run.id}`);
    expect(row).toBeDefined();
    expect(row).toContain('href="/pipelines/default/web"');
    expect(row).toContain("Web frontend");
    expect(row).toContain('title="Builds the site"');
    expect(row).toContain("state-successful");
    expect(row).toContain("2/2 done");
    expect(row).toContain('<span class="trigger-kind">api</span><span class="muted"> by <span class="trigger-by">bootstrap</span></span>');
    expect(row).toContain("<time datetime=");
    expect(html).toMatch(/1 pipeline<\/a>/);
    expect(html).toContain("0 runs running now");
    expect(attentionCard(html)).toContain("All green");
    // The live region: the stream re-renders it in place, and screen readers hear the changes.
    expect(html).toMatch(/<div id="dashboard-live"[^>]* hx-sse:connect="\/live\/dashboard" hx-swap="innerMorph" aria-live="polite">/);
  });

  it('puts a failed pipeline and a broken pipeline file under "Needs attention"', async () => {
    await addPipeline("api.ts", pipelineFile("api", { name: "API server", fail: true }), "default/api");
    const run = await startRun(gantry.api, "default/api");
    await waitForRun(gantry.api, "default/api", run.id);
    writeFile(
      join(gantry.pipelinesDir, "ops", "broken.ts"),
      `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "broken", tasks: { a: run(() => {}, { needs: { nope: "success" } }) } });\n`,
    );
    await gantry.deps.loader.scan();
    const card = attentionCard(await dashboard());
    expect(card).toContain("Needs attention");
    expect(card).toContain('href="/pipelines/default/api"');
    expect(card).toContain(`href="/pipelines/default/api/runs/${run.id}"`);
    expect(card).toContain("task build failed");
    expect(card).toContain('href="/pipelines/ops/broken"');
    expect(card).toContain("<code>ops/broken.ts</code>");
    expect(card).toContain("unknown task");
    expect(card).not.toContain("All green");
    expect(card).not.toContain("/pipelines/default/web\"");
  });

  it("streams renders: a new run appears, then its successful state, without reloading", async () => {
    await addPipeline("slow.ts", pipelineFile("slow", { name: "Slow one", slow: true }), "default/slow");
    const stream = await openStream(admin);
    try {
      // The first render comes at once, before anything changes.
      const first = await stream.next(() => true, 5_000);
      expect(first).toContain("Recent runs");
      expect(first).not.toContain("<html");
      const run = await startRun(gantry.api, "default/slow");
      const href = `/pipelines/default/slow/runs/${run.id}`;
      const running = await stream.next((html) => runRow(html, href)?.includes("state-running") ?? false);
      expect(running).toContain("1 run running now");
      const done = await stream.next((html) => runRow(html, href)?.includes("state-successful") ?? false);
      expect(runRow(done, href)).toContain("2/2 done");
      expect(done).toContain("0 runs running now");
    } finally {
      stream.close();
    }
  });

  it("sends a failure to the stream as it happens", async () => {
    const stream = await openStream(admin);
    try {
      await stream.next(() => true, 5_000);
      writeFile(join(gantry.pipelinesDir, "web.ts"), "export default { id: 'web', tasks: 42 };\n");
      await gantry.deps.loader.scan();
      const html = await stream.next((page) => attentionCard(page).includes('href="/pipelines/default/web"'));
      expect(attentionCard(html)).toContain("<code>web.ts</code>");
    } finally {
      stream.close();
      writeFile(join(gantry.pipelinesDir, "web.ts"), pipelineFile("web", { name: "Web frontend", description: "Builds the site" }));
      await gantry.deps.loader.scan();
    }
  });

  it("escapes hostile pipeline names, descriptions and trigger sources, on the page and in the stream", async () => {
    await addPipeline("ops/evil.ts", pipelineFile("evil", { name: HOSTILE_NAME, description: HOSTILE_DESCRIPTION, fail: true }), "ops/evil");
    const stream = await openStream(admin);
    try {
      await stream.next(() => true, 5_000);
      const run = await gantry.deps.orchestrator.startRun({ namespace: "ops", id: "evil" }, { trigger: { kind: "webhook", by: HOSTILE_BY } });
      await waitForRun(gantry.api, "ops/evil", run.id);
      const href = `/pipelines/ops/evil/runs/${run.id}`;
      const streamed = await stream.next((html) => runRow(html, href)?.includes("state-failed") ?? false);
      const page = await dashboard();
      for (const html of [page, streamed]) {
        expect(html).not.toContain("<script>alert");
        expect(html).not.toContain("<img src=x");
        expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
        expect(html).toContain("&lt;script&gt;alert(2)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(3)&gt;");
        expect(html).toContain('title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"');
        // The failing pipeline is named in "Needs attention", escaped there too.
        expect(attentionCard(html)).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
      }
      // Only our own scripts: the page has no inline script at all.
      expect(page.match(/<script[^>]*>/g)?.every((tag) => /src="\/public\//.test(tag))).toBe(true);
    } finally {
      stream.close();
    }
  });

  it("shows a session limited to one pipeline only that pipeline's runs, on the page and in the stream", async () => {
    await addPipeline("visible.ts", pipelineFile("visible", { name: "Visible one" }), "default/visible");
    await addPipeline("hidden.ts", pipelineFile("hidden", { name: "Hidden one", fail: true }), "default/hidden");
    const hiddenRun = await startRun(gantry.api, "default/hidden");
    await waitForRun(gantry.api, "default/hidden", hiddenRun.id);
    const role = await gantry.api("/roles/only-visible", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "*", target: "default/visible", actions: ["read"] }] }),
    });
    expect(role.status).toBeOneOf([200, 201]);
    const token = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "visible-only", roles: ["only-visible"] }) });
    expect(token.status).toBe(201);
    const limited = await webLogin(gantry.url, ((await token.json()) as { secret: string }).secret);

    const visibleRun = await startRun(gantry.api, "default/visible");
    await waitForRun(gantry.api, "default/visible", visibleRun.id);
    const html = await dashboard(limited);
    expect(html).toContain(`/pipelines/default/visible/runs/${visibleRun.id}`);
    expect(html).not.toContain("/pipelines/default/hidden");
    expect(html).not.toContain("Hidden one");
    expect(html).not.toContain("/pipelines/default/web");
    expect(html).not.toContain("/pipelines/ops/broken");
    expect(html).toMatch(/1 pipeline<\/a>/);
    // Other pipelines' failures and broken files are not this token's business either.
    expect(attentionCard(html)).toContain("All green");
    // Extensions are not this token's to read.
    expect(html).not.toContain('href="/extensions"><');
    expect(html).not.toContain("dash-extension-id");
    // The admin still sees both.
    const all = await dashboard();
    expect(all).toContain(`/pipelines/default/hidden/runs/${hiddenRun.id}`);

    const stream = await openStream(limited);
    try {
      await stream.next(() => true, 5_000);
      const hidden = await startRun(gantry.api, "default/hidden");
      await waitForRun(gantry.api, "default/hidden", hidden.id);
      const visible = await startRun(gantry.api, "default/visible");
      await stream.next((page) => runRow(page, `/pipelines/default/visible/runs/${visible.id}`)?.includes("state-successful") ?? false);
      for (const message of stream.seen) {
        expect(message.data).not.toContain("/pipelines/default/hidden");
        expect(message.data).not.toContain("Hidden one");
      }
    } finally {
      stream.close();
    }
  });
});

describe("queued runs, the pause switch and the nodes", () => {
  const flags = sharedDir("gantry-flags-");
  let viewer: WebClient;

  beforeAll(async () => {
    await addPipeline(
      "one-at-a-time.ts",
      `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "one-at-a-time",
  concurrency: { limit: 1 },
  tasks: { hold: run(async (ctx) => { while (!(await Bun.file(ctx.env.FLAG).exists())) await Bun.sleep(20); }) },
});`,
      "default/one-at-a-time",
    );
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "dash-viewer", roles: ["viewer"] }) });
    viewer = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
  });

  it("shows a queued run, where it stands and why it waits, and its start in the stream", async () => {
    const first = await startRun(gantry.api, "default/one-at-a-time", { FLAG: join(flags, "first") });
    const second = await startRun(gantry.api, "default/one-at-a-time", { FLAG: join(flags, "second") });
    expect(second.state).toBe("queued");
    const href = `/pipelines/default/one-at-a-time/runs/${second.id}`;
    const html = await dashboard();
    const row = runRow(html, href);
    expect(row).toContain(
      `<td class="dash-state"><span class="badge state-queued"><span aria-hidden="true">⋯</span> queued</span><span class="queue-place">position 1<span aria-hidden="true"> · </span><span class="sr-only">: </span>waiting for run ${first.id} (this pipeline runs at most 1 at once)</span></td>`,
    );
    expect(html).toContain('<li class="dash-count-queued">1 run queued</li>');
    const stream = await openStream(admin);
    try {
      await stream.next(() => true, 5_000);
      writeFile(join(flags, "first"), "go");
      const started = await stream.next((page) => runRow(page, href)?.includes("state-running") ?? false);
      expect(runRow(started, href)).not.toContain("queue-place");
      expect(started).not.toContain("dash-count-queued");
      writeFile(join(flags, "second"), "go");
      await stream.next((page) => runRow(page, href)?.includes("state-successful") ?? false);
    } finally {
      stream.close();
    }
  });

  it("lists the nodes with their heartbeat and the runs they drive, for those who may read the system", async () => {
    const nodeId = gantry.deps.orchestrator.nodeId;
    for (const client of [admin, viewer]) {
      const health = /id="dash-health-title"[\s\S]*?<\/section>/.exec(await dashboard(client))![0];
      expect(health).toContain("<dt>Node</dt>");
      expect(health).toMatch(
        new RegExp(`<span class="dash-health-state tone-ok"><span aria-hidden="true">✓</span> alive</span> <span class="dash-node-id" title="process \\d+, Gantry [^"]+">${nodeId}</span><span class="muted"> \\(this server\\)</span>`),
      );
      expect(health).toMatch(/on [^<]+ · heartbeat <time datetime="[^"]+"[^>]*>[^<]+<\/time> · \d+ runs? driven/);
    }
    // A token that may not read the system sees the switch's state, not the nodes.
    const role = await gantry.api("/roles/runs-only", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "runs", target: ".*", actions: ["read"] }] }) });
    expect(role.status).toBeLessThan(300);
    const token = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "runs-only", roles: ["runs-only"] }) });
    const runsOnly = await webLogin(gantry.url, ((await token.json()) as { secret: string }).secret);
    const health = /id="dash-health-title"[\s\S]*?<\/section>/.exec(await dashboard(runsOnly))![0];
    expect(health).toContain("<dt>Runs</dt>");
    expect(health).not.toContain("dash-node-id");
    expect(health).not.toContain("Warm runners");
  });

  it("shows this server's warm runners and how run() tasks got theirs, for those who may read the system", async () => {
    const warmRow = async (client: WebClient) => /<dt>Warm runners<\/dt>\s*<dd>([\s\S]*?)<\/dd>/.exec(/id="dash-health-title"[\s\S]*?<\/section>/.exec(await dashboard(client))![0])?.[1];
    // The pool full (GANTRY_RUN_POOL's default, 4), as it is once the runs above have ended.
    const full = await waitFor(async () => {
      const row = await warmRow(admin);
      return row?.includes("4 of 4 ready") ? row : undefined;
    }, 20_000, "the warm runners to be ready");
    expect(full).toContain('<span class="dash-health-state tone-ok"><span aria-hidden="true">✓</span> 4 of 4 ready</span> <span class="muted">this server</span>');
    const counted = (row: string) => Number(/run\(\) tasks in its sandbox since it started: (\d+) on a warm runner, \d+ waited for one booting, \d+ started their own/.exec(row)?.[1]);
    const before = counted(full);
    expect(Number.isInteger(before)).toBe(true);
    writeFile(join(flags, "warm"), "go");
    await waitForRun(gantry.api, "default/one-at-a-time", (await startRun(gantry.api, "default/one-at-a-time", { FLAG: join(flags, "warm") })).id);
    expect(counted((await warmRow(admin))!)).toBe(before + 1);
    expect(await warmRow(viewer)).toContain("of 4 ready");
  });

  it("pauses runs with the switch (system:write, CSRF), says so on every page, queues new runs, and resumes", async () => {
    const page = await dashboard();
    expect(page).toContain(
      '<form method="post" action="/system/pause" class="inline pause-switch"><input type="hidden" name="_csrf" value="' + admin.csrf + '"/><input type="hidden" name="next" value="/"/>',
    );
    expect(page).toContain('<span class="dash-health-state tone-ok"><span aria-hidden="true">▶</span> active</span>');
    expect(page).not.toContain("paused-banner");
    // A viewer sees the state but no switch, and may not use it; nor may a post without CSRF.
    expect(await dashboard(viewer)).not.toContain("/system/pause");
    expect((await viewer.post("/system/pause", { next: "/" })).status).toBe(403);
    const noCsrf = await fetch(`${gantry.url}/system/pause`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${admin.cookie}`, "content-type": "application/x-www-form-urlencoded" },
      body: "next=%2F",
    });
    expect(noCsrf.status).toBe(403);
    const system = async () => (await (await gantry.api("/system")).json()) as { paused: boolean; pausedBy: string | null };
    expect((await system()).paused).toBe(false);

    const stream = await openStream(admin);
    try {
      await stream.next(() => true, 5_000);
      const paused = await admin.post("/system/pause", { next: "/pipelines?x=1" });
      expect(paused.status).toBe(303);
      expect(paused.headers.get("location")).toBe("/pipelines?x=1");
      expect(await system()).toMatchObject({ paused: true, pausedBy: "bootstrap" });
      // The dashboard's stream hears the switch.
      const live = await stream.next((html) => html.includes("‖</span> paused"));
      expect(live).toContain('<form method="post" action="/system/resume" class="inline pause-switch">');
      expect(live).toMatch(/by bootstrap since <time datetime="[^"]+"[^>]*>[^<]+<\/time>: new runs wait in the queue/);

      // Every page says so, with a Resume button that comes back to it, for those who may.
      for (const path of ["/pipelines", "/events", "/pipelines/default/visible", "/tokens"]) {
        const html = await (await admin.get(path)).text();
        expect(html).toMatch(
          /<div id="paused-banner" class="paused-banner" role="status"><p><span aria-hidden="true">‖ <\/span><strong>Runs are paused<\/strong> \(by bootstrap, since <time datetime="[^"]+"[^>]*>[^<]+<\/time>\): new runs wait in the queue.<\/p>/,
        );
        expect(html).toContain(`<input type="hidden" name="next" value="${path}"/><button type="submit" id="banner-resume" class="small">Resume runs</button>`);
      }
      const viewerPage = await (await viewer.get("/pipelines")).text();
      expect(viewerPage).toContain("Runs are paused");
      expect(viewerPage).not.toContain("/system/resume");

      // A run started now waits, and says why.
      const run = await startRun(gantry.api, "default/visible");
      expect(run.state).toBe("queued");
      const href = `/pipelines/default/visible/runs/${run.id}`;
      const waiting = await stream.next((html) => runRow(html, href)?.includes("state-queued") ?? false);
      expect(runRow(waiting, href)).toContain("position 1<span aria-hidden=\"true\"> · </span><span class=\"sr-only\">: </span>Gantry is paused: new runs wait until it is resumed</span>");
      await Bun.sleep(300);
      expect((await (await gantry.api(`/pipelines/default/visible/runs/${run.id}`)).json()) as { run: { state: string } }).toMatchObject({ run: { state: "queued" } });

      // Pausing twice is harmless; a foreign "next" goes home instead.
      const again = await admin.post("/system/pause", { next: "//evil.example/" });
      expect(again.headers.get("location")).toBe("/");
      const resumed = await admin.post("/system/resume", { next: "/events" });
      expect(resumed.status).toBe(303);
      expect(resumed.headers.get("location")).toBe("/events");
      expect((await system()).paused).toBe(false);
      await stream.next((html) => runRow(html, href)?.includes("state-successful") ?? false);
      expect(await (await admin.get("/pipelines")).text()).not.toContain("paused-banner");
    } finally {
      stream.close();
      await gantry.deps.orchestrator.resume("test clean-up");
    }
  });
});

describe("dashboard with a Docker engine that does not answer", () => {
  let silentGantry: TestGantry;
  let startMs = 0;
  // Accepts connections and never answers, like a hung dockerd.
  const silent = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data() {} },
  });

  beforeAll(async () => {
    const started = performance.now();
    silentGantry = await startTestGantry({ env: { GANTRY_DOCKER_HOST: `tcp://127.0.0.1:${silent.port}`, GANTRY_EXTENSIONS_DIR: join(gantry.dataDir, "no-extensions") } });
    startMs = performance.now() - started;
  });
  afterAll(async () => {
    await silentGantry?.stop();
    silent.stop(true);
  });

  it("does not hold up the server's start: the start-up prune runs beside it and gives up on the engine", async () => {
    // The prune's lists wait 3 s each for an answer; the start does not wait for them.
    expect(startMs).toBeLessThan(2_500);
    expect((await silentGantry.pruned).dockerError).toBe("Docker engine unreachable");
  });

  it("renders at once, says it is still checking, and shows the time-out once Docker's client gives up", async () => {
    const client = await webLogin(silentGantry.url, silentGantry.token);
    const started = performance.now();
    const first = await (await client.get("/")).text();
    expect(performance.now() - started).toBeLessThan(400);
    expect(first).toContain("checking…");
    const later = await waitFor(async () => {
      const html = await (await client.get("/")).text();
      return html.includes("unavailable") ? html : undefined;
    }, 10_000, "Docker's time-out on the dashboard");
    expect(later).toContain("ETIMEDOUT");
  });
});
