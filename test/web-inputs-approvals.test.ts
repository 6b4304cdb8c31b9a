// Typed run inputs and approval gates in the web UI, in a real browser (Debian's Chromium
// through playwright-core) against a real server: the start form built from the pipeline's
// input schemas (select, number with its bounds, checkbox, hint), a refused start with each
// problem beside its field and the values kept, a run page that shows its inputs; a run
// waiting at a gate, decided on its run page with a comment by an admin who did not start it
// (the comment survives the page's live re-renders), refused to a viewer (no buttons, 403 on
// the route) and to the starter ("you started this run"), a rejection, a decision too late,
// and the dashboard's "Waiting for you". Screenshots at desktop and phone width.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { consoleErrors, launchBrowser, screenshot } from "./helpers/browser.ts";
import { startWithPipelines, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir } from "./helpers/temp.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(60_000);

const PIPELINES: Record<string, string> = {
  "deploy.ts": `
    import { definePipeline, run } from "gantry";
    import * as v from "valibot";
    export default definePipeline({
      id: "deploy",
      name: "Deploy",
      description: "Ships the app where you say",
      inputs: {
        env: v.picklist(["staging", "production"]),
        replicas: v.optional(v.pipe(v.number(), v.minValue(1)), 2),
        dryRun: v.boolean(),
        notes: v.optional(v.pipe(v.string(), v.description("Why"))),
      },
      tasks: {
        ship: run((ctx) => ctx.log("shipping to " + ctx.inputs.env + " x" + ctx.inputs.replicas + " dry " + ctx.inputs.dryRun)),
      },
    });`,
  "release.ts": `
    import { definePipeline, approval, run } from "gantry";
    export default definePipeline({
      id: "release",
      name: "Release",
      variables: { TARGET: "production" },
      tasks: {
        build: run((ctx) => ctx.log("built")),
        gate: approval({ needs: { build: "success" }, message: "Ship run \${GANTRY_RUN_ID} to \${TARGET}?" }),
        ship: run((ctx) => ctx.log("shipped"), { needs: { gate: "success" } }),
        undo: run((ctx) => ctx.log("cleaning up"), { needs: { gate: "failure" } }),
      },
    });`,
  "held.ts": `
    import { definePipeline, approval, run } from "gantry";
    export default definePipeline({
      id: "held",
      variables: { FLAG: "" },
      tasks: {
        build: run(async (ctx) => { while (!(await Bun.file(ctx.env.FLAG).exists())) await Bun.sleep(20); }),
        gate: approval({ needs: { build: "success" }, approvers: ["admin"], message: "Go on?" }),
      },
    });`,
};

const flags = sharedDir("gantry-flags-");

/** Turns off the browser's own checks of the page's forms (min=1 would stop a 0), so the server's show. */
const NO_VALIDATE = `for (const form of document.forms) form.noValidate = true;`;

type RunWithInputs = RunJson & { inputs: Record<string, unknown>; tasks: (RunJson["tasks"][number] & { reason?: string })[] };

let gantry: TestGantry;
let browser: Browser;
/** The admin's (the bootstrap token's) browser. */
let context: BrowserContext;
let page: Page;
let errors: string[];
/** A second admin token: it starts the gated runs, since nobody may approve their own run. */
let starterSecret: string;
let viewerSecret: string;
let admin: WebClient;

async function createToken(name: string, roles: string[]): Promise<string> {
  const response = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name, roles }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

async function runJson(pipeline: string, run: number): Promise<RunWithInputs> {
  const response = await gantry.api(`/pipelines/${pipeline}/runs/${run}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { run: RunWithInputs }).run;
}

/** Starts a run with the starter's token (through the API). */
async function startAsStarter(pipeline: string, variables: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${gantry.url}/api/v1/pipelines/${pipeline}/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${starterSecret}`, "content-type": "application/json" },
    body: JSON.stringify({ variables }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { run: { id: number } }).run.id;
}

async function gateWaits(pipeline: string, id: number): Promise<void> {
  await waitFor(async () => (await runJson(pipeline, id)).tasks.find((task) => task.id === "gate")?.state === "waiting", 15_000, "the gate to wait");
}

/** Starts a release run as the starter and waits for its gate. */
async function waitingRelease(): Promise<number> {
  const id = await startAsStarter("default/release");
  await gateWaits("default/release", id);
  return id;
}

