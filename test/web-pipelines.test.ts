// The pipelines pages on a real server: the list by namespace with last runs and load errors,
// one pipeline's page (task graph, start form, history with paging, triggers, versions),
// starting a run from the form, permissions, escaping, a pipeline's concurrency and its queued
// runs with why they wait; plus the graph layout as a pure function.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { insertRun, updateRun } from "../app/db/repos/runs.ts";
import { layoutDag, NODE_HEIGHT, NODE_WIDTH, taskDepths, type LayoutTask } from "../app/domain/dag-layout.ts";
import { DagGraph, type DagNode } from "../app/http/web/components/dag-graph.tsx";
import { parseStartForm } from "../app/http/web/pipelines.tsx";
import { startRun, startTestGantry, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, tempDir, writeFile } from "./helpers/temp.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const HOSTILE = `<script>alert(1)</script>`;
const HOSTILE_ATTR = `"><img src=x onerror=alert(1)>`;

const source = (definition: string) => `import { definePipeline, run, cron } from "gantry";\nexport default definePipeline(${definition});\n`;

const dir = tempDir("gantry-pipelines-");
const files = {
  greeter: writeFile(
    join(dir, "greeter.ts"),
    source(`{
  id: "greeter",
  name: ${JSON.stringify(`Greeter ${HOSTILE}`)},
  description: ${JSON.stringify(`Says hello ${HOSTILE} ${HOSTILE_ATTR}`)},
  variables: { GREETING: "hello", TRAP: ${JSON.stringify(HOSTILE_ATTR + HOSTILE)} },
  triggers: [cron("0 3 * * *")],
  tasks: {
    greet: run((ctx) => ctx.log(ctx.env.GREETING)),
    check: run(() => {}, { needs: { greet: "success" } }),
    page: run(() => {}, { needs: { check: "failure" } }),
    tidy: run(() => {}, { needs: { greet: "any" } }),
  },
}`),
  ),
  nightly: writeFile(join(dir, "ops", "nightly.ts"), source(`{ id: "nightly", description: "Backs things up", tasks: { dump: run(() => {}) } }`)),
  broken: writeFile(join(dir, "ops", "broken.ts"), source(`{ id: "broken", tasks: { a: run(() => {}, { timeout: "soon" }) } }`)),
  flaky: writeFile(join(dir, "flaky.ts"), source(`{ id: "flaky", tasks: { a: run(() => {}) } }`)),
  many: writeFile(join(dir, "many.ts"), source(`{ id: "many", tasks: { a: run(() => {}) } }`)),
  deploy: writeFile(
    join(dir, "deploy.ts"),
    source(`{
  id: "deploy",
  variables: { BRANCH: "main", FLAG: "" },
  concurrency: { limit: 1, group: "deploy-\${BRANCH}", queue: "latest" },
  tasks: { ship: run(async (ctx) => { while (!(await Bun.file(ctx.env.FLAG).exists())) await Bun.sleep(20); }) },
}`),
  ),
};
const flags = sharedDir("gantry-flags-");

let gantry: TestGantry;
let admin: WebClient;

async function runsOf(pipeline: string): Promise<RunJson[]> {
  const response = await gantry.api(`/pipelines/${pipeline}/runs?limit=500`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { runs: RunJson[] }).runs;
}

async function html(client: WebClient, path: string, status = 200): Promise<string> {
  const response = await client.get(path);
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("text/html");
  return response.text();
}

async function tokenWith(name: string, roles: string[]): Promise<string> {
  const response = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name, roles }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

