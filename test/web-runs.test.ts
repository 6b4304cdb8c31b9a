// The run page on a real server: state, DAG, task table and logs (numbered, linkable,
// coloured, escaped), the one live stream (region re-renders and every task's new log lines,
// resumable), cancel and re-run forms, the raw log (whole or one attempt's part); a queued
// run's place in the queue, a pending cancel, a task's attempts, re-runs of all or only the
// failed tasks with reused tasks, and a refused re-run said on the page.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { readSse, startRun, startTestGantry, waitFor, waitForRun, type RunJson, type SseMessage, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, tempDir, writeFile } from "./helpers/temp.ts";
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
  tasks: {
    sleepy: run(async (ctx) => {
      ctx.log("sleeping");
      await Promise.race([Bun.sleep(30_000), new Promise((resolve) => ctx.signal.addEventListener("abort", resolve))]);
    }),
  },
});`,
  "queue.ts": `${HEADER}
export default definePipeline({
  id: "queue",
  concurrency: { limit: 1 },
  tasks: { hold: run(async (ctx) => { ctx.log("holding"); ${waitForFlag} }) },
});`,
  "flaky.ts": `${HEADER}
export default definePipeline({
  id: "flaky",
  tasks: {
    build: run(async (ctx) => { await Bun.write(ctx.workspace + "/built.txt", "the build"); ctx.log("built"); }),
    test: run(async (ctx) => {
      ctx.log("test attempt " + ctx.attempt);
      if (!(await Bun.file(ctx.env.FLAG).exists())) throw new Error("tests failed on attempt " + ctx.attempt);
      ctx.log("tests pass with " + (await Bun.file(ctx.workspace + "/built.txt").text()));
    }, { needs: { build: "success" }, retries: 1 }),
    deploy: run((ctx) => ctx.log("deployed"), { needs: { test: "success" } }),
  },
});`,
  "echo.ts": `${HEADER}
export default definePipeline({
  id: "echo",
  tasks: { show: run((ctx) => ctx.log("GREETING=" + ctx.env.GREETING)) },
});`,
  "pair.ts": `${HEADER}
export default definePipeline({
  id: "pair",
  tasks: {
    left: run(async (ctx) => {
      console.log("left 1");
      ${waitForFlag}
      console.log("left 2");
      console.log("left 3");
    }),
    right: run(async (ctx) => {
      console.log("right 1");
      ${waitForFlag}
      console.log("right 2");
      console.log("right 3");
    }),
  },
});`,
  "chatty.ts": `${HEADER}
export default definePipeline({
  id: "chatty",
  tasks: { talk: run(async () => { for (let i = 1; i <= 80; i++) { console.log("chat " + i); await Bun.sleep(10); } }) },
});`,
  "many.ts": `${HEADER}