async function browserFor(secret: string): Promise<{ context: BrowserContext; page: Page }> {
  const client = await webLogin(gantry.url, secret);
  const own = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await own.addCookies([{ name: "gantry_session", value: client.cookie, url: gantry.url }]);
  return { context: own, page: await own.newPage() };
}

beforeAll(async () => {
  gantry = await startWithPipelines(PIPELINES);
  starterSecret = await createToken("release-bot", ["admin"]);
  viewerSecret = await createToken("onlooker", ["viewer"]);
  admin = await webLogin(gantry.url, gantry.token);
  browser = await launchBrowser();
  ({ context, page } = await browserFor(gantry.token));
  errors = consoleErrors(page);
});

afterAll(async () => {
  await browser?.close();
  await gantry?.stop();
});

describe("the start form of typed inputs", () => {
  it("has a field per input as its schema says: a select, a number with its bounds and default, a checkbox, a hint", async () => {
    await page.goto(`${gantry.url}/pipelines/default/deploy`);
    const env = page.locator("select#input-env");
    expect(await env.getAttribute("name")).toBe("input.env");
    expect(await env.getAttribute("required")).not.toBeNull();
    expect(await env.locator("option").allTextContents()).toEqual(["Choose…", "staging", "production"]);
    expect(await page.locator('label[for="input-env"]').textContent()).toContain("required");

    const replicas = page.locator("input#input-replicas");
    expect(await replicas.getAttribute("type")).toBe("number");
    expect(await replicas.getAttribute("min")).toBe("1");
    expect(await replicas.inputValue()).toBe("2");
    // Optional with a default: no required mark, and the hint says the rule and the default.
    expect(await replicas.getAttribute("required")).toBeNull();
    expect(await page.locator("#input-replicas-hint").textContent()).toBe("a number, at least 1; default 2");
    expect(await replicas.getAttribute("aria-describedby")).toBe("input-replicas-hint");

    const dryRun = page.locator("input#input-dryRun");
    expect(await dryRun.getAttribute("type")).toBe("checkbox");
    expect(await dryRun.isChecked()).toBe(false);

    const notes = page.locator("input#input-notes");
    expect(await notes.getAttribute("type")).toBe("text");
    expect(await notes.getAttribute("aria-describedby")).toBe("input-notes-hint");
    expect(await page.locator("#input-notes-hint .input-description").textContent()).toBe("Why");
    // The free-text variables are still there.
    expect(await page.locator("textarea#extra-variables").count()).toBe(1);
    await screenshot(page, "start-form-inputs");
  });

  it("refuses a bad value with the problem beside its field and every typed value kept, then starts the run once fixed", async () => {
    await page.goto(`${gantry.url}/pipelines/default/deploy`);
    await page.selectOption("#input-env", "production");
    await page.check("#input-dryRun");
    await page.fill("#input-notes", "hotfix <b>for</b> the login page");
    await page.fill("#input-replicas", "0");
    await page.fill("#extra-variables", "COLOR=blue");
    // The browser would refuse 0 below min=1 itself; the server must say it too.
    await page.evaluate(NO_VALIDATE);
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/pipelines/default/deploy/runs")), page.click("button:has-text('Start run')")]);
    expect(response.status()).toBe(400);
    await page.waitForSelector("#inputs-error");
    expect(await page.locator("#inputs-error").textContent()).toContain("replicas must be at least 1");
    const replicas = page.locator("#input-replicas");
    expect(await replicas.getAttribute("aria-invalid")).toBe("true");
    expect(await replicas.getAttribute("aria-describedby")).toBe("input-replicas-hint input-replicas-error");
    expect(await page.locator("#input-replicas-error").textContent()).toContain("replicas must be at least 1");
    // The first field with a problem has the focus.
    expect(await page.evaluate("document.activeElement?.id")).toBe("input-replicas");
    // Everything as typed.
    expect(await replicas.inputValue()).toBe("0");
    expect(await page.locator("#input-env").inputValue()).toBe("production");
    expect(await page.locator("#input-dryRun").isChecked()).toBe(true);
    expect(await page.locator("#input-notes").inputValue()).toBe("hotfix <b>for</b> the login page");
    expect(await page.locator("#extra-variables").inputValue()).toBe("COLOR=blue");
    // Other fields are not marked.
    expect(await page.locator("#input-env").getAttribute("aria-invalid")).toBeNull();
    await screenshot(page, "start-form-inputs-error");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "phone-start-form-inputs-error");
    await page.setViewportSize({ width: 1280, height: 900 });

    await page.fill("#input-replicas", "3");
    await Promise.all([page.waitForURL(/\/pipelines\/default\/deploy\/runs\/1$/), page.click("button:has-text('Start run')")]);
    const run = await waitForRun(gantry.api, "default/deploy", 1);
    expect(run.state).toBe("successful");
    expect((await runJson("default/deploy", 1)).inputs).toEqual({ env: "production", replicas: 3, dryRun: true, notes: "hotfix <b>for</b> the login page" });
    await page.reload();
    const rows = await page.locator("table.run-inputs tbody tr").evaluateAll((trs) => trs.map((tr) => [tr.querySelector("th")!.textContent, tr.querySelector("td")!.textContent]));
    expect(rows).toEqual([
      ["env", "production"],
      ["replicas", "3"],
      ["dryRun", "true"],
      ["notes", "hotfix <b>for</b> the login page"],
    ]);
    expect(await page.locator("table.run-variables:not(.run-inputs)").textContent()).toContain("COLOR");
    await screenshot(page, "run-inputs");
  });

  it("sends an unchecked box as false and leaves an optional field empty", async () => {
    await page.goto(`${gantry.url}/pipelines/default/deploy`);
    await page.selectOption("#input-env", "staging");
    await Promise.all([page.waitForURL(/\/runs\/2$/), page.click("button:has-text('Start run')")]);
    expect((await runJson("default/deploy", 2)).inputs).toEqual({ env: "staging", replicas: 2, dryRun: false });
  });

  it("keeps the inputs in a re-run, and its page shows them", async () => {
    await waitForRun(gantry.api, "default/deploy", 2);
    const response = await admin.post("/pipelines/default/deploy/runs/1/rerun", { only: "all" });
    expect(response.status).toBe(303);
    const id = Number(/\/runs\/(\d+)$/.exec(response.headers.get("location") ?? "")?.[1]);
    expect((await runJson("default/deploy", id)).inputs).toEqual({ env: "production", replicas: 3, dryRun: true, notes: "hotfix <b>for</b> the login page" });
    const html = await (await admin.get(`/pipelines/default/deploy/runs/${id}`)).text();
    expect(html).toContain('<caption>Inputs</caption>');
    expect(html).toContain("hotfix &lt;b&gt;for&lt;/b&gt; the login page");
  });
});