beforeAll(async () => {
  gantry = await startTestGantry({ pipelinesDir: dir });
  admin = await webLogin(gantry.url, gantry.token);
  const nightly = await startRun(gantry.api, "ops/nightly");
  await waitForRun(gantry.api, "ops/nightly", nightly.id);
  // 55 finished runs straight into the database: paging needs more than one page of history.
  const { db } = gantry.deps;
  const key = { namespace: "default", id: "many" };
  for (let i = 1; i <= 55; i++) {
    const at = new Date(Date.now() - (60 - i) * 60_000);
    const run = await insertRun(db, key, { trigger: { kind: "api", by: "seed" }, version: 1, variables: {}, inputs: {}, tasks: [{ id: "a", kind: "run" }], concurrencyKey: null, concurrency: null }, at, { nodeId: "seed", leaseExpiresAt: at });
    const state = i % 5 === 0 ? "failed" : "successful";
    await updateRun(
      db,
      { ...key, run: run.id },
      { state, endedAt: new Date(at.getTime() + i * 100) },
      { kind: "run.finished", namespace: key.namespace, pipelineId: key.id, runId: run.id, data: { state }, at },
    );
  }
});
afterAll(() => gantry?.stop());

describe("GET /pipelines", () => {
  it("lists pipelines by namespace with their last run's state", async () => {
    const page = await html(admin, "/pipelines");
    expect(page).toMatch(/<h2 id="ns-default">[^]*default<\/h2>/);
    expect(page).toMatch(/<h2 id="ns-ops">[^]*ops<\/h2>/);
    expect(page.indexOf('id="ns-default"')).toBeLessThan(page.indexOf('id="ns-ops"'));
    const nightlyRow = page.slice(page.indexOf('href="/pipelines/ops/nightly"'), page.indexOf("</tr>", page.indexOf('href="/pipelines/ops/nightly"')));
    expect(nightlyRow).toContain("Backs things up");
    expect(nightlyRow).toContain('class="badge state-successful"');
    expect(nightlyRow).toContain('href="/pipelines/ops/nightly/runs/1"');
    expect(page).toContain('href="/pipelines/default/greeter"');
  });

  it("shows a broken file's path, issue path and message", async () => {
    const page = await html(admin, "/pipelines");
    expect(page).toContain(files.broken);
    expect(page).toContain("tasks.a.timeout");
    expect(page).toMatch(/must be milliseconds or a string like/);
    expect(page).toContain("Never loaded:");
  });

  it("says a pipeline whose file broke later still runs its last good version", async () => {
    writeFile(files.flaky, source(`{ id: "flaky", tasks: { a: run(() => {}, { needs: { nobody: "success" } }) } }`));
    await waitFor(async () => {
      const body = (await (await gantry.api("/pipelines/default/flaky")).json()) as { pipeline: { error?: unknown } };
      return body.pipeline.error !== undefined || undefined;
    });
    const list = await html(admin, "/pipelines");
    expect(list).toContain("runs use the last good version, 1.");
    const page = await html(admin, "/pipelines/default/flaky");
    expect(page).toContain("runs use the last good version, 1.");
    expect(page).toContain("tasks.a.needs.nobody");
    expect(page).toContain("unknown task &quot;nobody&quot;");
    // The last good version is still drawn and can still be started.
    expect(page).toContain('class="dag-node kind-run"');
    expect(page).toContain('action="/pipelines/default/flaky/runs"');
  });

  it("escapes hostile names and descriptions", async () => {
    const page = await html(admin, "/pipelines");
    expect(page).not.toContain(HOSTILE);
    expect(page).not.toContain("<img src=x");
    expect(page).toContain("Greeter &lt;script&gt;alert(1)&lt;/script&gt;");
  });
});

