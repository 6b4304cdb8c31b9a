// The run page on a real server: state, DAG, task table and logs (numbered, linkable,
// coloured, escaped), the live region and log streams, cancel and re-run forms, the raw log.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { readSse, startRun, startTestGantry, waitFor, waitForRun, type RunJson, type SseMessage, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const HEADER = `import { definePipeline, run } from "gantry";\n`;
const HOSTILE = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`;

/** A task body that waits until the file named by the run variable FLAG exists. */
const waitForFlag = `while (!(await Bun.file(ctx.env.FLAG).exists())) await Bun.sleep(20);`;

const PIPELINES: Record<string, string> = {
  "colors.ts": `${HEADER}
export default definePipeline({
  id: "colors",
  tasks: {
    paint: run(() => {
      console.log("\\x1b[31mred\\x1b[0m plain");
      console.log(${JSON.stringify(HOSTILE)});
      console.log("\\x1b[32m" + ${JSON.stringify(HOSTILE)} + "\\x1b[0m\\x1b[31m</span><script>alert(2)</script>");
      console.error("to stderr");
    }),
    after: run((ctx) => ctx.log("after paint"), { needs: { paint: "success" } }),
  },
});`,
  "gate.ts": `${HEADER}
export default definePipeline({
  id: "gate",
  tasks: {
    hold: run(async (ctx) => {
      console.log("line one");
      ${waitForFlag}
      console.log("line two");
      console.log("line three");
    }),
    next: run((ctx) => ctx.log("next done"), { needs: { hold: "success" } }),
  },
});`,
  "long.ts": `${HEADER}
export default definePipeline({
  id: "long",
  tasks: { sleepy: run(async (ctx) => { ctx.log("sleeping"); await Bun.sleep(30_000); }) },
});`,
  "echo.ts": `${HEADER}
export default definePipeline({
  id: "echo",
  tasks: { show: run((ctx) => ctx.log("GREETING=" + ctx.env.GREETING)) },
});`,
  "many.ts": `${HEADER}
export default definePipeline({
  id: "many",
  tasks: { spam: run(() => { for (let i = 1; i <= 2500; i++) console.log("line " + i); }) },
});`,
};

const flags = tempDir("gantry-flags-");
let gantry: TestGantry;
let web: WebClient;

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(dir, name), source);
  gantry = await startTestGantry({ pipelinesDir: dir, env: { GANTRY_KILL_GRACE: "500ms" } });
  const loaded = (await (await gantry.api("/pipelines")).json()) as { pipelines: { id: string; error?: unknown }[] };
  const broken = loaded.pipelines.filter((pipeline) => pipeline.error);
  if (broken.length) throw new Error(`test pipelines failed to load: ${JSON.stringify(broken)}`);
  web = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

const api = (path: string, init?: RequestInit) => gantry.api(path, init);

/** Opens an SSE stream of the web UI with the session cookie. */
async function openStream(path: string, client = web, headers: Record<string, string> = {}): Promise<AsyncGenerator<SseMessage>> {
  const response = await fetch(`${gantry.url}${path}`, {
    headers: { cookie: `gantry_session=${client.cookie}`, accept: "text/event-stream", ...headers },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  return readSse(response);
}

/** Reads messages until one matches (returning it and all read), or fails after a while. */
async function readUntil(stream: AsyncGenerator<SseMessage>, match: (message: SseMessage) => boolean, timeoutMs = 15_000) {
  const seen: SseMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), deadline - Date.now()));
    const next = await Promise.race([stream.next(), timeout]);
    if (next === "timeout" || next.done) break;
    seen.push(next.value);
    if (match(next.value)) return { message: next.value, seen };
  }
  throw new Error(`no matching message; read: ${JSON.stringify(seen.map((m) => `${m.event}: ${m.data.slice(0, 200)}`))}`);
}

/** A finished run of the colors pipeline, started by a token with a hostile name and a hostile variable. */
let colors: RunJson;
async function colorsRun(): Promise<RunJson> {
  if (colors) return colors;
  const created = await api("/tokens", { method: "POST", body: JSON.stringify({ name: HOSTILE, roles: ["admin"] }) });
  expect(created.status).toBe(201);
  const { secret } = (await created.json()) as { secret: string };
  const started = await fetch(`${gantry.url}/api/v1/pipelines/default/colors/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ variables: { HOSTILE } }),
  });
  expect(started.status).toBe(201);
  const { run } = (await started.json()) as { run: RunJson };
  colors = await waitForRun(api, "default/colors", run.id);
  expect(colors.state).toBe("successful");
  return colors;
}