export default definePipeline({
  id: "many",
  tasks: { spam: run(() => { for (let i = 1; i <= 2500; i++) console.log("line " + i); }) },
});`,
};

const flags = sharedDir("gantry-flags-");
let gantry: TestGantry;
let web: WebClient;

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  for (const [name, source] of Object.entries(PIPELINES)) writeFile(join(dir, name), source);
  // A long grace: a task that ignores its cancel signal keeps its run "cancel requested" until its flag.
  gantry = await startTestGantry({ pipelinesDir: dir, env: { GANTRY_KILL_GRACE: "10s" } });
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

interface StreamedLine {
  /** The task whose pane the partial targets. */
  pane: string;
  /** The task and number in the line's anchor. */
  task: string;
  n: number;
  text: string;
}

/** The log lines in the htmx partials of stream messages, in the order they came. */
function streamedLines(messages: SseMessage[]): StreamedLine[] {
  const lines: StreamedLine[] = [];
  for (const message of messages) {
    for (const [, pane, body] of message.data.matchAll(/<hx-partial hx-target="#lines-([a-z0-9-]+)" hx-swap="beforeend">(.*?)<\/hx-partial>/gs)) {
      for (const [, task, n, text] of body!.matchAll(/<li id="([a-z0-9-]+)-L(\d+)" class="log-line [^"]+"><a class="log-n" href="#\1-L\2">\2<\/a>.*?<span class="log-text">(.*?)<\/span><\/li>/g)) {
        lines.push({ pane: pane!, task: task!, n: Number(n), text: text! });
      }
    }
  }
  return lines;
}

/** The positions an event id carries: {task: [offset, next line]}. */
const positionsOf = (id: string | undefined) => JSON.parse(Buffer.from(id ?? "", "base64url").toString()) as Record<string, [number, number]>;

/** The live stream's address on a run page (as written in it, unescaped). */
function liveUrlOf(page: string): string {
  const url = /<div id="run-live" class="run-live" hx-sse:connect="([^"]+)" hx-swap="innerHTML" hx-sse:close="end">/.exec(page)?.[1];
  expect(url).toBeDefined();
  return url!.replaceAll("&amp;", "&");
}

/** Starts the gate pipeline and waits until its first task wrote its first line. */
async function gateRun(flag: string): Promise<RunJson> {
  const started = await startRun(api, "default/gate", { FLAG: flag });
  await waitFor(async () => {
    const text = await (await api(`/pipelines/default/gate/runs/${started.id}/tasks/hold/logs`)).text();
    return text.includes("line one") || undefined;
  });
  return started;
}

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

  it("escapes them in the live stream: its region renders and its log lines", async () => {
    const run = await colorsRun();
    const live = await openStream(`/pipelines/default/colors/runs/${run.id}/live`);
    const { seen } = await readUntil(live, (message) => message.event === "end");
    for (const message of seen) expectEscaped(message.data);
    // A finished run: every line, then the final render, in one message; then the end.
    expect(seen.map((message) => message.event)).toEqual(["message", "end"]);
    const html = seen[0]!.data;
    expect(html).toContain("trigger-by");
    expect(html).toContain('<hx-partial hx-target="#lines-paint" hx-swap="beforeend"><li id="paint-L1"');
    expect(html).toContain('<span class="ansi-fg-green">&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('<span class="ansi-fg-red">&lt;/span&gt;&lt;script&gt;alert(2)&lt;/script&gt;</span>');
    expect(streamedLines(seen).map((line) => `${line.pane} ${line.task}-L${line.n}`)).toEqual([
      "paint paint-L1",
      "paint paint-L2",
      "paint paint-L3",
      "paint paint-L4",
      "after after-L1",
    ]);
  });

  it("refuses a position query it did not write", async () => {
    const run = await colorsRun();
    for (const from of ["paint:0:0", "paint", "<script>:1:2", "PAINT:1:2", "paint:1:2,"]) {
      const response = await web.get(`/pipelines/default/colors/runs/${run.id}/live?from=${encodeURIComponent(from)}`, { accept: "text/event-stream" });
      expect({ from, status: response.status }).toEqual({ from, status: 400 });
    }
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
    expect(html).toContain('<ol id="lines-spam" class="log" start="501"');
    expect(html).toContain("line 2500</span></li>");
    expect(html).not.toContain('id="spam-L500"');
    expect(html).toContain(`href="/pipelines/default/many/runs/${run.id}/tasks/spam/log.txt"`);
    // A stream that starts far behind sends the last 2000 lines too, after a note.
    const live = await openStream(`/pipelines/default/many/runs/${run.id}/live`);
    const { seen } = await readUntil(live, (message) => message.event === "end");
    expect(seen[0]!.data).toContain(
      `<hx-partial hx-target="#lines-spam" hx-swap="beforeend"><li class="log-skipped">500 earlier lines not shown: <a href="/pipelines/default/many/runs/${run.id}/tasks/spam/log.txt">raw log</a></li><li id="spam-L501"`,
    );
    const lines = streamedLines(seen);
    expect(lines).toHaveLength(2000);
    expect(lines.at(-1)).toMatchObject({ n: 2500, text: "line 2500" });
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
    // Its live stream re-renders the region but carries no line and no pane update.
    const live = await openStream(`${path}/live`, reader);
    const { seen } = await readUntil(live, (message) => message.event === "end");
    expect(seen[0]!.data).toContain('class="badge state-successful"');
    for (const message of seen) {
      expect(message.data).not.toContain("hx-partial");
      expect(message.data).not.toContain("paint-L1");
      expect(message.data).not.toContain('id="empty-paint"');
    }
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

describe("the live stream", () => {
  it("re-renders the region, carries a later task's lines into its waiting pane, and ends after the final render", async () => {
    const flag = join(flags, "live");
    const started = await gateRun(flag);
    const page = await (await web.get(`/pipelines/default/gate/runs/${started.id}`)).text();
    // One stream for the whole page: it goes on after the line the page shows.
    expect(page.match(/hx-sse:connect=/g)).toHaveLength(1);
    const liveUrl = liveUrlOf(page);
    expect(liveUrl).toMatch(new RegExp(`^/pipelines/default/gate/runs/${started.id}/live\\?from=hold:\\d+:2$`));
    expect(page).toMatch(/<ol id="lines-hold" class="log" start="1"><li id="hold-L1"/);
    // The pending task's pane waits, with an empty list for its lines.
    expect(page).toContain(
      '<div id="log-next" class="log-pane" tabindex="0" role="region" aria-label="Log of next" data-live="true"><ol id="lines-next" class="log" start="1"></ol><p id="empty-next" class="log-empty">Waiting for the task to start.</p></div>',
    );

    const live = await openStream(liveUrl);
    const first = await readUntil(live, () => true);
    expect(stateOf(first.message.data, "hold")).toBe("running");
    // Only the inside of the region is sent: it must not open a second live stream.
    expect(first.message.data).not.toContain("hx-sse:connect");
    expect(first.message.data).toContain('<p id="empty-next" class="log-empty" hx-swap-oob="true">Waiting for the task to start.</p>');

    writeFile(flag, "go");
    const { seen } = await readUntil(live, (message) => message.event === "end");
    const all = [first.message, ...seen];
    // Nothing the page had, then the new lines of both tasks, numbered on, each into its pane.
    expect(streamedLines(all)).toEqual([
      { pane: "hold", task: "hold", n: 2, text: "line two" },
      { pane: "hold", task: "hold", n: 3, text: "line three" },
      { pane: "next", task: "next", n: 1, text: "next done" },
    ]);
    // The end comes after the final render, which comes with (or after) the last lines.
    expect(seen.at(-1)).toMatchObject({ event: "end", data: "successful" });
    const final = seen.at(-2)!;
    expect(final.event).toBe("message");
    expect(stateOf(final.data, "next")).toBe("successful");
    expect(final.data).toContain('<div class="run-state-line"><span class="badge state-successful">');
    expect(final.data).toContain('<p id="empty-next" class="log-empty" hx-swap-oob="true">No output.</p>');
    // Every message says how far each log got, so a reconnecting browser resumes there.
    expect(positionsOf(final.id)).toEqual({ hold: [expect.any(Number), 4], next: [expect.any(Number), 2] });
    expect((await waitForRun(api, "default/gate", started.id)).state).toBe("successful");
  });

  it("carries the lines of two running tasks, each numbered in its own pane", async () => {
    const flag = join(flags, "pair");
    const started = await startRun(api, "default/pair", { FLAG: flag });
    const live = await openStream(`/pipelines/default/pair/runs/${started.id}/live`);
    // Both tasks' first lines come while neither can go on.
    const firstLines: StreamedLine[] = [];
    await readUntil(live, (message) => {
      firstLines.push(...streamedLines([message]));
      return firstLines.length >= 2;
    });
    expect(firstLines.map((line) => `${line.pane} ${line.task}-L${line.n} ${line.text}`).sort()).toEqual(["left left-L1 left 1", "right right-L1 right 1"]);
    writeFile(flag, "go");
    const { seen } = await readUntil(live, (message) => message.event === "end");
    const lines = streamedLines(seen);
    for (const task of ["left", "right"]) {
      const own = lines.filter((line) => line.pane === task);
      expect(own.every((line) => line.task === task)).toBe(true);
      // Line 1 came in the first read above; 2 and 3 come now, in order.
      expect(own.map((line) => [line.n, line.text])).toEqual([
        [2, `${task} 2`],
        [3, `${task} 3`],
      ]);
    }
  });

  it("gathers a chatty task's lines into a few messages", async () => {
    const started = await startRun(api, "default/chatty");
    const live = await openStream(`/pipelines/default/chatty/runs/${started.id}/live`);
    const { seen } = await readUntil(live, (message) => message.event === "end");
    const lines = streamedLines(seen);
    expect(lines.map((line) => line.n)).toEqual(Array.from({ length: 80 }, (_, index) => index + 1));
    expect(lines.at(-1)).toMatchObject({ pane: "talk", text: "chat 80" });
    // 80 lines over about a second: a message per 100 ms at most, not one per line.
    const withLines = seen.filter((message) => message.data.includes("<hx-partial"));
    expect(withLines.length).toBeLessThan(20);
  });

  it("resumes from the last message's id after a reconnect: nothing twice, nothing lost", async () => {
    const flag = join(flags, "resume");
    const started = await gateRun(flag);
    const path = `/pipelines/default/gate/runs/${started.id}/live`;
    // Read from the first line, as a page rendered before the task wrote would.
    const before = await openStream(path);
    const seenBefore = await readUntil(before, (message) => streamedLines([message]).length > 0);
    expect(streamedLines(seenBefore.seen)).toEqual([{ pane: "hold", task: "hold", n: 1, text: "line one" }]);
    const lastId = seenBefore.message.id;
    expect(positionsOf(lastId)).toEqual({ hold: [expect.any(Number), 2] });
    await before.return(undefined);

    // The connection drops; the run goes on meanwhile.
    writeFile(flag, "go");
    expect((await waitForRun(api, "default/gate", started.id)).state).toBe("successful");
    const resumed = await openStream(path, web, { "last-event-id": lastId! });
    const after = await readUntil(resumed, (message) => message.event === "end");
    expect(streamedLines(after.seen).map((line) => `${line.task}-L${line.n} ${line.text}`)).toEqual([
      "hold-L2 line two",
      "hold-L3 line three",
      "next-L1 next done",
    ]);

    // At the end already: nothing at all.
    const finalId = after.seen.filter((message) => message.event === "message").at(-1)!.id!;
    const again = await readUntil(await openStream(path, web, { "last-event-id": finalId }), (message) => message.event === "end");
    expect(streamedLines(again.seen)).toEqual([]);

    // An id that is not one of ours is ignored: the query's positions hold.
    const bad = [
      "not an id",
      Buffer.from('{"hold":[-1,0]}').toString("base64url"),
      Buffer.from('{"<b>":[0,1]}').toString("base64url"),
      Buffer.from('{"hold":[1,2,3]}').toString("base64url"),
      Buffer.from("[1,2]").toString("base64url"),
    ];
    const [offset] = positionsOf(lastId).hold!;
    for (const id of bad) {
      const withQuery = await readUntil(await openStream(`${path}?from=hold:${offset}:2`, web, { "last-event-id": id }), (message) => message.event === "end");
      expect({ id, lines: streamedLines(withQuery.seen).map((line) => `${line.task}-L${line.n}`) }).toEqual({ id, lines: ["hold-L2", "hold-L3", "next-L1"] });
    }
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
    // Without a choice, every task runs again.
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

interface RunDetail extends RunJson {
  rerunOf?: number;
  rerunOnly?: string;
  trigger: { kind: string; by?: string };
  tasks: (RunJson["tasks"][number] & { reusedFrom?: number })[];
}

const runDetail = async (pipeline: string, id: number) => ((await (await api(`/pipelines/${pipeline}/runs/${id}`)).json()) as { run: RunDetail }).run;

/** The task table's row of a task, and the attempts row under it when there is one. */
function taskRows(html: string, task: string): { row: string; attempts: string | undefined } {
  const row = new RegExp(`<tr[^>]*><th scope="row"><a id="task-link-${task}"[\\s\\S]*?</tr>`).exec(html)?.[0];
  expect(row).toBeDefined();
  const after = html.slice(html.indexOf(row!) + row!.length);
  const attempts = /^<tr class="task-attempts">[\s\S]*?<\/tr>/.exec(after)?.[0];
  return { row: row!, attempts };
}

describe("a queued run", () => {
  it("says where it stands and why it waits, and the live stream moves it to running when it starts", async () => {
    const first = await startRun(api, "default/queue", { FLAG: join(flags, "queue-1") });
    await waitFor(async () => (await (await api(`/pipelines/default/queue/runs/${first.id}/tasks/hold/logs`)).text()).includes("holding") || undefined);
    const second = await startRun(api, "default/queue", { FLAG: join(flags, "queue-2") });
    const third = await startRun(api, "default/queue", { FLAG: join(flags, "queue-3") });
    expect([second.state, third.state]).toEqual(["queued", "queued"]);

    const path = `/pipelines/default/queue/runs/${second.id}`;
    const page = await (await web.get(path)).text();
    expect(page).toContain('<div class="run-state-line"><span class="badge state-queued"><span aria-hidden="true">⋯</span> queued</span>');
    expect(page).toContain(
      `<p class="run-queue-line"><strong>Position 1 in the queue</strong><span aria-hidden="true"> · </span><span class="sr-only">: </span>waiting for run ${first.id} (this pipeline runs at most 1 at once)</p>`,
    );
    expect(page).toMatch(/<dt>Queued<\/dt><dd><time datetime=/);
    // It may be cancelled while it waits; re-runs are for runs that ended.
    expect(page).toContain(`<form method="post" action="${path}/cancel"`);
    expect(page).not.toContain(`${path}/rerun`);
    const thirdPage = await (await web.get(`/pipelines/default/queue/runs/${third.id}`)).text();
    expect(thirdPage).toContain(`<strong>Position 2 in the queue</strong><span aria-hidden="true"> · </span><span class="sr-only">: </span>queued behind run ${second.id}</p>`);

    const live = await openStream(liveUrlOf(page));
    const queued = await readUntil(live, () => true);
    expect(queued.message.data).toContain('<span class="badge state-queued">');
    expect(queued.message.data).toContain("Position 1 in the queue");
    writeFile(join(flags, "queue-1"), "go");
    const started = await readUntil(live, (message) => message.data.includes('<div class="run-state-line"><span class="badge state-running">'));
    expect(started.message.data).not.toContain("in the queue");
    expect(started.message.data).toMatch(/<dt>Started<\/dt><dd><time datetime=/);
    // The third moved up behind the second, which now runs.
    const moved = await (await web.get(`/pipelines/default/queue/runs/${third.id}`)).text();
    expect(moved).toContain(`Position 1 in the queue</strong><span aria-hidden="true"> · </span><span class="sr-only">: </span>waiting for run ${second.id} (this pipeline runs at most 1 at once)`);
    writeFile(join(flags, "queue-2"), "go");
    writeFile(join(flags, "queue-3"), "go");
    await readUntil(live, (message) => message.event === "end");
    expect((await waitForRun(api, "default/queue", third.id)).state).toBe("successful");
  });
});

describe("a pending cancel", () => {
  it('says "cancel requested" while the run stops, and offers no second cancel', async () => {
    const flag = join(flags, "stubborn");
    const started = await gateRun(flag);
    const path = `/pipelines/default/gate/runs/${started.id}`;
    expect((await web.post(`${path}/cancel`)).status).toBe(303);
    // The task ignores its cancel signal: its run stays running until the grace period ends.
    const page = await (await web.get(path)).text();
    expect(page).toContain('<div class="run-state-line"><span class="badge state-running">');
    expect(page).toMatch(/<span class="run-cancel-requested"><span aria-hidden="true">■ <\/span>cancel requested <time datetime="[^"]+"[^>]*>[^<]+<\/time><span class="muted"> \(cancelled by [^)]+\)<\/span><\/span>/);
    expect(page).not.toContain(`${path}/cancel"`);
    writeFile(flag, "go");
    expect((await waitForRun(api, "default/gate", started.id)).state).toBe("cancelled");
    expect(await (await web.get(path)).text()).not.toContain("cancel requested");
  });
});

