// Runs at a glance, in Chromium against a real server: the run page's timeline (a bar per
// attempt, a retry's pause, the critical path, moving live while the run goes on, readable
// without script and at phone width) and searching the logs on the server (the form, the
// results with their count and per-task counts, a result's line among its neighbours with the
// previous and next match, the errors/stderr filter on lines far beyond what the run page
// shows), also through the API and `gantry logs --grep`.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { axeViolations, consoleErrors, launchBrowser, screenshot } from "./helpers/browser.ts";
import { runCli } from "./helpers/cli.ts";
import { startRun, startWithPipelines, waitFor, waitForPipeline, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

// build writes 3,000 lines (the run page shows the last 2,000) with "needle" on lines 700 and
// 2,900; test fails its first attempt on stderr and passes its second; deploy holds the run
// open until the test says so.
const GLANCE = `
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "glance",
  variables: { FLAG: "" },
  tasks: {
    build: run(async () => {
      const lines = [];
      for (let i = 1; i <= 3000; i++) lines.push("build line " + i + (i === 700 || i === 2900 ? " found the Needle here" : ""));
      console.log(lines.join("\\n"));
      await Bun.sleep(400);
    }),
    lint: run(async (ctx) => { console.error("warning: unused variable x"); ctx.log("lint ok"); }),
    test: run(async (ctx) => {
      if (ctx.attempt === 1) { console.error("test error: expected 1, got 2 (needle)"); process.exit(1); }
      ctx.log("tests pass");
    }, { needs: { build: "success", lint: "success" }, retries: 1 }),
    deploy: run(async (ctx) => {
      ctx.log("deploying");
      while (!(await Bun.file(ctx.env.FLAG).exists())) await Bun.sleep(50);
      ctx.log("deployed");
    }, { needs: { test: "success" } }),
  },
});
`;

// Thirty tasks: the timeline draws them compact, names in a column beside the bars.
const WIDE = `
import { definePipeline, run } from "gantry";
const tasks = {};
for (let i = 1; i <= 30; i++) tasks["shard-with-a-long-name-" + i] = run((ctx) => ctx.log("shard " + i));
export default definePipeline({ id: "wide", parallelism: 8, tasks });
`;

const flags = sharedDir("gantry-glance-");
let gantry: TestGantry;
let browser: Browser;
let page: Page;
let errors: string[];
let runId: number;

beforeAll(async () => {
  gantry = await startWithPipelines({ "glance.ts": GLANCE, "wide.ts": WIDE });
  await waitForPipeline(gantry.api, "default/glance");
  await waitForPipeline(gantry.api, "default/wide");
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  errors = consoleErrors(page);
  await page.goto(`${gantry.url}/login`);
  await page.getByLabel("API token").fill(gantry.token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${gantry.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await gantry?.stop();
});

const runUrl = () => `${gantry.url}/pipelines/default/glance/runs/${runId}`;

describe("the run's timeline", () => {
  it("draws each attempt and the retry's pause, moves live, and marks the critical path once the run ends", async () => {
    const flag = join(flags, "deploy-now");
    runId = (await startRun(gantry.api, "default/glance", { FLAG: flag })).id;
    await page.goto(runUrl());
    await page.evaluate("window.gantryMark = 1");
    // deploy runs (an open bar) while its need's two attempts are drawn.
    const timeline = page.locator("svg.timeline");
    const deployRow = timeline.locator("a.tl-row", { has: page.locator("text.tl-label", { hasText: "deploy" }) });
    await deployRow.locator("rect.tl-attempt.tl-open").waitFor({ timeout: 20_000 });
    const testRow = timeline.locator("a.tl-row", { has: page.locator("text.tl-label", { hasText: /\btest\b/ }) });
    expect(await testRow.locator("rect.tl-attempt").count()).toBe(2);
    expect(await testRow.locator("rect.tl-attempt.state-failed").count()).toBe(1);
    expect(await testRow.locator("rect.tl-attempt.state-successful").count()).toBe(1);
    expect(await testRow.getAttribute("aria-label")).toMatch(/attempt 1: failed.*attempt 2: successful/);
    await screenshot(page, "run-timeline-running");
    const runningWidth = Number(await deployRow.locator("rect.tl-attempt").getAttribute("width").then((w) => w!.replace("%", "")));

    // It grows while deploy goes on, without a reload.
    await waitFor(
      async () => (Number((await deployRow.locator("rect.tl-attempt").getAttribute("width"))!.replace("%", "")) !== runningWidth ? true : undefined),
      10_000,
      "the running bar to move",
    );
    await Bun.write(flag, "go");
    expect((await waitForRun(gantry.api, "default/glance", runId)).state).toBe("successful");
    await page.locator("svg.timeline a.tl-critical").first().waitFor({ timeout: 10_000 });
    await waitFor(async () => ((await timeline.locator("rect.tl-open").count()) === 0 ? true : undefined), 10_000, "no open bar");
    expect(await page.evaluate("window.gantryMark")).toBe(1);
    // The run ended when deploy did; deploy waited for test, test for build (which ended after lint).
    const critical = await timeline.locator("a.tl-critical text.tl-label").allTextContents();
    expect(critical.map((label) => /◆ \S+ (\S+)/.exec(label)?.[1])).toEqual(["build", "test", "deploy"]);
    expect(await page.locator(".tl-legend").textContent()).toContain("critical path: build → test → deploy");
    // A row links to its task's log.
    expect(await deployRow.getAttribute("href")).toBe("#task-deploy");
    await screenshot(page, "run-timeline");
  });

  it("reads without script and fits a phone's screen", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 }, isMobile: true });
    await context.addCookies(await page.context().cookies());
    const phone = await context.newPage();
    await phone.goto(runUrl());
    const rows = phone.locator("svg.timeline a.tl-row");
    expect(await rows.count()).toBe(4);
    const svg = (await phone.locator("svg.timeline").boundingBox())!;
    expect(svg.width).toBeLessThanOrEqual(390);
    // Every bar lies inside the chart.
    for (const box of await phone.locator("svg.timeline rect.tl-bar").evaluateAll((bars) => bars.map((bar) => bar.getBoundingClientRect().right))) {
      expect(box).toBeLessThanOrEqual(svg.x + svg.width + 1);
    }
    const overflow = Number(await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
    expect(overflow).toBeLessThanOrEqual(1);
    await screenshot(phone, "phone-run-timeline");
    // Thirty tasks: compact rows, each name cut to its column, the page no wider.
    const wide = await startRun(gantry.api, "default/wide");
    expect((await waitForRun(gantry.api, "default/wide", wide.id)).state).toBe("successful");
    await phone.goto(`${gantry.url}/pipelines/default/wide/runs/${wide.id}`);
    const compact = phone.locator("svg.timeline.timeline-compact");
    expect(await compact.locator("a.tl-row").count()).toBe(30);
    const chart = (await compact.boundingBox())!;
    expect(chart.height).toBeLessThan(30 * 24);
    // Each name's box (which clips it) is the label column's width; the bars start after it.
    for (const width of await compact.locator("svg.tl-label-box").evaluateAll((boxes) => boxes.map((box) => (box as unknown as { width: { baseVal: { value: number } } }).width.baseVal.value))) {
      expect(width).toBeLessThanOrEqual(chart.width * 0.3 + 1);
    }
    expect(Number(await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth"))).toBeLessThanOrEqual(1);
    await phone.locator("section.run-timeline").screenshot({ path: join(import.meta.dir, "screenshots", "phone-run-timeline-wide.png") });
    // The search's pages fit too.
    for (const [name, path] of [
      ["phone-log-search", `/pipelines/default/glance/runs/${runId}/logs/search?q=needle`],
      ["phone-log-lines", `/pipelines/default/glance/runs/${runId}/tasks/build/lines?around=700&q=needle`],
    ] as const) {
      await phone.goto(`${gantry.url}${path}`);
      const wider = Number(await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
      expect({ path, wider }).toEqual({ path, wider: Math.min(wider, 1) });
      await screenshot(phone, name);
    }
    await context.close();
  });
});

describe("searching a run's logs", () => {
  it("finds lines beyond those the run page shows, counts them per task, and links each to its place", async () => {
    await page.goto(runUrl());
    // Line 700 of build is not on the run page: it shows the last 2,000 of 3,000.
    expect(await page.locator("#build-L700").count()).toBe(0);
    const form = page.getByRole("search", { name: "Search the logs of this run" });
    await form.getByLabel("Find in logs").fill("needle");
    await form.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/\/logs\/search\?q=needle/);
    expect(await page.getByRole("status").textContent()).toBe("3 matches for “needle” in 2 tasks.");
    expect(await page.locator(".log-search-tasks").textContent()).toBe("build 2test 1");
    const marks = await page.locator("mark.log-match").allTextContents();
    expect(marks).toEqual(["Needle", "Needle", "needle"]);
    await screenshot(page, "log-search");

    // The first result: line 700 among its neighbours, marked, with the next match.
    await page.getByRole("link", { name: "build line 700" }).click();
    await page.waitForURL(/\/tasks\/build\/lines\?around=700&q=needle#build-L700$/);
    expect(await page.locator("#build-L700").getAttribute("class")).toContain("log-hit");
    expect(await page.locator("#build-L700 .log-text").textContent()).toBe("build line 700 found the Needle here");
    expect(await page.locator("#build-L701").getAttribute("class")).not.toContain("log-hit");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("build: lines 550–850 of 3,000");
    await screenshot(page, "log-lines");
    await page.getByRole("link", { name: "Next match (line 2,900)" }).click();
    await page.waitForURL(/around=2900/);
    expect(await page.locator("#build-L2900 .log-text").textContent()).toBe("build line 2900 found the Needle here");
    await page.getByRole("link", { name: "Previous match (line 700)" }).click();
    await page.waitForURL(/around=700/);
    await page.getByRole("link", { name: "↓ Later lines" }).click();
    await page.waitForURL(/around=1001/);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("build: lines 851–1,151 of 3,000");
    // Past the end, it says so and leads back.
    await page.goto(`${runUrl()}/tasks/build/lines?around=9000`);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("build: no line 9,000 (the log has 3,000 lines)");
    await page.getByRole("link", { name: "Go to the last line (3,000)" }).click();
    await page.waitForURL(/around=3000/);
    expect(await page.locator("#build-L3000 .log-text").textContent()).toBe("build line 3000");
  });

  it("filters to stderr and to errors, one task or all, without script", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    await context.addCookies(await page.context().cookies());
    const plain = await context.newPage();
    await plain.goto(runUrl());
    // A task's "Errors only" link: its error lines, both attempts' parts.
    await plain.locator("#task-test").getByRole("link", { name: "Errors only (log of test)" }).click();
    await plain.waitForURL(/\/logs\/search\?only=errors&task=test$/);
    // The stderr line, and Gantry's own line saying the attempt failed.
    expect(await plain.getByRole("status").textContent()).toBe("2 matches that read as errors in test.");
    expect(await plain.locator(".log-results .log-text").allTextContents()).toEqual(["test error: expected 1, got 2 (needle)", "attempt 1 failed: exited with code 1; retrying in 1s"]);
    // The form: stderr of every task.
    await plain.getByLabel("Task").selectOption("");
    await plain.getByLabel("Lines").selectOption("stderr");
    await plain.getByRole("button", { name: "Search" }).click();
    await plain.waitForURL(/only=stderr/);
    expect(await plain.getByRole("status").textContent()).toBe("2 matches on stderr in 2 tasks.");
    expect(await plain.locator(".log-results .log-text").allTextContents()).toEqual(["warning: unused variable x", "test error: expected 1, got 2 (needle)"]);
    await context.close();
    expect(errors).toEqual([]);
  });

  it("passes axe-core's WCAG 2 A and AA checks on the results and a log's lines, light and dark", async () => {
    const run = `/pipelines/default/glance/runs/${runId}`;
    const paths = [`${run}/logs/search?q=needle`, `${run}/tasks/build/lines?around=700&q=needle`];
    for (const row of await axeViolations(browser, gantry.url, await page.context().cookies(), paths)) expect(row).toEqual({ ...row, violations: [] });
  });

  it("answers through the API and gantry logs --grep", async () => {
    const response = await gantry.api(`/pipelines/default/glance/runs/${runId}/logs/search?q=NEEDLE&task=build&limit=1`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { total: number; perTask: Record<string, number>; matches: { task: string; line: number; stream: string; text: string }[] };
    expect(body.total).toBe(2);
    expect(body.perTask).toEqual({ build: 2 });
    expect(body.matches).toHaveLength(1);
    expect(body.matches[0]).toMatchObject({ task: "build", line: 700, stream: "out", text: "build line 700 found the Needle here" });
    const empty = await gantry.api(`/pipelines/default/glance/runs/${runId}/logs/search`);
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toContain("give q");
    expect((await gantry.api(`/pipelines/default/glance/runs/${runId}/logs/search?q=x&task=nope`)).status).toBe(404);

    const server = { url: gantry.url, token: gantry.token };
    const grep = await runCli(["logs", "default/glance", String(runId), "--grep", "needle"], { server });
    expect(grep.exitCode).toBe(0);
    expect(grep.stdout).toBe("build:700: build line 700 found the Needle here\nbuild:2900: build line 2900 found the Needle here\ntest:1: test error: expected 1, got 2 (needle)\n");
    expect(grep.stderr).toBe("-- 3 matches in 2 tasks\n");
    const errorsOnly = await runCli(["logs", "default/glance", String(runId), "lint", "--only", "errors"], { server });
    expect(errorsOnly.stdout).toBe("lint:1: warning: unused variable x\n");
    // As grep: nothing found is exit 1.
    const nothing = await runCli(["logs", "default/glance", String(runId), "--grep", "no such text"], { server });
    expect(nothing.exitCode).toBe(1);
    expect(nothing.stdout).toBe("");
    expect(nothing.stderr).toBe("-- 0 matches in 0 tasks\n");
    const bad = await runCli(["logs", "default/glance", String(runId), "--only", "warnings"], { server });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--only must be stderr or errors");
  });
});
