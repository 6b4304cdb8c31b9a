// Everything from outside, on every page and fragment: one server full of hostile values
// (a pipeline's name, description, variables and task ids in a load error, a token name
// that becomes a run's trigger, run variables, log lines, object keys, event data), then
// every page and the first message of every live stream, read as HTML. None may carry a
// tag from that data; the pages must still show it, escaped. Also: a hostile concurrency
// group in a queued run's reason, and a hostile token name in the paused banner.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { readSse, startRun, startTestGantry, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, tempDir, writeFile } from "./helpers/temp.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(60_000);

const HOSTILE = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`;
const TAGS = [/<script>alert/i, /<img src=x/i, /onerror=alert\(1\)>/i];

const PIPELINE = `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "hostile",
  name: ${JSON.stringify(HOSTILE)},
  description: ${JSON.stringify(HOSTILE)},
  variables: { SHOUT: ${JSON.stringify(HOSTILE)} },
  tasks: {
    say: run((ctx) => { console.log(ctx.env.SHOUT); console.log("\\x1b[31m" + ctx.env.EXTRA + "\\x1b[0m"); }),
  },
});`;

const GROUPED = `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "grouped",
  variables: { NAME: "", FLAG: "" },
  concurrency: { limit: 1, group: "g-\${NAME}" },
  tasks: { wait: run(async (ctx) => { while (!(await Bun.file(ctx.env.FLAG).exists())) await Bun.sleep(20); }) },
});`;

const BROKEN = `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "broken",
  tasks: { a: run(() => {}, { needs: { ${JSON.stringify(HOSTILE)}: "success" } }) },
});`;

let gantry: TestGantry;
let web: WebClient;
let runId: number;
let hostileSecret: string;

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  writeFile(join(dir, "hostile.ts"), PIPELINE);
  writeFile(join(dir, "broken.ts"), BROKEN);
  writeFile(join(dir, "grouped.ts"), GROUPED);
  gantry = await startTestGantry({ pipelinesDir: dir });
  // A token whose name is hostile starts the run: its name becomes the trigger's "by".
  const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: HOSTILE, roles: ["admin"] }) });
  expect(created.status).toBe(201);
  const { secret } = (await created.json()) as { secret: string };
  hostileSecret = secret;
  const started = await fetch(`${gantry.url}/api/v1/pipelines/default/hostile/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ variables: { EXTRA: HOSTILE } }),
  });
  expect(started.status).toBe(201);
  runId = ((await started.json()) as { run: { id: number } }).run.id;
  await waitForRun(gantry.api, "default/hostile", runId);
  const put = await gantry.api(`/pipelines/default/hostile/objects/${encodeURIComponent("<img src=x onerror=alert(1)>.txt")}`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: "bytes",
  });
  expect([201, 400]).toContain(put.status);
  web = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

function expectNoTags(where: string, html: string): void {
  for (const tag of TAGS) expect({ where, tag: tag.source, found: tag.test(html) }).toEqual({ where, tag: tag.source, found: false });
}

async function firstMessage(path: string): Promise<string> {
  const response = await fetch(`${gantry.url}${path}`, { headers: { cookie: `gantry_session=${web.cookie}`, accept: "text/event-stream" } });
  expect(response.status).toBe(200);
  const messages = readSse(response);
  const first = await messages.next();
  await messages.return(undefined);
  return first.value?.data ?? "";
}

describe("hostile values in the web UI", () => {
  const pages = () => [
    "/",
    "/pipelines",
    "/pipelines/default/hostile",
    "/pipelines/default/broken",
    `/pipelines/default/hostile/runs/${runId}`,
    "/pipelines/default/hostile/objects",
    "/events",
    "/tokens",
    "/tokens?revoked=1",
    "/secrets",
    "/extensions",
  ];

  it("are escaped on every page, and still shown", async () => {
    const seen: string[] = [];
    for (const path of pages()) {
      const response = await web.get(path);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      const html = await response.text();
      expectNoTags(path, html);
      if (html.includes("&lt;script&gt;alert(1)&lt;/script&gt;")) seen.push(path);
    }
    // The hostile name, description, variables, log lines, trigger and events are displayed.
    for (const path of ["/", "/pipelines", "/pipelines/default/hostile", `/pipelines/default/hostile/runs/${runId}`, "/events", "/tokens"]) {
      expect(seen).toContain(path);
    }
  });

  it("are escaped in a load error naming a hostile task", async () => {
    const html = await (await web.get("/pipelines/default/broken")).text();
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  it("are escaped in the first message of every live stream", async () => {
    const streams = [
      "/live/dashboard",
      `/pipelines/default/hostile/runs/${runId}/live`,
      "/events/stream?after=0",
    ];
    for (const path of streams) {
      const data = await firstMessage(path);
      expect(data.length).toBeGreaterThan(0);
      expectNoTags(path, data);
    }
  });

  it("are served as plain text in the raw log", async () => {
    const response = await web.get(`/pipelines/default/hostile/runs/${runId}/tasks/say/log.txt`);
    expect(response.headers.get("content-type")).toStartWith("text/plain");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await response.text()).toContain(HOSTILE);
  });

  it("are escaped in a queued run's reason and in the paused banner", async () => {
    const flag = join(sharedDir("gantry-flags-"), "go");
    const first = await startRun(gantry.api, "default/grouped", { NAME: HOSTILE, FLAG: flag });
    const queued = await startRun(gantry.api, "default/grouped", { NAME: HOSTILE, FLAG: flag });
    expect(queued.state).toBe("queued");
    // The token with the hostile name pauses runs from the dashboard.
    const hostile = await webLogin(gantry.url, hostileSecret);
    expect((await hostile.post("/system/pause", { next: "/" })).status).toBe(303);
    try {
      for (const path of ["/", "/pipelines/default/grouped", `/pipelines/default/grouped/runs/${queued.id}`, "/events"]) {
        const html = await (await web.get(path)).text();
        expectNoTags(path, html);
        expect(html).toContain("Runs are paused</strong> (by &lt;script&gt;alert(1)&lt;/script&gt;");
      }
      const run = await (await web.get(`/pipelines/default/grouped/runs/${queued.id}`)).text();
      expect(run).toContain('<dd class="mono">g-&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</dd>');
      for (const path of ["/live/dashboard", `/pipelines/default/grouped/runs/${queued.id}/live`]) expectNoTags(path, await firstMessage(path));
      // Resumed, the queued run waits for the first one of its (hostile) group.
      expect((await hostile.post("/system/resume", { next: "/" })).status).toBe(303);
      const waiting = await (await web.get(`/pipelines/default/grouped/runs/${queued.id}`)).text();
      expectNoTags("the queued run", waiting);
      expect(waiting).toContain(`waiting for run ${first.id} of group g-&lt;script&gt;alert(1)&lt;/script&gt;`);
    } finally {
      await gantry.deps.orchestrator.resume("test clean-up");
      writeFile(flag, "go");
      await waitForRun(gantry.api, "default/grouped", queued.id);
    }
  });
});