describe("attempts and re-runs", () => {
  const flag = join(flags, "flaky");
  let original: RunDetail;
  const originalPath = () => `/pipelines/default/flaky/runs/${original.id}`;

  beforeAll(async () => {
    // Its tests fail twice (one retry), so deploy is skipped.
    const started = await startRun(api, "default/flaky", { FLAG: flag });
    await waitForRun(api, "default/flaky", started.id);
    original = await runDetail("default/flaky", started.id);
    expect(original.state).toBe("failed");
    expect(original.tasks.map((task) => `${task.id} ${task.state}`)).toEqual(["build successful", "test failed", "deploy skipped"]);
  });

  it("lists every attempt of a retried task with its state, exit code, reason, times and log", async () => {
    const page = await (await web.get(originalPath())).text();
    const { row, attempts } = taskRows(page, "test");
    expect(row).toContain('<span class="badge state-failed">');
    expect(attempts).toBeDefined();
    expect(attempts).toContain('<ol class="attempts" aria-label="Attempts of test">');
    for (const n of [1, 2]) {
      const item = new RegExp(`<li class="attempt attempt-failed" id="attempt-test-${n}">[\\s\\S]*?</li>`).exec(attempts!)?.[0];
      expect(item).toBeDefined();
      expect(item).toContain(`<span class="attempt-n">Attempt ${n}</span><span class="badge state-failed">`);
      expect(item).toMatch(/started <time datetime="[^"]+"/);
      expect(item).toMatch(/took <span class="duration">[\d.]+m?s<\/span>/);
      expect(item).toContain(`<a class="attempt-log" href="${originalPath()}/tasks/test/log.txt?attempt=${n}">Log<span class="sr-only"> of attempt ${n} of test</span></a>`);
      expect(item).toContain(`tests failed on attempt ${n}`);
    }
    // A task with one successful attempt says nothing more than its row.
    expect(taskRows(page, "build").attempts).toBeUndefined();
    expect(taskRows(page, "deploy").attempts).toBeUndefined();
  });

  it("serves one attempt's part of the raw log, and says so when there is no such attempt", async () => {
    const base = `${originalPath()}/tasks/test/log.txt`;
    const one = await web.get(`${base}?attempt=1`);
    expect(one.status).toBe(200);
    expect(one.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(one.headers.get("content-disposition")).toBe(`inline; filename="default-flaky-${original.id}-test-attempt-1.log"`);
    const first = await one.text();
    expect(first).toContain("test attempt 1");
    expect(first).not.toContain("test attempt 2");
    const second = await (await web.get(`${base}?attempt=2`)).text();
    expect(second).toContain("test attempt 2");
    expect(second).not.toContain("test attempt 1");
    // The whole log holds both, in order.
    const whole = await (await web.get(base)).text();
    expect(whole.indexOf("test attempt 1")).toBeLessThan(whole.indexOf("test attempt 2"));

    const missing = await web.get(`${base}?attempt=3`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("text/html");
    expect(await missing.text()).toContain(`task test of run ${original.id} of default/flaky has no attempt 3 (it has attempts 1 to 2)`);
    for (const bad of ["0", "one", "-1", "1.5"]) expect({ bad, status: (await web.get(`${base}?attempt=${bad}`)).status }).toEqual({ bad, status: 400 });
  });

  it("offers both re-runs on a failed run to those who may, and neither to a viewer", async () => {
    const page = await (await web.get(originalPath())).text();
    for (const only of ["all", "failed"]) {
      expect(page).toContain(`<form method="post" action="${originalPath()}/rerun" class="inline"><input type="hidden" name="_csrf" value="${web.csrf}"/><input type="hidden" name="only" value="${only}"/>`);
    }
    expect(page).toContain(">Re-run all</button>");
    expect(page).toContain(">Re-run failed tasks</button>");
    const created = await api("/tokens", { method: "POST", body: JSON.stringify({ name: "rerun-viewer", roles: ["viewer"] }) });
    const viewer = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const viewerPage = await (await viewer.get(originalPath())).text();
    expect(viewerPage).not.toContain("/rerun");
    expect((await viewer.post(`${originalPath()}/rerun`, { only: "failed" })).status).toBe(403);
  });

  it("re-runs only the failed tasks: the new run says so, and its reused task links to and shows the original's log", async () => {
    writeFile(flag, "fixed");
    const response = await web.post(`${originalPath()}/rerun`, { only: "failed" });
    expect(response.status).toBe(303);
    const next = Number(/^\/pipelines\/default\/flaky\/runs\/(\d+)$/.exec(response.headers.get("location") ?? "")?.[1]);
    expect(next).toBeGreaterThan(original.id);
    expect((await waitForRun(api, "default/flaky", next)).state).toBe("successful");
    const rerun = await runDetail("default/flaky", next);
    expect(rerun).toMatchObject({ rerunOf: original.id, rerunOnly: "failed", version: original.version, variables: { FLAG: flag }, trigger: { kind: "web", by: expect.any(String) } });
    expect(rerun.tasks.map((task) => `${task.id} ${task.state}`)).toEqual(["build reused", "test successful", "deploy successful"]);

    const path = `/pipelines/default/flaky/runs/${next}`;
    const page = await (await web.get(path)).text();
    expect(page).toContain(`<dt>Re-run of</dt><dd class="run-rerun-of"><a href="${originalPath()}">run ${original.id}</a>: only its failed tasks (successful ones reused)</dd>`);
    const reusedLink = `<span class="task-reused-from">reused from <a href="${originalPath()}#task-build">run ${original.id}</a></span>`;
    const { row } = taskRows(page, "build");
    expect(row).toContain('<span class="badge state-reused"><span aria-hidden="true">↺</span> reused</span>');
    expect(row).toContain(reusedLink);
    // Its log section: the same link in its status line, a note, and the original run's lines.
    const section = /<section id="task-build"[\s\S]*?<\/section>/.exec(page)?.[0] ?? "";
    expect(section).toContain(reusedLink);
    expect(section).toContain(`This task was not run again: it succeeded in <a href="${originalPath()}#task-build">run ${original.id}</a>, and its log below is from that run.`);
    expect(section).toMatch(/<li id="build-L1" class="log-line log-out">.*<span class="log-text">built<\/span><\/li>/);
    expect(await (await web.get(`${path}/tasks/build/log.txt`)).text()).toContain(" built\n");
    // Its attempts are the original's.
    expect(await (await web.get(`${path}/tasks/build/log.txt?attempt=1`)).text()).toContain(" built\n");
    // The test ran here, with the build's files from the original's workspace.
    expect(await (await web.get(`${path}/tasks/test/log.txt`)).text()).toContain("tests pass with the build");
    // Nothing failed here: only "Re-run all" is offered.
    expect(page).toContain(">Re-run all</button>");
    expect(page).not.toContain("Re-run failed tasks");
  });

  it("re-runs all tasks with the same version and variables", async () => {
    const response = await web.post(`${originalPath()}/rerun`, { only: "all" });
    expect(response.status).toBe(303);
    const next = Number(response.headers.get("location")!.split("/").at(-1));
    expect((await waitForRun(api, "default/flaky", next)).state).toBe("successful");
    const rerun = await runDetail("default/flaky", next);
    expect(rerun).toMatchObject({ rerunOf: original.id, rerunOnly: "all", variables: { FLAG: flag } });
    expect(rerun.tasks.map((task) => task.state)).toEqual(["successful", "successful", "successful"]);
    expect(await (await web.get(`/pipelines/default/flaky/runs/${next}`)).text()).toContain(`<a href="${originalPath()}">run ${original.id}</a>: all tasks</dd>`);
  });

  it("says on the page why a re-run was refused, with a 409, and refuses an unknown choice", async () => {
    // The original's workspace is gone: its successful tasks' files cannot be reused.
    rmSync(join(gantry.dataDir, "workspaces", "default", "flaky", String(original.id)), { recursive: true, force: true });
    const refused = await web.post(`${originalPath()}/rerun`, { only: "failed" });
    expect(refused.status).toBe(409);
    expect(refused.headers.get("content-type")).toContain("text/html");
    const page = await refused.text();
    expect(page).toContain(`<h1>Run ${original.id} `);
    expect(page).toContain(
      `<p class="notice problem" role="alert" id="rerun-error">Could not re-run: the workspace of run ${original.id} of default/flaky was pruned, so the files of its successful tasks are gone; re-run all tasks instead.</p>`,
    );
    // The buttons are still there, to choose again.
    expect(page).toContain(">Re-run all</button>");
    const before = await runDetail("default/flaky", original.id);
    expect((await web.post(`${originalPath()}/rerun`, { only: "some" })).status).toBe(400);
    // A run that has not ended cannot be re-run either.
    const gateFlag = join(flags, "rerun-running");
    const running = await gateRun(gateFlag);
    const early = await web.post(`/pipelines/default/gate/runs/${running.id}/rerun`, { only: "all" });
    expect(early.status).toBe(409);
    expect(await early.text()).toContain(`Could not re-run: run ${running.id} of default/gate is running: only a run that has ended can be re-run.`);
    writeFile(gateFlag, "go");
    await waitForRun(api, "default/gate", running.id);
    // Nothing was started by the refusals.
    const runs = (await (await api("/pipelines/default/flaky/runs")).json()) as { runs: RunJson[] };
    expect(runs.runs.filter((run) => run.id > before.id).length).toBe(2);
  });
});
