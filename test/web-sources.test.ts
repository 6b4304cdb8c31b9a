// The sources pages on a real server against a real git server on 127.0.0.1: add a source
// through the form, sync it with the button, see its head commit; a second commit shows as a
// second version with its commit on the pipeline page and as an escaped, coloured diff; a run
// started as of the first commit; the live region's stream; bad input kept with the server's
// message; a failed sync in red; delete; a viewer who sees no forms and is refused; and the
// pages in Chromium (screenshots, axe in light and dark).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { axeViolations, consoleErrors, launchBrowser, screenshot } from "./helpers/browser.ts";
import { createGitRepo, startGitHttpServer, type GitRepo, type GitServer } from "./helpers/git-server.ts";
import { readSse, startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { tempDir } from "./helpers/temp.ts";
import { pageHtml as page, postForm as post, webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(60_000);

const HELLO = `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "hello", tasks: { a: run(async (ctx) => ctx.log("hi")) } });
`;
/** The second version: a changed line that is hostile HTML, which the diff must show escaped. */
const HELLO_TWO = `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "hello", tasks: { a: run(async (ctx) => ctx.log("<script>alert(1)</script>")) } });
`;
const SCRIPT = "<script>alert(1)</script>";

let gantry: TestGantry;
let server: GitServer;
let repo: GitRepo;
let admin: WebClient;
let repoUrl: string;
let first: string;
let second: string;

beforeAll(async () => {
  const root = tempDir("gantry-git-");
  repo = await createGitRepo(root, "team/app");
  server = await startGitHttpServer(root);
  repoUrl = `${server.url}/team/app.git`;
  gantry = await startTestGantry();
  admin = await webLogin(gantry.url, gantry.token);
});

afterAll(async () => {
  await gantry?.stop();
  await server?.stop();
});

const ADD_FORM = { name: "app", repo: "", branch: "main", path: ".gantry", namespace: "", auth: "", hookSecret: "", pollInterval: "off" };

/** The <tr> of a source in the list (and the error row after it, if any). */
function rowOf(html: string, name: string): string {
  const start = html.indexOf(`<tr id="source-${name}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  const next = html.indexOf('<tr id="source-', start + 10);
  return html.slice(start, next < 0 ? html.indexOf("</tbody>", start) : next);
}

describe("sources page", () => {
  it("lists the local folder first, and links Sources from the navigation", async () => {
    const html = await page(admin, "/sources");
    expect(html).toContain('<a href="/sources" aria-current="page">Sources</a>');
    expect(rowOf(html, "local")).toContain(gantry.pipelinesDir);
    expect(html).toContain("No git sources yet.");
    expect(html).toContain('hx-sse:connect="/live/sources"');
    expect(html).toContain("Add a source");
  });

  it("adds a source through the form, syncs it with the button and lists its head commit", async () => {
    first = await repo.commit({ ".gantry/hello.ts": HELLO, "README.md": "the app" }, { message: "Add hello", author: { name: "Ada Lovelace", email: "ada@example.com" } });
    const added = await post(admin, "/sources", { ...ADD_FORM, repo: repoUrl }, 303);
    expect(added.headers.get("location")).toBe("/sources?added=app");
    expect(await page(admin, "/sources?added=app")).toContain("Source app added; its first sync is under way.");

    const synced = await post(admin, "/sources/app/sync", { back: "list" }, 200);
    const html = await synced.text();
    // The sync the form asked for may have finished first: then the button's finds nothing new.
    expect(html).toMatch(new RegExp(`(Synced app at ${first.slice(0, 7)}: 1 new commit, 1 loaded; new versions: app/hello v1\\.|app is up to date at ${first.slice(0, 7)})`));
    const row = rowOf(html, "app");
    expect(row).toContain(`<code>${repoUrl}</code>`);
    expect(row).toContain(`href="${server.url}/team/app/commit/${first}"`);
    expect(row).toContain(`>${first.slice(0, 7)}</a>`);
    expect(row).toContain("Add hello");
    expect(row).toContain("Ada Lovelace");
    expect(row).toContain("</span> ok</span>");
    expect(row).toContain('aria-label="Sync app now"');
    expect(row).toContain('data-confirm="Delete source app?');
    expect(row).toMatch(/<td data-label="Pipelines" class="num">1<\/td>/);
  });

  it("shows a second commit as a second version with its commit, and the diff escaped", async () => {
    second = await repo.commit({ ".gantry/hello.ts": HELLO_TWO }, { message: 'Say <b>"bye"</b> & more', author: { name: "Grace Hopper", email: "grace@example.com" } });
    const synced = await (await post(admin, "/sources/app/sync", { back: "list" }, 200)).text();
    expect(synced).toContain(`Synced app at ${second.slice(0, 7)}: 1 new commit, 1 loaded; new versions: app/hello v2.`);
    expect(synced).not.toContain("<b>");
    expect(rowOf(synced, "app")).toContain("Say &lt;b&gt;&quot;bye&quot;&lt;/b&gt; &amp; more");

    const pipeline = await page(admin, "/pipelines/app/hello");
    expect(pipeline).toContain('<a href="/sources/app" class="mono">app</a>');
    expect(pipeline).toContain(`href="${server.url}/team/app/commit/${second}"`);
    expect(pipeline).toContain(`href="${server.url}/team/app/commit/${first}"`);
    const versions = pipeline.slice(pipeline.indexOf('id="versions"'));
    expect(versions.match(/<tr( class="current")?><th scope="row">/g)?.length).toBe(2);
    expect(versions).toContain("Grace Hopper");
    expect(versions).toContain("Add hello");
    expect(versions).toContain('href="/pipelines/app/hello/versions/2/diff"');
    expect(versions).toContain('href="/pipelines/app/hello/versions/1/diff"');
    // The start form offers the commit field for a pipeline of a source.
    expect(pipeline).toContain('name="commit"');

    const diff = await page(admin, "/pipelines/app/hello/versions/2/diff");
    expect(diff).not.toContain(SCRIPT);
    expect(diff).not.toContain("<b>");
    expect(diff).toContain('<code class="diff-path">hello.ts</code>');
    expect(diff).toContain("+1</span>");
    expect(diff).toContain("−1</span>");
    expect(diff).toContain('<span class="diff-line diff-hunk">@@ -1,2 +1,2 @@</span>');
    expect(diff).toContain('<span class="diff-line diff-del">-export default definePipeline({ id: &quot;hello&quot;, tasks: { a: run(async (ctx) =&gt; ctx.log(&quot;hi&quot;)) } });</span>');
    expect(diff).toContain(
      '<span class="diff-line diff-add">+export default definePipeline({ id: &quot;hello&quot;, tasks: { a: run(async (ctx) =&gt; ctx.log(&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;)) } });</span>',
    );
    expect(diff).toContain('<span class="diff-line diff-context"> import { definePipeline, run } from &quot;gantry&quot;;</span>');
    // Both commits named and linked; the other version picked in the compare form.
    expect(diff).toContain(`href="${server.url}/team/app/commit/${first}"`);
    expect(diff).toContain('<option value="1" selected="">version 1');

    // Version 1 against version 2: the same change, the other way round.
    const reverse = await page(admin, "/pipelines/app/hello/versions/1/diff?against=2");
    expect(reverse).toContain('<span class="diff-line diff-add">+export default definePipeline({ id: &quot;hello&quot;, tasks: { a: run(async (ctx) =&gt; ctx.log(&quot;hi&quot;)) } });</span>');
    // The first version against nothing: every line added.
    const firstDiff = await page(admin, "/pipelines/app/hello/versions/1/diff");
    expect(firstDiff).toContain("nothing: it is the first version");
    expect(firstDiff).toContain("diff-status-added");
    await page(admin, "/pipelines/app/hello/versions/9/diff", 404);
    await page(admin, "/pipelines/app/hello/versions/2/diff?against=x", 400);
  });

  it("shows a source's settings, pipelines and commits on its page", async () => {
    const html = await page(admin, "/sources/app");
    expect(html).toContain("<h1>Source <span class=\"mono\">app</span>");
    expect(html).toContain('<a href="/pipelines/app/hello" class="mono">app/hello</a>');
    expect(html).toContain("<code>.gantry</code>");
    expect(html).toContain("never (webhooks and Sync now only)");
    const commits = html.slice(html.indexOf('id="source-commits"'));
    expect(commits.indexOf(second.slice(0, 7))).toBeLessThan(commits.indexOf(first.slice(0, 7)));
    expect(commits.match(/<strong>loaded<\/strong>/g)?.length).toBe(2);
    const local = await page(admin, "/sources/local");
    expect(local).toContain(gantry.pipelinesDir);
    await page(admin, "/sources/nope", 404);
  });

  it("syncs from the source's own page and comes back to it", async () => {
    const html = await (await post(admin, "/sources/app/sync", { back: "source" }, 200)).text();
    expect(html).toContain(`app is up to date at ${second.slice(0, 7)}`);
    expect(html).toContain('id="source-commits"');
    const local = await (await post(admin, "/sources/local/sync", { back: "list" }, 200)).text();
    expect(local).toContain("Rescanned the local pipelines folder: 0 pipelines.");
  });

  it("starts a run as of the first commit, and the run page says which", async () => {
    const bad = await post(admin, "/pipelines/app/hello/runs", { commit: "deadbeef" }, 404);
    const badHtml = await bad.text();
    expect(badHtml).toContain("Commit: commit deadbeef is not a synced commit of source app");
    expect(badHtml).toContain('value="deadbeef"');
    const started = await post(admin, "/pipelines/app/hello/runs", { commit: first.slice(0, 10).toUpperCase() }, 303);
    const runPath = started.headers.get("location")!;
    expect(runPath).toMatch(/^\/pipelines\/app\/hello\/runs\/\d+$/);
    const run = await page(admin, runPath);
    expect(run).toContain("Version 1 as of commit ");
    expect(run).toContain(`href="${server.url}/team/app/commit/${first}"`);
    expect(run).toContain("Add hello");
    expect(run).toContain('<a href="/sources/app">app</a>');
    // Without a commit: the current version, as of the commit it came from.
    const current = await post(admin, "/pipelines/app/hello/runs", {}, 303);
    const currentRun = await page(admin, current.headers.get("location")!);
    expect(currentRun).toContain("Version 2 as of commit ");
    expect(currentRun).toContain(`href="${server.url}/team/app/commit/${second}"`);
  });

  it("names a file that fails to load in red, on the sync's page, the list and the source's page", async () => {
    // A commit that leaves the folder alone is recorded, not loaded.
    await repo.commit({ "README.md": "readme only" }, { message: "Readme only" });
    const third = await repo.commit({ ".gantry/broken.ts": "export default 42;\n" }, { message: "Add a broken pipeline" });
    const html = await (await post(admin, "/sources/app/sync", { back: "source" }, 200)).text();
    expect(html).toContain(`Synced app at ${third.slice(0, 7)}: 2 new commits, 1 loaded; no new versions.`);
    expect(html).toMatch(/Readme only<\/td><td data-label="Author">Gantry Test<\/td><td data-label="Committed">.*?<\/td><td data-label="Pipeline folder"><span class="muted">unchanged<\/span>/);
    expect(html).toContain("1 file failed to load (the last good versions keep running):");
    expect(html).toContain(`<code>.gantry/broken.ts</code> at ${third.slice(0, 7)}: `);
    // Kept on the source for whoever looks later.
    expect(html).toContain('<h2 id="last-sync">Last sync</h2>');
    expect(html).toContain("Its file has never loaded: ");
    const list = await page(admin, "/sources");
    expect(rowOf(list, "app")).toContain('<a class="source-failures" href="/sources/app#last-sync">1 file failed to load</a>');
    // The good pipeline kept its version.
    expect(await page(admin, "/pipelines/app/hello")).toMatch(/<dt>Version<\/dt><dd>2 \(/);
  });

  it("streams the list's live region", async () => {
    const controller = new AbortController();
    const response = await fetch(`${gantry.url}/live/sources`, { headers: { cookie: `gantry_session=${admin.cookie}` }, signal: controller.signal });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const messages = readSse(response);
    const firstMessage = (await messages.next()).value!;
    expect(firstMessage.data).toContain('<tr id="source-app"');
    expect(firstMessage.data).not.toContain("<html");
    controller.abort();
  });

  it("keeps what was typed and shows the server's message on bad input", async () => {
    const file = await post(admin, "/sources", { ...ADD_FORM, name: "other", repo: "file:///etc/passwd", namespace: "other" }, 400);
    const fileHtml = await file.text();
    expect(fileHtml).toContain("repo uses file://, which sources may not");
    expect(fileHtml).toContain('value="file:///etc/passwd"');
    expect(fileHtml).toContain('value="other"');
    expect(fileHtml).toContain('value="off"');
    // The field the message is about is marked, and points at it.
    expect(fileHtml).toContain('id="source-repo" name="repo" type="text" value="file:///etc/passwd" autocomplete="off" spellcheck="false" aria-describedby="source-repo-hint source-form-error" aria-invalid="true"');
    expect(fileHtml).not.toContain('id="source-name" name="name" type="text" value="other" autocomplete="off" spellcheck="false" aria-describedby="source-name-hint source-form-error"');

    const poll = await (await post(admin, "/sources", { ...ADD_FORM, name: "other", repo: repoUrl, namespace: "other", pollInterval: "1s" }, 400)).text();
    expect(poll).toContain("pollInterval must be 0 (never) or at least 5s");

    const badName = await (await post(admin, "/sources", { ...ADD_FORM, name: `Bad ${SCRIPT}`, repo: repoUrl }, 400)).text();
    expect(badName).toContain("Name: a source name must be 1-64 characters of a-z, 0-9 and -");
    expect(badName).not.toContain(SCRIPT);
    expect(badName).toContain("Bad &lt;script&gt;");

    const taken = await (await post(admin, "/sources", { ...ADD_FORM, repo: repoUrl }, 409)).text();
    expect(taken).toContain("Name: a source named app already exists");

    const namespace = await (await post(admin, "/sources", { ...ADD_FORM, name: "other", repo: repoUrl, namespace: "app" }, 409)).text();
    expect(namespace).toContain('namespace &quot;app&quot; is already the namespace of source app');

    const local = await (await post(admin, "/sources", { ...ADD_FORM, name: "local", repo: repoUrl }, 400)).text();
    expect(local).toContain("is the local pipelines folder");
  });

  it("shows a failed sync in red, with the reason, then deletes the source", async () => {
    await post(admin, "/sources", { ...ADD_FORM, name: "broken", repo: `${server.url}/team/missing.git`, pollInterval: "" }, 303);
    const failed = await post(admin, "/sources/broken/sync", { back: "list" }, 502);
    const html = await failed.text();
    expect(html).toMatch(/<p class="notice problem" role="alert">Could not sync broken: [^<]+<\/p>/);
    const row = rowOf(html, "broken");
    expect(row).toContain("</span> error</span>");
    expect(row).toContain('<p class="source-error" role="note"><strong>Last sync failed:</strong>');
    // The poll interval left empty took its default.
    expect(await page(admin, "/sources/broken")).toContain("every 1m");

    const deleted = await post(admin, "/sources/broken/delete", {}, 303);
    expect(deleted.headers.get("location")).toBe("/sources?deleted=broken");
    const after = await page(admin, "/sources?deleted=broken");
    expect(after).toContain("Source broken deleted");
    expect(after).not.toContain('<tr id="source-broken"');
    expect((await post(admin, "/sources/local/delete", {}, 400)).status).toBe(400);
  });

  it("refuses a form without the CSRF token", async () => {
    const response = await fetch(`${gantry.url}/sources/app/delete`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${admin.cookie}`, "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: "",
    });
    expect(response.status).toBe(403);
    expect(await page(admin, "/sources")).toContain('<tr id="source-app"');
  });

  it("shows a viewer the sources without forms, and refuses its posts", async () => {
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "source-viewer", roles: ["viewer"] }) });
    expect(created.status).toBe(201);
    const viewer = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const html = await page(viewer, "/sources");
    expect(html).toContain('<tr id="source-app"');
    expect(html).not.toContain("Add a source");
    expect(html).not.toContain('aria-label="Sync');
    expect(html).not.toContain("data-confirm");
    expect(await page(viewer, "/sources/app")).not.toContain('aria-label="Sync');
    await post(viewer, "/sources", { ...ADD_FORM, name: "sneaky", repo: repoUrl }, 403);
    await post(viewer, "/sources/app/sync", {}, 403);
    await post(viewer, "/sources/app/delete", {}, 403);
    expect(await page(admin, "/sources")).not.toContain("sneaky");
  });
});