describe("GET /pipelines/:ns/:id", () => {
  it("shows what the pipeline is, its versions and its triggers", async () => {
    const page = await html(admin, "/pipelines/default/greeter");
    expect(page).toContain(files.greeter);
    expect(page).toMatch(/<dt>Version<\/dt><dd>1 \([0-9a-f]{12}\)<\/dd>/);
    expect(page).toContain('<span class="badge state-successful">current</span>');
    expect(page).toContain("cron &quot;0 3 * * *&quot;");
    expect(page).toContain('href="/pipelines/default/greeter/objects"');
    expect(page).toContain('href="/secrets"');
  });

  it("draws the task graph: a node per task, edges with their conditions", async () => {
    const page = await html(admin, "/pipelines/default/greeter");
    const svg = page.slice(page.indexOf('<svg class="dag'), page.indexOf("</svg>", page.indexOf('<svg class="dag')) + 6);
    expect(svg).toContain('role="img"');
    expect(svg).toContain('aria-label="Task graph of default/greeter, version 1"');
    expect(svg.match(/<g class="dag-node /g)).toHaveLength(4);
    for (const id of ["greet", "check", "page", "tidy"]) expect(svg).toContain(`>${id}</text>`);
    expect(svg.match(/<g class="dag-edge need-success">/g)?.length).toBeGreaterThanOrEqual(1);
    expect(svg).toContain("<title>check needs greet on success</title>");
    expect(svg).toContain("<title>page needs check on failure</title>");
    expect(svg).toContain("<title>tidy needs greet on any outcome</title>");
    expect(svg).toContain('<g class="dag-edge need-failure">');
    expect(svg).toContain('<g class="dag-edge need-any">');
    expect(svg).toContain(">needs it on failure</text>");
  });

  it("answers an unknown pipeline with an HTML 404 page", async () => {
    for (const path of ["/pipelines/default/nope", "/pipelines/default/Not_An_Id"]) {
      const page = await html(admin, path, 404);
      expect(page).toContain("<h1>Not found</h1>");
    }
  });

  it("shows the last 50 runs newest first, with a chart, and pages to older ones", async () => {
    const first = await html(admin, "/pipelines/default/many");
    const rows = [...first.matchAll(/<th scope="row"><a href="\/pipelines\/default\/many\/runs\/(\d+)">/g)].map((match) => Number(match[1]));
    expect(rows).toEqual(Array.from({ length: 50 }, (_, i) => 55 - i));
    expect(first.match(/<a href="[^"]*" tabindex="-1" class="chart-bar/g)).toHaveLength(50);
    expect(first).toContain("<title>run 10: failed, 1s</title>");
    expect(first).toContain('href="/pipelines/default/many?before=6#history"');
    expect(first).toContain("seed");

    const older = await html(admin, "/pipelines/default/many?before=6");
    const olderRows = [...older.matchAll(/<th scope="row"><a href="\/pipelines\/default\/many\/runs\/(\d+)">/g)].map((match) => Number(match[1]));
    expect(olderRows).toEqual([5, 4, 3, 2, 1]);
    expect(older).not.toContain("Older runs");
    expect(older).toContain('href="/pipelines/default/many#history"');

    await html(admin, "/pipelines/default/many?before=zero", 400);
  });

  it("shows an empty history and chart state for a pipeline never run", async () => {
    const page = await html(admin, "/pipelines/default/greeter");
    expect(page).toContain("No runs yet.");
  });
});

describe("queued runs on the pipeline page", () => {
  it("shows the pipeline's concurrency, and a queued run's place in its group and why it waits", async () => {
    const flag = join(flags, "deploy");
    const running = await startRun(gantry.api, "default/deploy", { FLAG: flag });
    const older = await startRun(gantry.api, "default/deploy", { FLAG: flag });
    const newest = await startRun(gantry.api, "default/deploy", { FLAG: flag });
    expect([older.state, newest.state]).toEqual(["queued", "queued"]);
    const page = await html(admin, "/pipelines/default/deploy");
    expect(page).toContain(
      '<dt>Concurrency</dt><dd class="pipeline-concurrency">at most 1 run at once, shared by group deploy-${BRANCH}; only the newest queued run waits (older ones are superseded)</dd>',
    );
    const row = (id: number) => new RegExp(`<tr><th scope="row"><a href="/pipelines/default/deploy/runs/${id}">[\\s\\S]*?</tr>`).exec(page)?.[0] ?? "";
    expect(row(newest.id)).toContain(
      `<td class="history-state"><span class="badge state-queued"><span aria-hidden="true">⋯</span> queued</span><span class="queue-place">position 1<span aria-hidden="true"> · </span><span class="sr-only">: </span>waiting for run ${running.id} of group deploy-main</span></td>`,
    );
    // The older queued run was superseded by the newest (queue: "latest").
    expect(row(older.id)).toContain('<span class="badge state-cancelled">');
    expect(row(older.id)).not.toContain("queue-place");
    expect(row(running.id)).toContain('<span class="badge state-running">');
    writeFile(flag, "go");
    expect((await waitForRun(gantry.api, "default/deploy", newest.id)).state).toBe("successful");
    expect(await html(admin, "/pipelines/default/deploy")).not.toContain("queue-place");
  });
});

describe("starting a run from the page", () => {
  it("starts a run with the form's variables and sends the browser to the run page", async () => {
    const page = await html(admin, "/pipelines/default/greeter");
    expect(page).toMatch(/<label for="var-GREETING">/);
    expect(page).toContain('name="var.GREETING" value="hello"');
    const response = await admin.post("/pipelines/default/greeter/runs", { "var.GREETING": "bonjour", "var.TRAP": HOSTILE_ATTR + HOSTILE, extra: "TARGET=a=b\n\n# a comment\nEMPTY=" });
    expect(response.status).toBe(303);
    const location = response.headers.get("location")!;
    expect(location).toMatch(/^\/pipelines\/default\/greeter\/runs\/\d+$/);
    const runId = Number(location.split("/").at(-1));
    const run = await waitForRun(gantry.api, "default/greeter", runId);
    // Unchanged defaults stay the pipeline's own; changed ones and extra lines are the run's.
    expect(run.variables).toEqual({ GREETING: "bonjour", TARGET: "a=b", EMPTY: "" });
    const body = (await (await gantry.api(`/pipelines/default/greeter/runs/${runId}`)).json()) as { run: { trigger: { kind: string; by: string } } };
    expect(body.run.trigger).toEqual({ kind: "web", by: "bootstrap" });
  });

  it("refuses a bad variable line with 400, the message, and the input kept", async () => {
    const before = (await runsOf("default/greeter")).length;
    for (const [extra, message] of [
      ["OK=1\nno equals sign here", 'Extra variables, line 2: &quot;no equals sign here&quot; has no &quot;=&quot;'],
      ["1BAD=x", "Extra variables, line 1: &quot;1BAD&quot; must be a valid environment variable name"],
      ["GANTRY_RUN_ID=7", "GANTRY_* names are reserved"],
    ] as const) {
      const response = await admin.post("/pipelines/default/greeter/runs", { "var.GREETING": "typed by me", extra });
      expect(response.status).toBe(400);
      const page = await response.text();
      expect(page).toContain(message);
      expect(page).toContain('role="alert"');
      expect(page).toContain('name="var.GREETING" value="typed by me"');
      expect(page).toContain(`${Bun.escapeHTML(extra)}</textarea>`);
    }
    expect(await runsOf("default/greeter")).toHaveLength(before);
  });

  it("refuses a post without the CSRF token, starting nothing", async () => {
    const before = (await runsOf("default/greeter")).length;
    const response = await fetch(`${gantry.url}/pipelines/default/greeter/runs`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${admin.cookie}`, accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ "var.GREETING": "sneaky" }).toString(),
    });
    expect(response.status).toBe(403);
    expect(await runsOf("default/greeter")).toHaveLength(before);
  });

  it("escapes outside text: description, variable defaults and who started a run", async () => {
    const hostile = await webLogin(gantry.url, await tokenWith(HOSTILE_ATTR + HOSTILE, ["admin"]));
    const response = await hostile.post("/pipelines/default/greeter/runs", {});
    expect(response.status).toBe(303);
    await waitForRun(gantry.api, "default/greeter", Number(response.headers.get("location")!.split("/").at(-1)));
    const page = await html(admin, "/pipelines/default/greeter");
    expect(page).not.toContain(HOSTILE);
    expect(page).not.toContain("<img src=x");
    expect(page).toContain("by &quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).toContain('value="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(page).toContain("Says hello &lt;script&gt;");
  });

  it("shows a viewer the page without the form, and refuses its post", async () => {
    const viewer = await webLogin(gantry.url, await tokenWith("watcher", ["viewer"]));
    const before = (await runsOf("default/greeter")).length;
    const page = await html(viewer, "/pipelines/default/greeter");
    expect(page).toContain("Run history");
    expect(page).toContain('<svg class="dag');
    expect(page).not.toContain("Start a run");
    expect(page).not.toContain('action="/pipelines/default/greeter/runs"');
    const response = await viewer.post("/pipelines/default/greeter/runs", { "var.GREETING": "nope" });
    expect(response.status).toBe(403);
    expect(await runsOf("default/greeter")).toHaveLength(before);
  });

  it("hides the history from a token that may read pipelines but not runs", async () => {
    const role = await gantry.api("/roles/pipeline-reader", {
      method: "PUT",
      body: JSON.stringify({ description: "pipelines only", permissions: [{ resource: "pipelines", target: ".*", actions: ["read"] }] }),
    });
    expect(role.status).toBeLessThan(300);
    const reader = await webLogin(gantry.url, await tokenWith("reader", ["pipeline-reader"]));
    const page = await html(reader, "/pipelines/default/greeter");
    expect(page).toContain("Greeter");
    expect(page).not.toContain("Run history");
    expect(page).not.toContain("Start a run");
  });
});

describe("parseStartForm", () => {
  it("keeps only changed declared values and lets extra lines win", () => {
    expect(parseStartForm({ A: "1", B: "2" }, { A: "1", B: "3" }, "C=x=y\r\nB=4\n")).toEqual({ variables: { B: "4", C: "x=y" } });
  });
  it("names the line of a bad entry", () => {
    expect(parseStartForm({}, {}, "\nA=1\noops")).toEqual({ error: 'Extra variables, line 3: "oops" has no "="; write NAME=value.' });
  });
});

describe("layoutDag", () => {
  const chain = (ids: string[], needs: Record<string, Record<string, "success" | "failure" | "any">>): LayoutTask[] =>
    ids.map((id) => ({ id, needs: needs[id] ?? {} }));

  const overlaps = (a: { x: number; y: number }, b: { x: number; y: number }) =>
    a.x < b.x + NODE_WIDTH && b.x < a.x + NODE_WIDTH && a.y < b.y + NODE_HEIGHT && b.y < a.y + NODE_HEIGHT;

  function expectNoOverlap(layout: ReturnType<typeof layoutDag>) {
    for (let i = 0; i < layout.nodes.length; i++) {
      for (let j = i + 1; j < layout.nodes.length; j++) expect(overlaps(layout.nodes[i]!, layout.nodes[j]!)).toBe(false);
    }
  }

  it("puts each task in the column of its longest path from a root", () => {
    const tasks = chain(["a", "b", "c", "d", "e"], { b: { a: "success" }, c: { b: "success" }, d: { a: "any", c: "failure" }, e: {} });
    expect(Object.fromEntries(taskDepths(tasks))).toEqual({ a: 0, b: 1, c: 2, d: 3, e: 0 });
    const layout = layoutDag(tasks);
    expect(layout.columns).toBe(4);
    const column = Object.fromEntries(layout.nodes.map((node) => [node.id, node.column]));
    expect(column).toEqual({ a: 0, b: 1, c: 2, d: 3, e: 0 });
    const x = Object.fromEntries(layout.nodes.map((node) => [node.id, node.x]));
    expect(x.a).toBeLessThan(x.b!);
    expect(x.b).toBeLessThan(x.c!);
    expect(x.a).toBe(x.e!);
  });

  it("routes an edge that skips columns through a free slot, clear of every task", () => {
    const layout = layoutDag(chain(["a", "b", "c", "d"], { b: { a: "success" }, c: { b: "success" }, d: { a: "any", c: "success" } }));
    const long = layout.edges.find((edge) => edge.from === "a" && edge.to === "d")!;
    expect(long.condition).toBe("any");
    expect(long.points).toHaveLength(6);
    for (const point of long.points.slice(1, -1)) {
      for (const node of layout.nodes) {
        const inside = point.x > node.x && point.x < node.x + NODE_WIDTH && point.y >= node.y && point.y <= node.y + NODE_HEIGHT;
        expect(inside).toBe(false);
      }
    }
    expect(layout.height).toBeGreaterThan(NODE_HEIGHT * 2);
  });

  it("orders rows to follow their parents instead of the input order", () => {
    // x needs b (the lower root), y needs a (the upper one): drawn in input order they would cross.
    const layout = layoutDag(chain(["a", "b", "x", "y"], { x: { b: "success" }, y: { a: "success" } }));
    const y = Object.fromEntries(layout.nodes.map((node) => [node.id, node.y]));
    expect(y.a).toBeLessThan(y.b!);
    expect(y.y).toBeLessThan(y.x!);
  });

  it("handles a wide fan-out and a random 150-task graph without overlapping boxes", () => {
    const fan: LayoutTask[] = [{ id: "prepare", needs: {} }];
    for (let i = 0; i < 120; i++) fan.push({ id: `shard-${i}`, needs: { prepare: "success" } });
    fan.push({ id: "report", needs: Object.fromEntries(fan.slice(1).map((task) => [task.id, "any" as const])) });
    const wide = layoutDag(fan);
    expect(wide.nodes).toHaveLength(122);
    expect(wide.edges).toHaveLength(240);
    expect(wide.columns).toBe(3);
    expectNoOverlap(wide);
    // The fan's source stays near the top rather than 60 rows down.
    expect(wide.nodes.find((node) => node.id === "prepare")!.y).toBeLessThan(4 * NODE_HEIGHT);

    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const tasks: LayoutTask[] = [];
    for (let i = 0; i < 150; i++) {
      const needs: LayoutTask["needs"] = {};
      for (let n = 0; n < 3 && i > 0; n++) needs[`t${Math.floor(random() * i)}`] = (["success", "failure", "any"] as const)[Math.floor(random() * 3)]!;
      tasks.push({ id: `t${i}`, needs });
    }
    const started = performance.now();
    const layout = layoutDag(tasks);
    expect(performance.now() - started).toBeLessThan(200);
    expect(layout.nodes).toHaveLength(150);
    expectNoOverlap(layout);
    for (const node of layout.nodes) {
      expect(node.x + NODE_WIDTH).toBeLessThanOrEqual(layout.width);
      expect(node.y + NODE_HEIGHT).toBeLessThanOrEqual(layout.height);
    }
  });

  it("draws nothing for no tasks", () => {
    expect(layoutDag([])).toEqual({ nodes: [], edges: [], columns: 0, width: 0, height: 0 });
  });
});

describe("DagGraph", () => {
  const longId = "integration-tests-against-the-staging-cluster";
  const tasks: DagNode[] = [
    { id: "build", kind: "container", needs: {}, state: "successful", detail: "12s" },
    { id: longId, kind: "run", needs: { build: "success" }, state: "failed", detail: "exit 1" },
  ];

  it("links nodes when given hrefs: a group of named links", () => {
    const svg = String(DagGraph({ tasks, label: "Tasks of run 3", href: (id) => `/runs/3/tasks/${id}` }));
    expect(svg).toContain('role="group"');
    expect(svg).toContain('aria-label="Tasks of run 3"');
    expect(svg).toContain(`<a href="/runs/3/tasks/${longId}" class="dag-link" aria-label="${longId}: failed, exit 1; run task; needs build (success)">`);
    expect(svg).toContain('<g class="dag-node kind-container state-successful"');
    expect(svg).toContain(">✓ build</text>");
    // Long ids are cut on screen, whole in the title.
    expect(svg).toContain(">✗ integration-tes…</text>");
    expect(svg).toContain(">failed · exit 1</text>");
    expect(svg).toContain(`<title>${longId}: failed, exit 1; run task; needs build (success)</title>`);
  });

  it("is one image without hrefs", () => {
    const svg = String(DagGraph({ tasks, label: "Tasks" }));
    expect(svg).toContain('role="img"');
    expect(svg).not.toContain("<a ");
  });
});