function expectEscaped(html: string) {
  expect(html).not.toContain("<script>alert");
  expect(html).not.toContain("<img src=x");
  expect(html).not.toContain("</span><script>");
}

const stateOf = (html: string, task: string) => new RegExp(`id="status-${task}"[^>]*><span class="badge state-(\\w+)"`).exec(html)?.[1];

describe("the run page", () => {
  it("shows the run's state, DAG and task table", async () => {
    const run = await colorsRun();
    const response = await web.get(`/pipelines/default/colors/runs/${run.id}`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain(`<h1>Run ${run.id} `);
    expect(html).toContain('href="/pipelines/default/colors"');
    expect(html).toContain('class="badge state-successful"');
    // The DAG: an SVG with a node per task, linking to its log section.
    expect(html).toMatch(/<svg[^>]*class="dag/);
    expect(html).toContain('href="#task-paint"');
    expect(html).toContain('href="#task-after"');
    // The task table and one log section per task, with exit codes.
    expect(html).toMatch(/<table class="list run-tasks">/);
    expect(html).toContain('<a id="task-link-paint" href="#task-paint">paint</a>');
    expect(html).toContain('<section id="task-paint"');
    expect(html).toContain('<section id="task-after"');
    expect(html).toMatch(/id="status-paint"[^>]*>.*exit code <span class="exit-code">0<\/span>/);
    // A finished run has no live stream, and the log view script is loaded.
    expect(html).not.toContain("hx-sse:connect");
    expect(html).toMatch(/<script src="\/public\/log-view\.js\?v=\w+" defer/);
    // Trigger and version.
    expect(html).toContain('<span class="trigger-kind">api</span>');
    expect(html).toContain(`v${run.version}`);
  });

  it("renders a finished log as numbered, linkable, timestamped lines with ANSI colours", async () => {
    const run = await colorsRun();
    const html = await (await web.get(`/pipelines/default/colors/runs/${run.id}`)).text();
    expect(html).toMatch(
      /<li id="paint-L1" class="log-line log-out"><a class="log-n" href="#paint-L1">1<\/a><time class="log-at" datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z">\d\d:\d\d:\d\d\.\d{3}<\/time><span class="log-text"><span class="ansi-fg-red">red<\/span> plain<\/span><\/li>/,
    );
    expect(html).toMatch(/<li id="paint-L4" class="log-line log-err">.*<span class="log-mark">err<\/span><span class="log-text">to stderr<\/span>/);
    expect(html).toContain('href="/pipelines/default/colors/runs/' + run.id + '/tasks/paint/log.txt"');
  });

  it("escapes log lines, variables and trigger names on the page", async () => {
    const run = await colorsRun();
    const html = await (await web.get(`/pipelines/default/colors/runs/${run.id}`)).text();
    expectEscaped(html);
    // The hostile texts are all there, as text.
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain('<span class="ansi-fg-green">&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('<span class="ansi-fg-red">&lt;/span&gt;&lt;script&gt;alert(2)&lt;/script&gt;</span>');
    expect(html).toMatch(/<span class="trigger-by">&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    expect(html).toMatch(/<td class="mono variable-value">&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  it("escapes them in the live fragment and the log stream too", async () => {
    const run = await colorsRun();
    const live = await openStream(`/pipelines/default/colors/runs/${run.id}/live`);
    const { seen } = await readUntil(live, (message) => message.event === "end");
    expect(seen[0]!.event).toBe("message");
    expect(seen[0]!.data).toContain("trigger-by");
    for (const message of seen) expectEscaped(message.data);

    const log = await openStream(`/pipelines/default/colors/runs/${run.id}/tasks/paint/log?from=0&line=1`);
    const { seen: lines } = await readUntil(log, (message) => message.event === "end");
    expect(lines.map((message) => message.data).join("")).toContain('<span class="ansi-fg-green">&lt;script&gt;');
    for (const message of lines) expectEscaped(message.data);
  });

  it("answers an unknown run with a 404 page", async () => {
    const response = await web.get("/pipelines/default/colors/runs/9999");
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toContain("run 9999 of default/colors not found");
  });

  it("shows the last 2000 lines of a long log, with a link to all of it", async () => {
    const run = await waitForRun(api, "default/many", (await startRun(api, "default/many")).id);
    const html = await (await web.get(`/pipelines/default/many/runs/${run.id}`)).text();
    expect(html).toContain("Showing the last 2000 of 2500 lines.");
    expect(html).toContain('<li id="spam-L501"');
    expect(html).toContain('<ol class="log" start="501"');
    expect(html).toContain("line 2500</span></li>");
    expect(html).not.toContain('id="spam-L500"');
    expect(html).toContain(`href="/pipelines/default/many/runs/${run.id}/tasks/spam/log.txt"`);
  });
});

describe("permissions", () => {
  it("leaves logs out for a token that may read runs but not logs", async () => {
    const run = await colorsRun();
    const role = await api("/roles/run-reader", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "runs", target: ".*", actions: ["read"] }] }),
    });
    expect(role.status).toBeLessThan(300);
    const created = await api("/tokens", { method: "POST", body: JSON.stringify({ name: "run-reader", roles: ["run-reader"] }) });
    const reader = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const path = `/pipelines/default/colors/runs/${run.id}`;
    const page = await (await reader.get(path)).text();
    expect(page).toContain('class="badge state-successful"');
    expect(page).toContain("it needs logs:read");
    expect(page).not.toContain('id="paint-L1"');
    expect((await reader.get(`${path}/tasks/paint/log.txt`)).status).toBe(403);
    expect((await reader.get(`${path}/tasks/paint/log?from=0&line=1`)).status).toBe(403);
  });
});

describe("the raw log", () => {
  it("is the stored text, shown inline as plain text", async () => {
    const run = await colorsRun();
    const response = await web.get(`/pipelines/default/colors/runs/${run.id}/tasks/paint/log.txt`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(response.headers.get("content-disposition")).toStartWith("inline");
    const text = await response.text();
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \x1b\[31mred\x1b\[0m plain\n/);
    expect(text).toContain(" [err] to stderr\n");
    expect((await web.get(`/pipelines/default/colors/runs/${run.id}/tasks/nope/log.txt`)).status).toBe(404);
  });
});

describe("live updates", () => {
  it("re-renders the region as tasks change, starts waiting log panes, and ends with the run", async () => {
    const flag = join(flags, "live");
    const started = await startRun(api, "default/gate", { FLAG: flag });
    await waitFor(async () => {
      const { run } = (await (await api(`/pipelines/default/gate/runs/${started.id}`)).json()) as { run: RunJson };
      return run.tasks[0]!.state === "running" || undefined;
    });
    const page = await (await web.get(`/pipelines/default/gate/runs/${started.id}`)).text();
    const liveUrl = /<div id="run-live" class="run-live" hx-sse:connect="([^"]+)" hx-swap="innerHTML" hx-sse:close="end">/.exec(page)?.[1];
    expect(liveUrl).toBe(`/pipelines/default/gate/runs/${started.id}/live?streaming=hold&amp;waiting=next`);
    // The pending task's pane waits without a stream of its own.
    expect(page).toMatch(/<div id="log-next"[^>]*><ol class="log" start="1"><\/ol><p class="log-empty">Waiting for the task to start.<\/p>/);

    const live = await openStream(liveUrl!.replaceAll("&amp;", "&"));
    const first = await readUntil(live, () => true);
    expect(stateOf(first.message.data, "hold")).toBe("running");
    // Only the inside of the region is sent: it must not open a second live stream.
    expect(first.message.data).not.toMatch(/hx-sse:connect="[^"]*\/live/);
    expect(first.message.data).toContain('class="badge state-running"');

    writeFile(flag, "go");
    const done = await readUntil(live, (message) => stateOf(message.data, "hold") === "successful");
    expect(done.message.data).toMatch(/id="status-hold"[^>]*>.*exit code <span class="exit-code">0<\/span>/);
    // Once "next" started (or ended), its pane is replaced by one streaming from the first line.
    const activated = [...done.seen, ...(await readUntil(live, (message) => message.event === "end")).seen].find((message) =>
      message.data.includes('id="log-next"'),
    );
    expect(activated?.data).toContain(
      `<div id="log-next" class="log-pane" tabindex="0" role="region" aria-label="Log of next" data-live="true" hx-swap-oob="true"><ol class="log" start="1" hx-sse:connect="/pipelines/default/gate/runs/${started.id}/tasks/next/log?from=0&amp;line=1"`,
    );
    expect((await waitForRun(api, "default/gate", started.id)).state).toBe("successful");
  });

  it("streams a log from an offset: only new lines, numbered on", async () => {
    const flag = join(flags, "log");
    const started = await startRun(api, "default/gate", { FLAG: flag });
    await waitFor(async () => {
      const text = await (await api(`/pipelines/default/gate/runs/${started.id}/tasks/hold/logs`)).text();
      return text.includes("line one") || undefined;
    });
    const page = await (await web.get(`/pipelines/default/gate/runs/${started.id}`)).text();
    expect(page).toContain('<li id="hold-L1"');
    const streamUrl = /<ol class="log" start="1" hx-sse:connect="([^"]+\/tasks\/hold\/log[^"]+)" hx-swap="beforeend" hx-sse:close="end">/.exec(page)?.[1];
    expect(streamUrl).toMatch(/\/tasks\/hold\/log\?from=\d+&amp;line=2$/);

    const log = await openStream(streamUrl!.replaceAll("&amp;", "&"));
    writeFile(flag, "go");
    const { seen } = await readUntil(log, (message) => message.event === "end");
    const lines = seen.filter((message) => message.event === "message");
    const html = lines.map((message) => message.data).join("");
    expect(html).not.toContain("line one");
    expect(html).toMatch(/<li id="hold-L2" class="log-line log-out"><a class="log-n" href="#hold-L2">2<\/a>.*line two/);
    expect(html).toMatch(/<li id="hold-L3" class="log-line log-out">.*line three/);
    expect(html).not.toContain("hold-L4");
    expect(seen.at(-1)).toMatchObject({ event: "end", data: "successful" });
    // Each message says where it got to, so a reconnecting browser resumes there.
    expect(lines.at(-1)!.id).toMatch(/^\d+:4$/);

    // Resuming with Last-Event-ID sends nothing twice.
    const resumed = await openStream(streamUrl!.replaceAll("&amp;", "&"), web, { "last-event-id": lines.at(-1)!.id! });
    const again = await readUntil(resumed, (message) => message.event === "end");
    expect(again.seen.filter((message) => message.event === "message")).toHaveLength(0);
  });
});

describe("cancel and re-run", () => {
  it("cancels a long run with the form, which needs CSRF and runs:write", async () => {
    const run = await startRun(api, "default/long");
    const path = `/pipelines/default/long/runs/${run.id}`;
    const page = await (await web.get(path)).text();
    expect(page).toContain(`<form method="post" action="${path}/cancel"`);
    expect(page).toContain(`data-confirm="Cancel run ${run.id}?"`);

    const noCsrf = await fetch(`${gantry.url}${path}/cancel`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${web.cookie}`, accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: "",
    });
    expect(noCsrf.status).toBe(403);

    const created = await api("/tokens", { method: "POST", body: JSON.stringify({ name: "looker", roles: ["viewer"] }) });
    const viewer = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const viewerPage = await (await viewer.get(path)).text();
    expect(viewerPage).not.toContain("/cancel");
    expect(viewerPage).not.toContain("/rerun");
    expect((await viewer.post(`${path}/cancel`)).status).toBe(403);
    expect((await viewer.post(`${path}/rerun`)).status).toBe(403);
    const still = (await (await api(`/pipelines/default/long/runs/${run.id}`)).json()) as { run: RunJson };
    expect(still.run.state).toBe("running");

    const cancelled = await web.post(`${path}/cancel`);
    expect(cancelled.status).toBe(303);
    expect(cancelled.headers.get("location")).toBe(path);
    expect((await waitForRun(api, "default/long", run.id)).state).toBe("cancelled");
    // Cancelling again is harmless, and the page no longer offers it.
    expect((await web.post(`${path}/cancel`)).status).toBe(303);
    expect(await (await web.get(path)).text()).not.toContain(`${path}/cancel`);
  });

  it("re-runs with the same variables", async () => {
    const first = await waitForRun(api, "default/echo", (await startRun(api, "default/echo", { GREETING: "hello there" })).id);
    const response = await web.post(`/pipelines/default/echo/runs/${first.id}/rerun`);
    expect(response.status).toBe(303);
    const next = Number(/\/pipelines\/default\/echo\/runs\/(\d+)$/.exec(response.headers.get("location") ?? "")?.[1]);
    expect(next).toBeGreaterThan(first.id);
    const rerun = await waitForRun(api, "default/echo", next);
    expect(rerun.state).toBe("successful");
    expect(rerun.variables).toEqual({ GREETING: "hello there" });
    const { run } = (await (await api(`/pipelines/default/echo/runs/${next}`)).json()) as { run: RunJson & { trigger: { kind: string; by?: string } } };
    expect(run.trigger.kind).toBe("web");
    expect(await (await api(`/pipelines/default/echo/runs/${next}/tasks/show/logs`)).text()).toContain("GREETING=hello there");
  });
});
