// The web UI in a real browser (Debian's Chromium through playwright-core) against a real
// server: log in, start a run with a variable, watch its tasks turn green live without a
// reload, read a task's log while it streams, watch several running runs at once, cancel a
// long run, see a load error after breaking a pipeline file; see a task's attempts, re-run
// only the failed tasks and land on the new run with reused tasks, watch a queued run start,
// pause runs from the dashboard and resume them from another page's banner. Screenshots of
// each main page land in test/screenshots/. Its server has the machine's Docker engine, so the
// dashboard's health card is drawn and pictured as a user with Docker sees it (the suite runs
// this file with the Docker files, not beside the swarm with none).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { axeViolations, consoleErrors, launchBrowser, screenshot } from "./helpers/browser.ts";
import { startWithPipelines, waitFor, waitForPipeline, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const GREETER = `
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "greeter",
  name: "Greeter",
  description: "Says hello slowly, in colour",
  variables: { NAME: "world" },
  tasks: {
    prepare: run(async (ctx) => { ctx.log("preparing"); await Bun.sleep(1500); }),
    greet: run(async (ctx) => {
      for (let i = 1; i <= 8; i++) { ctx.log("\\u001b[32mhello " + ctx.env.NAME + "\\u001b[0m line " + i); await Bun.sleep(400); }
    }, { needs: { prepare: "success" } }),
    report: run(async (ctx) => ctx.log("done"), { needs: { greet: "success" } }),
  },
});
`;

const flags = sharedDir("gantry-flags-");
/** The chatty task talks until the test is done with it: its log stays live however slow the machine. */
const CHATTY_DONE = join(flags, "chatty-done");
const CHATTY = `
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "chatty",
  tasks: {
    talk: run(async () => {
      for (let i = 1; i <= 400 || (i <= 20000 && !(await Bun.file(${JSON.stringify(CHATTY_DONE)}).exists())); i++) { console.log("chatter " + i); if (i % 10 === 0) await Bun.sleep(60); }
    }),
  },
});
`;

const SLOW = `
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "slow",
  tasks: { wait: run(async (ctx) => { ctx.log("waiting a long time"); await Bun.sleep(120_000); }) },
});
`;

const DUET = `
import { definePipeline, run } from "gantry";
const talk = (name) => run(async () => {
  for (let i = 1; i <= 40; i++) { console.log(name + " says " + i); await Bun.sleep(100); }
});
export default definePipeline({ id: "duet", tasks: { alpha: talk("alpha"), beta: talk("beta") } });
`;

const FLAKY = `
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "flaky",
  name: "Flaky tests",
  tasks: {
    build: run(async (ctx) => { await Bun.write(ctx.workspace + "/built.txt", "the build"); ctx.log("compiled 42 files"); }),
    lint: run((ctx) => ctx.log("no warnings")),
    test: run(async (ctx) => {
      ctx.log("running the tests, attempt " + ctx.attempt);
      if (!(await Bun.file(ctx.env.FLAG).exists())) { console.error("expected 200, got 500"); process.exit(3); }
      ctx.log("all tests pass with " + (await Bun.file(ctx.workspace + "/built.txt").text()));
    }, { needs: { build: "success" }, retries: 1 }),
    deploy: run((ctx) => ctx.log("deployed"), { needs: { test: "success", lint: "success" } }),
  },
});
`;

const ONE_AT_A_TIME = `
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "deploy",
  name: "Deploy",
  variables: { BRANCH: "main", FLAG: "" },
  concurrency: { limit: 1, group: "deploy-\${BRANCH}" },
  tasks: { ship: run(async (ctx) => { ctx.log("shipping"); while (!(await Bun.file(ctx.env.FLAG).exists())) await Bun.sleep(50); }) },
});
`;

/** Pages of the durable engine's features, checked by the keyboard and axe tests too. */
const enginePages: string[] = [];

interface RunBody {
  run: { state: string };
}

let gantry: TestGantry;
let browser: Browser;
let page: Page;
let errors: string[];

beforeAll(async () => {
  gantry = await startWithPipelines({ "greeter.ts": GREETER, "slow.ts": SLOW, "chatty.ts": CHATTY, "flaky.ts": FLAKY, "deploy.ts": ONE_AT_A_TIME });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  errors = consoleErrors(page);
  page.on("dialog", (dialog) => void dialog.accept());
});

/** axe-core's WCAG 2 A and AA checks (contrast included) of pages, in light and dark. */
async function checkPages(paths: string[]): Promise<void> {
  for (const row of await axeViolations(browser, gantry.url, await page.context().cookies(), paths)) expect(row).toEqual({ ...row, violations: [] });
}

afterAll(async () => {
  await browser?.close();
  await gantry?.stop();
});

describe("the web UI in Chromium", () => {
  it("logs in with a token through the form", async () => {
    await page.goto(`${gantry.url}/pipelines`);
    expect(new URL(page.url()).pathname).toBe("/login");
    await screenshot(page, "login");
    await page.getByLabel("API token").fill(gantry.token);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${gantry.url}/pipelines`);
    const heading = page.getByRole("heading", { level: 1 });
    await heading.waitFor();
    expect(await heading.textContent()).toBe("Pipelines");
    await screenshot(page, "pipelines");
  });

  it("starts a run with a variable and watches its tasks turn green live", async () => {
    await page.goto(`${gantry.url}/pipelines/default/greeter`);
    await screenshot(page, "pipeline");
    await page.getByLabel("NAME", { exact: true }).fill("Chromium <b>friend</b>");
    await page.getByRole("button", { name: /start/i }).click();
    await page.waitForURL(/\/pipelines\/default\/greeter\/runs\/\d+$/);
    // Marks this document: a reload would lose the mark.
    await page.evaluate("window.gantryMark = 1");

    // The greet task's log streams while the task runs.
    const log = page.locator("#task-greet");
    await log.getByText("hello Chromium <b>friend</b> line 2").waitFor({ timeout: 20_000 });
    const runId = Number(page.url().split("/").pop());
    const midway = (await (await gantry.api(`/pipelines/default/greeter/runs/${runId}`)).json()) as RunBody;
    expect(midway.run.state).toBe("running");
    await screenshot(page, "run-running");

    // Every task turns successful in the page, without reloading.
    await page.locator(".run-live .state-successful", { hasText: "successful" }).first().waitFor({ timeout: 30_000 });
    await waitFor(async () => ((await page.locator("table.run-tasks .state-successful").count()) === 3 ? true : undefined), 30_000, "three green tasks");
    expect(await page.evaluate("window.gantryMark")).toBe(1);
    await log.getByText("hello Chromium <b>friend</b> line 8").waitFor();
    // The variable reached the task, as text: the page holds no <b> element from it.
    expect(await page.locator("#task-greet b").count()).toBe(0);
    // ANSI colours became markup.
    expect(await log.locator(".ansi-fg-green").count()).toBeGreaterThan(0);
    await screenshot(page, "run-finished");
  });

  it("follows a streaming log's tail until the reader scrolls up", async () => {
    await page.goto(`${gantry.url}/pipelines/default/chatty`);
    await page.getByRole("button", { name: /start/i }).click();
    await page.waitForURL(/\/pipelines\/default\/chatty\/runs\/\d+$/);
    const pane = page.locator("#task-talk .log-pane");
    const distanceFromBottom = async () => Number(await pane.evaluate((element) => element.scrollHeight - element.scrollTop - element.clientHeight));
    await pane.getByText("chatter 100", { exact: true }).waitFor({ timeout: 20_000 });
    expect(await distanceFromBottom()).toBeLessThan(40);
    // The reader scrolls up: the pane stays where they put it while lines keep coming, even
    // when new lines land before the scroll's own event (as here, in the same task).
    await pane.evaluate((element) => {
      element.scrollTo(0, 0);
      element.ownerDocument.dispatchEvent(new Event("htmx:after:swap"));
    });
    await page.getByRole("button", { name: /follow/i }).waitFor();
    await pane.getByText("chatter 300", { exact: true }).waitFor({ timeout: 20_000 });
    expect(Number(await pane.evaluate((element) => element.scrollTop))).toBe(0);
    // Follow takes it back to the end, and it keeps up from there.
    await page.getByRole("button", { name: /follow/i }).click();
    await pane.getByText("chatter 400", { exact: true }).waitFor({ timeout: 20_000 });
    await waitFor(async () => ((await distanceFromBottom()) < 40 ? true : undefined), 5_000, "the pane at its end");
    writeFile(CHATTY_DONE, "done");
  });

  it("cancels a long run", async () => {
    await page.goto(`${gantry.url}/pipelines/default/slow`);
    await page.getByRole("button", { name: /start/i }).click();
    await page.waitForURL(/\/pipelines\/default\/slow\/runs\/\d+$/);
    await page.locator("#task-wait").getByText("waiting a long time").waitFor({ timeout: 20_000 });
    await page.getByRole("button", { name: /cancel/i }).click();
    await page.locator(".run-live .state-cancelled").first().waitFor({ timeout: 20_000 });
    const runId = Number(new URL(page.url()).pathname.split("/").pop());
    const run = (await (await gantry.api(`/pipelines/default/slow/runs/${runId}`)).json()) as RunBody;
    expect(run.run.state).toBe("cancelled");
    await screenshot(page, "run-cancelled");
  });

  it("shows a load error after a pipeline file breaks", async () => {
    writeFile(join(gantry.pipelinesDir, "slow.ts"), SLOW.replace("tasks:", "taskz:"));
    await waitFor(async () => (((await (await gantry.api("/pipelines/default/slow")).json()) as { pipeline: { error?: unknown } }).pipeline.error ? true : undefined), 20_000, "load error");
    await page.goto(`${gantry.url}/pipelines`);
    const row = page.getByText("slow.ts").first();
    await row.waitFor();
    await page.getByText(/taskz/).first().waitFor();
    await screenshot(page, "pipelines-load-error");
  });

  it("shows new runs on the dashboard and new events on /events as they happen", async () => {
    // Both live streams must be connected before anything happens: wait for their answers.
    const dashboardStream = page.waitForResponse((response) => new URL(response.url()).pathname === "/live/dashboard");
    await page.goto(`${gantry.url}/`);
    const events = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await events.context().addCookies(await page.context().cookies());
    const eventsStream = events.waitForResponse((response) => new URL(response.url()).pathname === "/events/stream");
    await events.goto(`${gantry.url}/events`);
    for (const stream of await Promise.all([dashboardStream, eventsStream])) expect(stream.status()).toBe(200);
    const response = await gantry.api("/pipelines/default/greeter/runs", { method: "POST", body: JSON.stringify({ variables: { NAME: "live" } }) });
    const { run } = (await response.json()) as { run: { id: number } };
    const runLink = `a[href="/pipelines/default/greeter/runs/${run.id}"]`;
    await page.locator(runLink).first().waitFor({ timeout: 15_000 });
    await events.locator(`#event-rows ${runLink}`).first().waitFor({ timeout: 15_000 });
    await screenshot(events, "events-live");
    await events.close();
  });

  it("streams three running runs and the dashboard at once, with connections to spare", async () => {
    // Browsers open six HTTP/1.1 connections per host, for all tabs together: each run page
    // must hold one, or a few of them stop every other page from loading.
    writeFile(join(gantry.pipelinesDir, "duet.ts"), DUET);
    await waitForPipeline(gantry.api, "default/duet");
    // One browser context: its tabs share the connections, as a person's do.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const dashboard = await context.newPage();
    const dashboardErrors = consoleErrors(dashboard);
    await dashboard.goto(`${gantry.url}/login`);
    await dashboard.getByLabel("API token").fill(gantry.token);
    await dashboard.getByRole("button", { name: "Log in" }).click();
    await dashboard.waitForURL(`${gantry.url}/`);
    const runs: { id: number; tab: Page; errors: string[]; streams: string[] }[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await gantry.api("/pipelines/default/duet/runs", { method: "POST", body: "{}" });
      const { run } = (await response.json()) as { run: { id: number } };
      const tab = await context.newPage();
      const streams: string[] = [];
      tab.on("request", (request) => {
        if (request.headers().accept?.includes("text/event-stream")) streams.push(new URL(request.url()).pathname);
      });
      runs.push({ id: run.id, tab, errors: consoleErrors(tab), streams });
      await tab.goto(`${gantry.url}/pipelines/default/duet/runs/${run.id}`);
      await tab.evaluate("window.gantryMark = 1");
    }
    // Every page receives both tasks' lines while they run, each in its own pane.
    for (const { tab } of runs) {
      for (const task of ["alpha", "beta"]) await tab.locator(`#lines-${task}`).getByText(`${task} says 8`, { exact: true }).waitFor({ timeout: 20_000 });
    }
    const midway = (await (await gantry.api(`/pipelines/default/duet/runs/${runs[2]!.id}`)).json()) as RunBody;
    expect(midway.run.state).toBe("running");
    // A plain page load in the same browser still goes through at once.
    const other = await context.newPage();
    const started = Date.now();
    const response = await other.goto(`${gantry.url}/pipelines`, { timeout: 10_000 });
    expect(response?.status()).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    await other.close();
    await screenshot(runs[0]!.tab, "run-duet-running");

    for (const { id, tab, errors, streams } of runs) {
      await waitFor(async () => ((await tab.locator("table.run-tasks .state-successful").count()) === 2 ? true : undefined), 30_000, `run ${id} green`);
      await tab.locator(".run-live .run-state-line .state-successful").waitFor();
      for (const task of ["alpha", "beta"]) {
        const lines = tab.locator(`#lines-${task} li.log-line`);
        await lines.getByText(`${task} says 40`, { exact: true }).waitFor({ timeout: 5_000 });
        // Every line once, in order, numbered, in its own pane.
        const ids = await lines.evaluateAll((items) => items.map((item) => item.id));
        expect(ids).toEqual(Array.from({ length: 40 }, (_, n) => `${task}-L${n + 1}`));
      }
      expect(await tab.evaluate("window.gantryMark")).toBe(1);
      expect(streams).toEqual([`/pipelines/default/duet/runs/${id}/live`]);
      expect(errors).toEqual([]);
    }
    expect(dashboardErrors).toEqual([]);
    await context.close();
  });

  it("shows a task's attempts, re-runs only the failed tasks and lands on the new run with reused tasks", async () => {
    const flag = join(flags, "flaky");
    const response = await gantry.api("/pipelines/default/flaky/runs", { method: "POST", body: JSON.stringify({ variables: { FLAG: flag } }) });
    const { run } = (await response.json()) as { run: { id: number } };
    const path = `/pipelines/default/flaky/runs/${run.id}`;
    await page.goto(`${gantry.url}${path}`);
    await page.locator(".run-live .run-state-line .state-failed").waitFor({ timeout: 20_000 });
    // Both attempts of the test, each with its exit code, reason and log.
    const attempts = page.getByRole("list", { name: "Attempts of test" });
    await attempts.waitFor();
    expect(await attempts.getByRole("listitem").count()).toBe(2);
    expect(await attempts.getByText("Attempt 2", { exact: true }).count()).toBe(1);
    expect(await attempts.getByRole("link", { name: "Log of attempt 1 of test" }).getAttribute("href")).toBe(`${path}/tasks/test/log.txt?attempt=1`);
    await screenshot(page, "run-attempts");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "run-attempts-dark");
    await page.emulateMedia({ colorScheme: "light" });
    enginePages.push(path);

    writeFile(flag, "fixed");
    await page.getByRole("button", { name: "Re-run failed tasks" }).click();
    await page.waitForURL(new RegExp(`/pipelines/default/flaky/runs/(?!${run.id}$)\\d+$`));
    const rerunPath = new URL(page.url()).pathname;
    await page.locator(".run-live .run-state-line .state-successful").waitFor({ timeout: 20_000 });
    // The build and lint were reused from the first run: said, linked, and their logs shown.
    const build = page.locator("table.run-tasks tr", { has: page.locator("#task-link-build") });
    await build.locator(".state-reused").waitFor();
    expect(await build.getByRole("link", { name: `run ${run.id}` }).getAttribute("href")).toBe(`${path}#task-build`);
    await page.locator("#task-build").getByText("compiled 42 files").waitFor();
    await page.locator("#task-test").getByText("all tests pass with the build").waitFor();
    expect(await page.locator(".run-rerun-of").textContent()).toBe(`run ${run.id}: only its failed tasks (successful ones reused)`);
    await screenshot(page, "run-reused");
    enginePages.push(rerunPath);
  });

  it("shows a queued run where it stands, and turns it running live when its turn comes", async () => {
    const first = join(flags, "deploy-1");
    const second = join(flags, "deploy-2");
    const start = async (flag: string) =>
      ((await (await gantry.api("/pipelines/default/deploy/runs", { method: "POST", body: JSON.stringify({ variables: { FLAG: flag } }) })).json()) as { run: { id: number; state: string } }).run;
    const running = await start(first);
    const queued = await start(second);
    expect(queued.state).toBe("queued");
    const path = `/pipelines/default/deploy/runs/${queued.id}`;
    await page.goto(`${gantry.url}${path}`);
    await page.evaluate("window.gantryMark = 1");
    await page.getByText(`waiting for run ${running.id} of group deploy-main`).waitFor();
    await screenshot(page, "run-queued");
    const pipelinePage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await pipelinePage.context().addCookies(await page.context().cookies());
    await pipelinePage.goto(`${gantry.url}/pipelines/default/deploy`);
    await pipelinePage.locator(".history-state .queue-place").waitFor();
    await screenshot(pipelinePage, "pipeline-queued");
    await pipelinePage.close();
    // Run the first to its end: the queued one starts, and its page says so without a reload.
    writeFile(first, "go");
    await page.locator(".run-live .run-state-line .state-running").waitFor({ timeout: 20_000 });
    expect(await page.locator(".run-queue-line").count()).toBe(0);
    expect(await page.evaluate("window.gantryMark")).toBe(1);
    writeFile(second, "go");
    await page.locator(".run-live .run-state-line .state-successful").waitFor({ timeout: 20_000 });
  });

  it("pauses runs from the dashboard, shows the banner on another page, and resumes from it", async () => {
    await page.goto(`${gantry.url}/`);
    await page.getByRole("button", { name: "Pause runs" }).click();
    await page.waitForURL(`${gantry.url}/`);
    const banner = page.locator("#paused-banner");
    await banner.waitFor();
    expect(await banner.textContent()).toContain("Runs are paused (by bootstrap, since just now): new runs wait in the queue.");
    // The dashboard's own switch now resumes.
    await page.locator(".dash-health").getByRole("button", { name: "Resume runs" }).waitFor();
    // A run started now waits in the queue, and the dashboard says why.
    const response = await gantry.api("/pipelines/default/greeter/runs", { method: "POST", body: JSON.stringify({}) });
    const { run } = (await response.json()) as { run: { id: number; state: string } };
    expect(run.state).toBe("queued");
    await page.getByText("Gantry is paused: new runs wait until it is resumed").waitFor({ timeout: 15_000 });
    await screenshot(page, "dashboard-paused");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "dashboard-paused-dark");
    await page.emulateMedia({ colorScheme: "light" });

    await page.goto(`${gantry.url}/pipelines/default/greeter`);
    await banner.waitFor();
    await screenshot(page, "paused-banner");
    await checkPages(["/", "/pipelines/default/greeter", `/pipelines/default/greeter/runs/${run.id}`]);
    await banner.getByRole("button", { name: "Resume runs" }).click();
    await page.waitForURL(`${gantry.url}/pipelines/default/greeter`);
    expect(await page.locator("#paused-banner").count()).toBe(0);
    expect(((await (await gantry.api("/system")).json()) as { paused: boolean }).paused).toBe(false);
    // Resumed, the queued run starts and finishes.
    await waitFor(async () => (((await (await gantry.api(`/pipelines/default/greeter/runs/${run.id}`)).json()) as RunBody).run.state === "successful" ? true : undefined), 30_000, "the queued run to run");
  });

  it("works from the keyboard: the first Tab reaches the skip link, every control has a name", async () => {
    const pages = ["/", "/pipelines", "/pipelines/default/greeter", "/pipelines/default/greeter/runs/1", "/secrets", "/tokens", "/extensions", "/events", ...enginePages];
    for (const path of pages) {
      await page.goto(`${gantry.url}${path}`);
      await page.keyboard.press("Tab");
      expect(await page.evaluate("document.activeElement && document.activeElement.textContent.trim()")).toBe("Skip to content");
      // Every visible form control and link has an accessible name; every page one h1.
      const unnamed = await page.evaluate(`(() => {
        const bad = [];
        for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")) {
          const labelled = el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.getAttribute("title");
          const tag = el.tagName.toUpperCase(); // SVG links say "a"
          const text = (el.textContent || "").trim();
          if (!labelled && !((tag === "A" || tag === "BUTTON") && text)) bad.push(el.outerHTML.slice(0, 120));
        }
        return bad;
      })()`);
      expect({ path, unnamed }).toEqual({ path, unnamed: [] });
      expect(await page.locator("h1").count()).toBe(1);
    }
  });

  it("passes axe-core's WCAG 2 A and AA checks (contrast included) in light and dark", async () => {
    const paths = ["/login", "/", "/pipelines", "/pipelines/default/greeter", "/pipelines/default/greeter/runs/1", "/pipelines/default/greeter/objects", "/secrets", "/tokens", "/extensions", "/events", ...enginePages];
    await checkPages(paths);
  });

  it("shows log times in the reader's own time zone", async () => {
    const context = await browser.newContext({ timezoneId: "Asia/Kolkata" });
    await context.addCookies(await page.context().cookies());
    const india = await context.newPage();
    await india.goto(`${gantry.url}/pipelines/default/greeter/runs/1`);
    await india.getByText("Times are in your time zone (UTC+05:30)").waitFor();
    const first = india.locator("#task-greet time.log-at").first();
    const utc = new Date((await first.getAttribute("datetime"))!);
    const local = new Date(utc.getTime() + 330 * 60_000).toISOString().slice(11, 23);
    expect(await first.textContent()).toBe(local);
    await context.close();
  });

  it("reads and starts runs without JavaScript", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    await context.addCookies(await page.context().cookies());
    const plain = await context.newPage();
    await plain.goto(`${gantry.url}/pipelines/default/greeter/runs/1`);
    await plain.locator("#task-greet").getByText("hello Chromium <b>friend</b> line 8").waitFor();
    await plain.goto(`${gantry.url}/pipelines/default/greeter`);
    await plain.getByLabel("NAME", { exact: true }).fill("no script");
    await plain.getByRole("button", { name: /start/i }).click();
    await plain.waitForURL(/\/pipelines\/default\/greeter\/runs\/\d+$/);
    const runId = Number(new URL(plain.url()).pathname.split("/").pop());
    const started = (await (await gantry.api(`/pipelines/default/greeter/runs/${runId}`)).json()) as { run: { variables: Record<string, string> } };
    expect(started.run.variables.NAME).toBe("no script");
    await screenshot(plain, "run-without-javascript");
    await context.close();
  });

  it("renders every main page, also at phone width, without console errors", async () => {
    for (const [name, path] of [
      ["dashboard", "/"],
      ["secrets", "/secrets"],
      ["tokens", "/tokens"],
      ["extensions", "/extensions"],
      ["events", "/events"],
    ] as const) {
      const response = await page.goto(`${gantry.url}${path}`);
      expect(response?.status()).toBe(200);
      // Docker's line settles once the engine has answered (the page does not wait for it).
      if (path === "/") await page.locator(".dash-health dt:text-is('Docker') + dd .tone-ok").waitFor();
      await screenshot(page, name);
    }
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.context().addCookies(await page.context().cookies());
    for (const [name, path] of [
      ["phone-login", "/login"],
      ["phone-dashboard", "/"],
      ["phone-pipelines", "/pipelines"],
      ["phone-pipeline", "/pipelines/default/greeter"],
      ["phone-run", "/pipelines/default/greeter/runs/1"],
      ["phone-run-attempts", enginePages[0]!],
      ["phone-run-reused", enginePages[1]!],
      ["phone-objects", "/pipelines/default/greeter/objects"],
      ["phone-secrets", "/secrets"],
      ["phone-tokens", "/tokens"],
      ["phone-extensions", "/extensions"],
      ["phone-events", "/events"],
    ] as const) {
      await phone.goto(`${gantry.url}${path}`);
      // Nothing wider than the screen except inside scrollable cards.
      const overflow = Number(await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
      expect({ path, overflow }).toEqual({ path, overflow: Math.min(overflow, 1) });
      await screenshot(phone, name);
    }
    await phone.close();
    expect(errors).toEqual([]);
  });
});