describe("approval gates on the run page", () => {
  let waiting: number;

  beforeAll(async () => {
    waiting = await waitingRelease();
  });

  it("shows a viewer the waiting gate but no buttons, and refuses the viewer's POST", async () => {
    const viewer = await webLogin(gantry.url, viewerSecret);
    const html = await (await viewer.get(`/pipelines/default/release/runs/${waiting}`)).text();
    expect(html).toContain("waiting for approval");
    expect(html).toContain("Ship run " + waiting + " to production?");
    expect(html).not.toContain('id="decide-gate"');
    expect(html).toContain("You cannot decide this approval: deciding approvals needs the approve action");
    const refused = await viewer.post(`/pipelines/default/release/runs/${waiting}/tasks/gate/approve`, { comment: "let me" });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('id="decision-error"');
    // Nothing was decided.
    expect((await runJson("default/release", waiting)).tasks.find((task) => task.id === "gate")?.state).toBe("waiting");
    // And the dashboard has nothing waiting for a viewer.
    expect(await (await viewer.get("/")).text()).not.toContain("Waiting for you");
  });

  it("tells the starter they started this run, and refuses their own approval", async () => {
    const { context: own, page: starterPage } = await browserFor(starterSecret);
    await starterPage.goto(`${gantry.url}/pipelines/default/release/runs/${waiting}`);
    expect(await starterPage.locator("#gate-gate-refusal").textContent()).toContain("you started this run");
    expect(await starterPage.locator("#decide-gate").count()).toBe(0);
    await own.close();
    const starter = await webLogin(gantry.url, starterSecret);
    const refused = await starter.post(`/pipelines/default/release/runs/${waiting}/tasks/gate/approve`);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("you started this run");
    expect(await (await starter.get("/")).text()).not.toContain("Waiting for you");
  });

  it("lists the gate under Waiting for you on the admin's dashboard", async () => {
    await page.goto(`${gantry.url}/`);
    const card = page.locator(".dash-waiting");
    await card.waitFor();
    expect(await card.locator("h2").textContent()).toContain("Waiting for you");
    const link = card.locator("a.dash-problem-name");
    expect(await link.getAttribute("href")).toBe(`/pipelines/default/release/runs/${waiting}#gate-gate`);
    expect(await card.textContent()).toContain(`Ship run ${waiting} to production?`);
    expect(await card.textContent()).toContain("started by release-bot");
    await screenshot(page, "dashboard-waiting");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "phone-dashboard-waiting");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("lets an admin who did not start the run approve it with a comment, which survives live updates", async () => {
    await page.goto(`${gantry.url}/pipelines/default/release/runs/${waiting}`);
    expect(await page.locator(".run-waiting").textContent()).toContain("waiting for approval");
    const panel = page.locator("#gate-gate");
    expect(await panel.locator("h2").textContent()).toContain("Waiting for approval");
    expect(await panel.locator(".gate-message").textContent()).toBe(`Ship run ${waiting} to production?`);
    expect(await panel.textContent()).toContain("release-bot");
    expect(await panel.locator("time").last().getAttribute("datetime")).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await page.locator(".dag-node.state-waiting").count()).toBe(1);
    expect(await page.locator(".run-tasks .badge.state-waiting").count()).toBe(1);
    await page.fill("#decide-gate-comment", "Looks good: ship it");
    // The live region re-renders every 2 s (a mark on its summary goes with the old markup);
    // the comment being typed must stay.
    await page.evaluate(`document.querySelector(".run-summary").setAttribute("data-old", "yes")`);
    await page.locator(".run-summary[data-old]").waitFor({ state: "detached", timeout: 10_000 });
    expect(await page.locator("#decide-gate-comment").inputValue()).toBe("Looks good: ship it");
    await screenshot(page, "run-waiting-approval");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "phone-run-waiting-approval");
    await page.setViewportSize({ width: 1280, height: 900 });

    await Promise.all([page.waitForURL(/#gate-gate$/), page.click("#decide-gate-approve")]);
    const run = await waitForRun(gantry.api, "default/release", waiting);
    expect(run.state).toBe("successful");
    const json = await runJson("default/release", waiting);
    expect(json.tasks.map((task) => [task.id, task.state])).toEqual([
      ["build", "successful"],
      ["gate", "successful"],
      ["ship", "successful"],
      ["undo", "skipped"],
    ]);
    await page.reload();
    const decided = page.locator("#gate-gate");
    expect(await decided.getAttribute("class")).toContain("gate-approved");
    expect(await decided.locator(".gate-decision strong").textContent()).toBe("Approved by bootstrap");
    expect(await decided.locator(".gate-comment").textContent()).toBe("Looks good: ship it");
    expect(await page.locator("#decide-gate").count()).toBe(0);
    await screenshot(page, "run-approved");
    // Decided: gone from the dashboard.
    await page.goto(`${gantry.url}/`);
    expect(await page.locator(".dash-waiting").count()).toBe(0);
  });

  it("rejects with a comment: the gate fails with who and why, its failure branch runs; a late decision is said on the page", async () => {
    const id = await waitingRelease();
    const response = await admin.post(`/pipelines/default/release/runs/${id}/tasks/gate/reject`, { comment: "not on a Friday" });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`/pipelines/default/release/runs/${id}#gate-gate`);
    const run = await waitForRun(gantry.api, "default/release", id);
    expect(run.state).toBe("failed");
    const json = await runJson("default/release", id);
    const gate = json.tasks.find((task) => task.id === "gate")!;
    expect(gate.state).toBe("failed");
    expect(gate.reason).toBe("rejected by bootstrap: not on a Friday");
    expect(json.tasks.find((task) => task.id === "undo")?.state).toBe("successful");
    await page.goto(`${gantry.url}/pipelines/default/release/runs/${id}`);
    const decided = page.locator("#gate-gate");
    expect(await decided.getAttribute("class")).toContain("gate-rejected");
    expect(await decided.locator(".gate-decision strong").textContent()).toBe("Rejected by bootstrap");
    await screenshot(page, "run-rejected");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "phone-run-rejected");
    await page.setViewportSize({ width: 1280, height: 900 });

    const late = await admin.post(`/pipelines/default/release/runs/${id}/tasks/gate/approve`, { comment: "too late" });
    expect(late.status).toBe(409);
    const html = await late.text();
    expect(html).toContain('id="decision-error"');
    expect(html).toContain("Could not decide");
  });

  it("starts a pipeline without inputs from its form as before: a declared variable changed, and the gate's message fills it in", async () => {
    const response = await admin.post("/pipelines/default/release/runs", { "var.TARGET": "staging", extra: "" });
    expect(response.status).toBe(303);
    const id = Number(/\/runs\/(\d+)$/.exec(response.headers.get("location") ?? "")?.[1]);
    await gateWaits("default/release", id);
    const json = await runJson("default/release", id);
    expect(json.variables).toEqual({ TARGET: "staging" });
    expect(json.inputs).toEqual({});
    const html = await (await admin.get(`/pipelines/default/release/runs/${id}`)).text();
    expect(html).toContain(`Ship run ${id} to staging?`);
    expect(html).not.toContain("<caption>Inputs</caption>");
    // Started from the web by this session: its own approval is refused.
    expect(html).toContain("you started this run");
    await gantry.api(`/pipelines/default/release/runs/${id}/cancel`, { method: "POST" });
  });

  it("answers 404 for a task that is not part of the run", async () => {
    const response = await admin.post(`/pipelines/default/release/runs/1/tasks/nope/approve`);
    expect(response.status).toBe(404);
  });

  it("shows a gate that starts waiting while the page is open, live, with its form for who may decide", async () => {
    const flag = join(flags, "held-1");
    const id = await startAsStarter("default/held", { FLAG: flag });
    await page.goto(`${gantry.url}/pipelines/default/held/runs/${id}`);
    expect(await page.locator("#gate-gate").count()).toBe(0);
    writeFileSync(flag, "go");
    await page.locator("#decide-gate").waitFor({ timeout: 15_000 });
    expect(await page.locator("#gate-gate .gate-facts").textContent()).toContain("holders of the role admin (with runs:approve on this pipeline), except whoever started the run");
    expect(await page.locator(".run-waiting").count()).toBe(1);
    // Decided elsewhere (the API): the form goes and the decision shows, live.
    const response = await gantry.api(`/pipelines/default/held/runs/${id}/tasks/gate/approve`, { method: "POST", body: JSON.stringify({ comment: "from the API" }) });
    expect(response.status).toBeLessThan(300);
    await page.locator("#gate-gate.gate-approved").waitFor({ timeout: 15_000 });
    expect(await page.locator("#decide-gate").count()).toBe(0);
    expect(await page.locator("#gate-gate .gate-comment").textContent()).toBe("from the API");
  });

  it("passes axe's WCAG 2 A and AA checks in light and dark: the form with an error, a waiting gate, the dashboard", async () => {
    const id = await startAsStarter("default/held", { FLAG: join(flags, "held-2") });
    writeFileSync(join(flags, "held-2"), "go");
    await gateWaits("default/held", id);
    const axe = readFileSync(join(import.meta.dir, "..", "node_modules", "axe-core", "axe.min.js"), "utf8");
    for (const colorScheme of ["light", "dark"] as const) {
      // axe is injected by the test, so this context lifts the CSP that forbids such scripts.
      const checked = await browser.newContext({ bypassCSP: true, colorScheme });
      await checked.addCookies(await context.cookies());
      const axePage = await checked.newPage();
      const check = async (what: string) => {
        await axePage.evaluate(axe);
        const violations = await axePage.evaluate(
          `axe.run(document, { runOnly: ["wcag2a", "wcag2aa"] }).then((result) => result.violations.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")))`,
        );
        expect({ colorScheme, what, violations }).toEqual({ colorScheme, what, violations: [] });
      };
      await axePage.goto(`${gantry.url}/pipelines/default/deploy`);
      await axePage.selectOption("#input-env", "staging");
      await axePage.fill("#input-replicas", "0");
      await axePage.evaluate(NO_VALIDATE);
      await Promise.all([axePage.waitForResponse((r) => r.url().endsWith("/runs") && r.request().method() === "POST"), axePage.click("button:has-text('Start run')")]);
      await axePage.waitForSelector("#inputs-error");
      await check("start form with a problem");
      await axePage.goto(`${gantry.url}/pipelines/default/held/runs/${id}`);
      await check("run waiting for approval");
      await axePage.goto(`${gantry.url}/pipelines/default/release/runs/2`);
      await check("rejected gate");
      await axePage.goto(`${gantry.url}/`);
      await axePage.locator(".dash-waiting").waitFor();
      await check("dashboard waiting for you");
      if (colorScheme === "dark") await screenshot(axePage, "dashboard-waiting-dark");
      await checked.close();
    }
  });

  it("logged no errors in the browser console but the refused start's own 400", () => {
    expect(errors.filter((error) => !error.includes("status of 400"))).toEqual([]);
  });
});