describe("sources in Chromium", () => {
  it("updates the list live as a source syncs, and renders the pages cleanly, light and dark", async () => {
    // A source whose sync failed, so the list shows its error row too.
    await post(admin, "/sources", { ...ADD_FORM, name: "gone", repo: `${server.url}/team/gone.git` }, 303);
    await post(admin, "/sources/gone/sync", {}, 502);
    const browser = await launchBrowser();
    try {
      const url = new URL(gantry.url);
      const cookie = { name: "gantry_session", value: admin.cookie, domain: url.hostname, path: "/" };
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await context.addCookies([cookie]);
      const tab = await context.newPage();
      const errors = consoleErrors(tab);
      await tab.goto(`${gantry.url}/sources`);
      await tab.getByRole("heading", { name: "Sources", level: 1 }).waitFor();
      // The live region has connected: a sync elsewhere shows its new head without a reload.
      await tab.evaluate("window.gantryMark = 1");
      await tab.waitForTimeout(300);
      const fourth = await repo.commit({ "README.md": "changed outside the folder" }, { message: "Touch the readme" });
      await gantry.deps.sources.sync("app");
      await tab.locator("#source-app", { hasText: fourth.slice(0, 7) }).waitFor({ timeout: 10_000 });
      expect(await tab.evaluate("window.gantryMark")).toBe(1);
      expect(await tab.locator("#source-gone + tr .source-error").textContent()).toContain("Last sync failed:");
      await screenshot(tab, "sources");
      await tab.goto(`${gantry.url}/sources/app`);
      await screenshot(tab, "source");
      await tab.goto(`${gantry.url}/pipelines/app/hello/versions/2/diff`);
      await tab.locator("pre.diff").first().waitFor();
      await screenshot(tab, "version-diff");
      await tab.goto(`${gantry.url}/pipelines/app/hello`);
      await screenshot(tab, "pipeline-from-source");
      expect(errors).toEqual([]);

      for (const row of await axeViolations(browser, gantry.url, [cookie], ["/sources", "/sources/app", "/pipelines/app/hello", "/pipelines/app/hello/versions/2/diff"])) expect(row).toEqual({ ...row, violations: [] });
    } finally {
      await browser.close();
    }
  });
});
