// The environments pages on a real server: create one through the form (and bad input kept with
// the server's message), change it, test the connection to an engine that answers nothing (no
// swarm needed: this file never touches the machine's swarm), what runs there now and the
// history from deployments recorded directly, Roll back (which that engine refuses), delete;
// a viewer who sees no changing forms and is refused; hostile text escaped; a namespace's own
// environment beside a shared one of that name (every link and form carrying ?namespace=), the
// registry fields, and the status a test leaves; and the pages in Chromium (screenshots, axe in
// light and dark).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { finishDeployment, insertDeployment } from "../app/db/repos/deployments.ts";
import type { DeploymentState } from "../app/domain/environments.ts";
import { axeViolations, consoleErrors, launchBrowser, screenshot } from "./helpers/browser.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { pageHtml as page, postForm as post, webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(60_000);

/** An engine address where nothing listens (the discard port). */
const NOWHERE = "tcp://127.0.0.1:9";
const SCRIPT = "<script>alert(1)</script>";
const SECRET_VALUE = "s3cret-value-never-shown";

let gantry: TestGantry;
let admin: WebClient;

beforeAll(async () => {
  gantry = await startTestGantry();
  admin = await webLogin(gantry.url, gantry.token);
  for (const name of ["DB_PASSWORD", "API_KEY"]) {
    expect((await gantry.api(`/secrets/${name}`, { method: "PUT", body: JSON.stringify({ value: SECRET_VALUE }) })).status).toBe(201);
  }
});
afterAll(() => gantry?.stop());

const FORM = { name: "staging", provider: "swarm", dockerHost: NOWHERE, secrets: "DB_PASSWORD", description: "" };

/** The <tr> of an environment in the list. */
function rowOf(html: string, name: string): string {
  const start = html.indexOf(`<tr id="environment-${name}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf("</tr>", start));
}

/** A section of a page by its heading's id, up to the next section. */
function sectionOf(html: string, id: string): string {
  const start = html.indexOf(`id="${id}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = html.indexOf("</section>", start);
  return html.slice(start, end);
}

/** Records a deployment as a run's deploy task would, ended in `state` unless running. */
async function recordDeployment(
  environment: string,
  service: string,
  image: string,
  state: DeploymentState,
  run: number,
  extra: { previousImage?: string; reason?: string } = {},
): Promise<number> {
  const { db } = gantry.deps;
  const startedAt = new Date(Date.now() - (100 - run) * 60_000);
  const id = await insertDeployment(db, { environment, service, image, namespace: "default", pipelineId: "ship", runId: run, taskId: "deploy", strategy: "rolling", startedAt });
  if (state !== "running") {
    await finishDeployment(db, id, { state, reason: extra.reason ?? null, previousImage: extra.previousImage ?? null, endedAt: new Date(startedAt.getTime() + 30_000) });
  }
  return id;
}

describe("environments page", () => {
  it("offers the create form, and links Environments from the navigation", async () => {
    const html = await page(admin, "/environments");
    expect(html).toContain('<a href="/environments" aria-current="page">Environments</a>');
    expect(html).toContain("No environments you may see.");
    expect(html).toContain("Create an environment");
    expect(html).toContain('<option value="swarm" selected="">swarm</option>');
  });

  it("creates an environment through the form, and lists it with its engine and secrets", async () => {
    const created = await post(admin, "/environments", { ...FORM, secrets: "DB_PASSWORD,\nAPI_KEY", description: `Pre-release ${SCRIPT} & more` }, 303);
    expect(created.headers.get("location")).toBe("/environments/staging?created=1");
    const html = await page(admin, "/environments/staging?created=1");
    expect(html).toContain("Environment staging created.");
    expect(html).toContain(`<code>${NOWHERE}</code>`);

    const list = await page(admin, "/environments");
    const row = rowOf(list, "staging");
    expect(row).toContain('<a href="/environments/staging" class="admin-name mono">staging</a>');
    expect(row).toContain('<td data-label="Provider">swarm</td>');
    expect(row).toContain(`<code>${NOWHERE}</code>`);
    expect(row).toContain("<code>DB_PASSWORD</code>, <code>API_KEY</code>");
    expect(row).toContain("nothing deployed yet");
    // The description is text, never markup; a secret's value is never shown.
    expect(row).toContain("Pre-release &lt;script&gt;alert(1)&lt;/script&gt; &amp; more");
    expect(list).not.toContain(SCRIPT);
    expect(list).not.toContain(SECRET_VALUE);
    expect(await page(admin, "/environments/staging")).not.toContain(SCRIPT);

    // An engine left empty is the server's own.
    await post(admin, "/environments", { ...FORM, name: "local", dockerHost: "", secrets: "" }, 303);
    const local = rowOf(await page(admin, "/environments"), "local");
    expect(local).toContain("this server&#39;s engine");
    expect(local).toContain('<td data-label="Secrets"><span class="muted">none</span></td>');
  });

  it("keeps what was typed and shows the server's message on bad input", async () => {
    const bad = await post(admin, "/environments", { name: `Bad ${SCRIPT}`, provider: "swarm", dockerHost: "http://manager:2375", secrets: "bad-name", description: "kept" }, 400);
    const html = await bad.text();
    expect(html).toContain("Name: an environment name must be 1-64 characters of a-z, 0-9 and -");
    expect(html).toContain('config.dockerHost must be &quot;unix:///path/to/docker.sock&quot; or &quot;tcp://host:port&quot;');
    expect(html).toContain("secrets: &quot;bad-name&quot; cannot be given as an environment variable");
    expect(html).not.toContain(SCRIPT);
    expect(html).toContain('value="Bad &lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(html).toContain('value="http://manager:2375"');
    expect(html).toContain(">bad-name</textarea>");
    expect(html).toContain('value="kept"');
    // The fields the message is about point at it.
    expect(html).toMatch(/id="environment-docker-host" name="dockerHost" [^>]*aria-describedby="environment-docker-host-hint environment-form-error" aria-invalid="true"/);
    expect(html).toMatch(/id="environment-description" name="description" [^>]*aria-describedby="environment-description-hint"(?! environment-form-error)/);

    const missing = await (await post(admin, "/environments", { ...FORM, name: "other", secrets: "NOT_SET" }, 400)).text();
    expect(missing).toContain("secrets: &quot;NOT_SET&quot; is not a global secret");
    expect(missing).toContain(">NOT_SET</textarea>");

    const provider = await (await post(admin, "/environments", { ...FORM, name: "other", provider: "kubernetes" }, 400)).text();
    expect(provider).toContain("provider must be one of: swarm");

    const taken = await (await post(admin, "/environments", FORM, 409)).text();
    expect(taken).toContain("Name: an environment named staging already exists");
    expect((await gantry.api("/environments/other")).status).toBe(404);
  });

  it("tests the connection to an engine that answers nothing, and says why in red", async () => {
    const html = await (await post(admin, "/environments/staging/test", {}, 200)).text();
    const problem = /<p class="notice problem" role="alert"><strong>Connection to staging failed:<\/strong> ([^<]+)<\/p>/.exec(html);
    expect(problem?.[1]).toContain("127.0.0.1:9");
    expect(html).toContain('aria-label="Test the connection to staging"');
    await post(admin, "/environments/nowhere/test", {}, 404);
  });

  it("changes the settings through the edit form", async () => {
    const before = await page(admin, "/environments/staging");
    const edit = sectionOf(before, "environment-edit");
    expect(edit).toContain(`value="${NOWHERE}"`);
    expect(edit).toContain(">DB_PASSWORD\nAPI_KEY</textarea>");

    const bad = await (await post(admin, "/environments/staging", { provider: "swarm", dockerHost: "tcp://manager", secrets: "", description: "x" }, 400)).text();
    expect(bad).toContain('config.dockerHost must name the port, like &quot;tcp://manager.internal:2375&quot;');
    expect(bad).toContain('value="tcp://manager"');

    const saved = await post(admin, "/environments/staging", { provider: "swarm", dockerHost: NOWHERE, secrets: "API_KEY", description: "Pre-release" }, 303);
    expect(saved.headers.get("location")).toBe("/environments/staging?saved=1");
    const html = await page(admin, "/environments/staging?saved=1");
    expect(html).toContain("Settings of staging saved.");
    expect(sectionOf(html, "environment-facts")).toContain("<code>API_KEY</code>");
    expect(sectionOf(html, "environment-facts")).not.toContain("DB_PASSWORD");
    expect(sectionOf(html, "environment-facts")).toContain("none: any run may deploy");
    const api = (await (await gantry.api("/environments/staging")).json()) as { environment: { secrets: string[]; description: string } };
    expect(api.environment).toMatchObject({ secrets: ["API_KEY"], description: "Pre-release" });
    await post(admin, "/environments/nowhere", { provider: "swarm" }, 404);
  });

  it("sets protection rules through the form, shows them, and keeps them on the next edit", async () => {
    const settings = { provider: "swarm", dockerHost: NOWHERE, secrets: "API_KEY", description: "Pre-release" };
    const bad = await (await post(admin, "/environments/staging", { ...settings, pipelines: "Default/Ship", wait: "soon" }, 400)).text();
    expect(bad).toContain("protection.pipelines: a pattern may hold only a-z, 0-9, -, / and *");
    expect(bad).toContain("protection.wait must be a duration like &quot;5m&quot;");
    expect(bad).toMatch(/id="environment-edit-wait" name="wait" type="text" value="soon" [^>]*aria-invalid="true"/);

    await post(admin, "/environments/staging", { ...settings, pipelines: "default/ship,\nrelease/*", branches: "main", approval: "on", wait: "90s" }, 303);
    const api = (await (await gantry.api("/environments/staging")).json()) as { environment: { protection: unknown } };
    expect(api.environment.protection).toEqual({ pipelines: ["default/ship", "release/*"], branches: ["main"], approval: true, wait: 90_000 });
    const html = await page(admin, "/environments/staging");
    const facts = sectionOf(html, "environment-facts");
    expect(facts).toContain("<li>only pipelines default/ship, release/*</li>");
    expect(facts).toContain("<li>only branches main</li>");
    expect(facts).toContain("<li>an approved approval gate</li>");
    expect(facts).toContain("<li>a 1m30s wait</li>");
    // The edit form gives them back as typed, so saving it again changes nothing.
    const edit = sectionOf(html, "environment-edit");
    expect(edit).toContain('value="default/ship, release/*"');
    expect(edit).toMatch(/name="approval" value="on" checked=""/);
    expect(edit).toContain('value="90s"');
    expect(rowOf(await page(admin, "/environments"), "staging")).toContain("protected</span>");

    // A form without the rules clears them.
    await post(admin, "/environments/staging", settings, 303);
    expect(((await (await gantry.api("/environments/staging")).json()) as { environment: { protection: unknown } }).environment.protection).toEqual({});
  });

  it("shows what runs there now with the run that deployed it, and the history with its states", async () => {
    await recordDeployment("staging", "web", "registry.local/app:1", "succeeded", 1);
    await recordDeployment("staging", "web", "registry.local/app:2", "succeeded", 2, { previousImage: "registry.local/app:1" });
    await recordDeployment("staging", "api", "registry.local/api:1", "succeeded", 3);
    await recordDeployment("staging", "web", "registry.local/app:3", "rolled_back", 4, { previousImage: "registry.local/app:2", reason: `task unhealthy ${SCRIPT}` });
    await recordDeployment("staging", "api", "registry.local/api:2", "failed", 5, { previousImage: "registry.local/api:1", reason: "no such image" });
    await recordDeployment("staging", "web", "registry.local/app:4", "running", 6, { previousImage: "registry.local/app:2" });

    const html = await page(admin, "/environments/staging");
    const now = sectionOf(html, "environment-now");
    expect(now).toContain('<tr id="service-web">');
    expect(now).toContain("<code>registry.local/app:2</code>");
    expect(now).toContain('<a href="/pipelines/default/ship/runs/2" class="mono">default/ship #2</a>');
    expect(now).toContain('<td data-label="Task"><code>deploy</code></td>');
    expect(now).toContain("<code>registry.local/api:1</code>");
    // Roll back where there is an earlier image: web (app:1), not api (its only success).
    expect(now).toContain('action="/environments/staging/services/web/rollback"');
    expect(now).not.toContain('action="/environments/staging/services/api/rollback"');

    const history = sectionOf(html, "environment-history");
    expect(history.match(/<tr id="deployment-/g)?.length).toBe(6);
    expect(history.indexOf("app:4")).toBeLessThan(history.indexOf("app:1"));
    expect(history).toContain('<span class="badge state-running deployment-state"><span aria-hidden="true">◔</span> running</span>');
    expect(history).toContain('<span class="badge state-cancelled deployment-state"><span aria-hidden="true">↺</span> rolled back</span>');
    expect(history).toContain('<span class="badge state-failed deployment-state"><span aria-hidden="true">✗</span> failed</span>');
    expect(history).toContain('<span class="badge state-successful deployment-state"><span aria-hidden="true">✓</span> succeeded</span>');
    expect(history).toContain("task unhealthy &lt;script&gt;alert(1)&lt;/script&gt;");
    expect(history).toContain("no such image");
    expect(history).toContain('<a href="/pipelines/default/ship/runs/6" class="mono">default/ship #6</a>');
    expect(html).not.toContain(SCRIPT);

    const row = rowOf(await page(admin, "/environments"), "staging");
    expect(row).toContain('<span class="mono">web</span>');
    expect(row).toContain("<code>registry.local/app:2</code>");
    expect(row).toContain('<a href="/pipelines/default/ship/runs/3" class="mono">default/ship #3</a>');
  });

  it("rolls back through the button; an engine that answers nothing fails it, and the history says so", async () => {
    const failed = await post(admin, "/environments/staging/services/web/rollback", {}, 502);
    const html = await failed.text();
    const problem = /<p class="notice problem" role="alert"><strong>Could not roll web back:<\/strong> ([^<]+)<\/p>/.exec(html);
    expect(problem?.[1]).toContain("127.0.0.1:9");
    const newest = sectionOf(html, "environment-history");
    const first = newest.slice(newest.indexOf('<tr id="deployment-'), newest.indexOf("</tr>", newest.indexOf('<tr id="deployment-')));
    expect(first).toContain("<code>registry.local/app:1</code>");
    expect(first).toContain("rollback by ");
    expect(first).toContain("</span> failed</span>");
    // What runs now is unchanged.
    expect(sectionOf(html, "environment-now")).toContain("<code>registry.local/app:2</code>");

    const nothing = await (await post(admin, "/environments/staging/services/api/rollback", {}, 409)).text();
    expect(nothing).toContain("Could not roll api back:");
    expect(nothing).toContain("no earlier successful deployment");
    await post(admin, "/environments/staging/services/Bad_Name/rollback", {}, 400);
  });

  it("refuses a form without the CSRF token", async () => {
    const response = await fetch(`${gantry.url}/environments/local/delete`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gantry_session=${admin.cookie}`, "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: "",
    });
    expect(response.status).toBe(403);
    expect((await gantry.api("/environments/local")).status).toBe(200);
  });

  it("shows a viewer the environments without changing forms, lets it test, and refuses its changes", async () => {
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "environment-viewer", roles: ["viewer"] }) });
    expect(created.status).toBe(201);
    const viewer = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const list = await page(viewer, "/environments");
    expect(list).toContain('<tr id="environment-staging"');
    expect(list).not.toContain("Create an environment");
    expect(list).not.toContain('method="post" action="/environments"');
    const html = await page(viewer, "/environments/staging");
    expect(html).toContain("<code>registry.local/app:2</code>");
    expect(html).not.toContain('id="environment-edit"');
    expect(html).not.toContain("data-confirm");
    expect(html).not.toContain("/rollback");
    // Reading allows the connection test, as in the API.
    expect(html).toContain('action="/environments/staging/test"');
    expect(await (await post(viewer, "/environments/staging/test", {}, 200)).text()).toContain("Connection to staging failed:");

    await post(viewer, "/environments", { ...FORM, name: "sneaky" }, 403);
    await post(viewer, "/environments/staging", { provider: "swarm", description: "changed" }, 403);
    await post(viewer, "/environments/staging/delete", {}, 403);
    await post(viewer, "/environments/staging/services/web/rollback", {}, 403);
    expect((await gantry.api("/environments/sneaky")).status).toBe(404);
    const api = (await (await gantry.api("/environments/staging")).json()) as { environment: { description: string } };
    expect(api.environment.description).toBe("Pre-release");
  });

  it("limits a token to the environments its permission names", async () => {
    expect((await gantry.api("/roles/local-only", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "environments", target: "local", actions: ["read", "write"] }] }) })).status).toBeOneOf([200, 201]);
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "local-only", roles: ["local-only"] }) });
    const limited = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const list = await page(limited, "/environments");
    expect(list).toContain('<tr id="environment-local"');
    expect(list).not.toContain('<tr id="environment-staging"');
    expect(list).toContain("Create an environment");
    await page(limited, "/environments/staging", 403);
    await post(limited, "/environments", { ...FORM, name: "elsewhere" }, 403);
    await post(limited, "/environments/staging/test", {}, 403);
  });

  it("deletes an environment with its history, after asking", async () => {
    const html = await page(admin, "/environments/staging");
    expect(html).toContain('data-confirm="Delete environment staging and its deployment history? The services deployed there keep running."');
    const deleted = await post(admin, "/environments/staging/delete", {}, 303);
    expect(deleted.headers.get("location")).toBe("/environments?deleted=staging");
    const after = await page(admin, "/environments?deleted=staging");
    expect(after).toContain("Environment staging deleted, with its deployment history; the services deployed there keep running.");
    expect(after).not.toContain('<tr id="environment-staging"');
    await page(admin, "/environments/staging", 404);
    await post(admin, "/environments/staging/delete", {}, 404);
  });
});

describe("a namespace's own environments", () => {
  const OWN = { ...FORM, name: "preview", namespace: "team-a", secrets: "", registry: "127.0.0.1:5000", registryAuth: "API_KEY" };

  it("creates one through the form beside a shared one of the same name, and shows whose it is", async () => {
    await post(admin, "/environments", { ...FORM, name: "preview", secrets: "" }, 303);
    const created = await post(admin, "/environments", OWN, 303);
    expect(created.headers.get("location")).toBe("/environments/preview?namespace=team-a&created=1");
    const html = await page(admin, "/environments/preview?namespace=team-a&created=1");
    expect(html).toContain("Environment team-a/preview created.");
    expect(html).toContain('Environment <span class="mono">team-a/preview</span>');
    const facts = sectionOf(html, "environment-facts");
    expect(facts).toContain('<dt>Namespace</dt><dd><span class="mono">team-a</span>');
    expect(facts).toContain("Only pipelines of team-a deploy here");
    expect(facts).toContain("<code>127.0.0.1:5000</code>, credentials from secret <code>API_KEY</code>");
    // Every form of the page addresses this one, not the shared one.
    expect(facts).toContain('action="/environments/preview/test?namespace=team-a"');
    expect(facts).toContain('action="/environments/preview/delete?namespace=team-a"');
    expect(sectionOf(html, "environment-edit")).toContain('action="/environments/preview?namespace=team-a"');
    const edit = sectionOf(html, "environment-edit");
    expect(edit).toContain('id="environment-edit-registry" name="registry" type="text" value="127.0.0.1:5000"');
    expect(edit).toContain('id="environment-edit-registry-auth" name="registryAuth" type="text" value="API_KEY"');
    // The edit form keeps the namespace, as it keeps the name.
    expect(edit).not.toContain('name="namespace"');

    const shared = sectionOf(await page(admin, "/environments/preview"), "environment-facts");
    expect(shared).toContain("<dd><span class=\"muted\">all namespaces</span>");
    expect(shared).toContain('action="/environments/preview/test"');
    expect(shared).toContain("none: images must be on the nodes");

    const list = await page(admin, "/environments");
    const own = rowOf(list, "team-a/preview");
    expect(own).toContain('<a href="/environments/preview?namespace=team-a" class="admin-name mono">preview</a>');
    expect(own).toContain('<td data-label="Namespace"><span class="mono">team-a</span></td>');
    expect(own).toContain("pushes to <code>127.0.0.1:5000</code>");
    const sharedRow = rowOf(list, "preview");
    expect(sharedRow).toContain('<a href="/environments/preview" class="admin-name mono">preview</a>');
    expect(sharedRow).toContain('<td data-label="Namespace"><span class="muted">all namespaces</span></td>');
    // Both say they were never tested.
    for (const row of [own, sharedRow]) {
      expect(row).toContain('<span class="badge state-pending environment-state"><span aria-hidden="true">?</span> unknown</span>');
      expect(row).toContain("not tested yet");
    }
    const api = (await (await gantry.api("/environments/preview?namespace=team-a")).json()) as { environment: { namespace: string; config: unknown } };
    expect(api.environment).toMatchObject({ namespace: "team-a", config: { dockerHost: NOWHERE, registry: "127.0.0.1:5000", registryAuth: "API_KEY" } });
  });

  it("names what is wrong with the namespace and the registry fields, and what is taken", async () => {
    const bad = await (await post(admin, "/environments", { ...OWN, namespace: "Team A" }, 400)).text();
    expect(bad).toContain("Namespace: must be 1-64 characters of a-z, 0-9 and -");
    expect(bad).toMatch(/id="environment-namespace" name="namespace" type="text" value="Team A" [^>]*aria-describedby="environment-namespace-hint environment-form-error" aria-invalid="true"/);

    const taken = await (await post(admin, "/environments", OWN, 409)).text();
    expect(taken).toContain("Name: an environment named preview already exists in namespace team-a");

    const noRegistry = await (await post(admin, "/environments", { ...OWN, name: "other", registry: "" }, 400)).text();
    expect(noRegistry).toContain("config.registryAuth names the credentials of config.registry, which is not set");
    expect(noRegistry).toMatch(/id="environment-registry-auth" name="registryAuth" [^>]*aria-describedby="environment-registry-auth-hint environment-form-error" aria-invalid="true"/);

    const missing = await (await post(admin, "/environments", { ...OWN, name: "other", registryAuth: "NO_SUCH_LOGIN" }, 400)).text();
    expect(missing).toContain("config.registryAuth names &quot;NO_SUCH_LOGIN&quot;, which is not a global secret");
    expect(missing).toMatch(/id="environment-registry-auth" name="registryAuth" type="text" value="NO_SUCH_LOGIN" [^>]*aria-invalid="true"/);
    expect((await gantry.api("/environments/other?namespace=team-a")).status).toBe(404);
  });

  it("shows the status a test left beside the Test connection button, and in the list", async () => {
    const html = await (await post(admin, "/environments/preview/test?namespace=team-a", {}, 200)).text();
    expect(html).toContain("<strong>Connection to team-a/preview failed:</strong>");
    const status = html.slice(html.indexOf('id="environment-status"'), html.indexOf("</p>", html.indexOf('id="environment-status"')));
    expect(status).toContain('<span class="badge state-failed environment-state"><span aria-hidden="true">✗</span> failing</span>');
    expect(status).toContain("127.0.0.1:9");
    expect(status).toMatch(/checked <time datetime="[^"]+"/);
    expect(html).toMatch(/aria-label="Test the connection to team-a\/preview" aria-describedby="environment-status"/);

    const list = await page(admin, "/environments");
    expect(rowOf(list, "team-a/preview")).toContain("</span> failing</span>");
    // The shared one of that name was not tested.
    expect(rowOf(list, "preview")).toContain("</span> unknown</span>");
  });

  it("changes, rolls back and deletes the namespace's own, leaving the shared one alone", async () => {
    const saved = await post(admin, "/environments/preview?namespace=team-a", { provider: "swarm", dockerHost: NOWHERE, registry: "127.0.0.1:5001", description: "team-a's" }, 303);
    expect(saved.headers.get("location")).toBe("/environments/preview?namespace=team-a&saved=1");
    expect(await page(admin, "/environments/preview?namespace=team-a&saved=1")).toContain("Settings of team-a/preview saved.");
    const own = (await (await gantry.api("/environments/preview?namespace=team-a")).json()) as { environment: { config: unknown; description: string } };
    expect(own.environment).toMatchObject({ config: { dockerHost: NOWHERE, registry: "127.0.0.1:5001" }, description: "team-a's" });
    const shared = (await (await gantry.api("/environments/preview")).json()) as { environment: { description?: string } };
    expect(shared.environment.description).toBeUndefined();

    await recordDeployment("team-a/preview", "web", "registry.local/team-a:1", "succeeded", 11);
    await recordDeployment("team-a/preview", "web", "registry.local/team-a:2", "succeeded", 12, { previousImage: "registry.local/team-a:1" });
    const html = await page(admin, "/environments/preview?namespace=team-a");
    expect(sectionOf(html, "environment-now")).toContain('action="/environments/preview/services/web/rollback?namespace=team-a"');
    expect(sectionOf(await page(admin, "/environments/preview"), "environment-now")).toContain("Nothing deployed here yet.");
    const rolled = await (await post(admin, "/environments/preview/services/web/rollback?namespace=team-a", {}, 502)).text();
    expect(rolled).toContain("Could not roll web back:");
    // The shared one has nothing to roll back.
    await post(admin, "/environments/preview/services/web/rollback", {}, 409);

    const deleted = await post(admin, "/environments/preview/delete?namespace=team-a", {}, 303);
    expect(deleted.headers.get("location")).toBe("/environments?deleted=team-a%2Fpreview");
    expect(await page(admin, "/environments?deleted=team-a%2Fpreview")).toContain("Environment team-a/preview deleted");
    await page(admin, "/environments/preview?namespace=team-a", 404);
    await page(admin, "/environments/preview");
    await page(admin, "/environments/preview?namespace=Bad_One", 400);
  });

  it("lists with ?namespace= what that namespace's deploys reach", async () => {
    await post(admin, "/environments", { ...OWN, namespace: "team-b", registryAuth: "" }, 303);
    const list = await page(admin, "/environments?namespace=team-a");
    expect(list).toContain('<tr id="environment-preview"');
    expect(list).not.toContain('<tr id="environment-team-b/preview"');
    expect(list).toContain("Those the deploys of namespace <span class=\"mono\">team-a</span> reach");
    expect(await page(admin, "/environments?namespace=team-b")).toContain('<tr id="environment-team-b/preview"');
    // Signed out, a namespace's page sends the browser to sign in and back to that same one.
    const visitor = await fetch(`${gantry.url}/environments/preview?namespace=team-b`, { redirect: "manual", headers: { accept: "text/html" } });
    expect(visitor.status).toBe(303);
    expect(visitor.headers.get("location")).toBe(`/login?next=${encodeURIComponent("/environments/preview?namespace=team-b")}`);
  });

  it("lets a permission on team-b/.* see and change team-b's own only", async () => {
    expect((await gantry.api("/roles/team-b-envs", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "environments", target: "team-b/.*", actions: ["read", "write"] }] }) })).status).toBeOneOf([200, 201]);
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "team-b-envs", roles: ["team-b-envs"] }) });
    const teamB = await webLogin(gantry.url, ((await created.json()) as { secret: string }).secret);
    const list = await page(teamB, "/environments");
    expect(list).toContain('<tr id="environment-team-b/preview"');
    expect(list).not.toContain('<tr id="environment-preview"');
    await page(teamB, "/environments/preview?namespace=team-b");
    await page(teamB, "/environments/preview", 403);
    await post(teamB, "/environments/preview/test", {}, 403);
    await post(teamB, "/environments/preview/delete", {}, 403);
    await post(teamB, "/environments", { ...FORM, name: "mine", secrets: "" }, 403);
    await post(teamB, "/environments", { ...FORM, name: "mine", namespace: "team-c", secrets: "" }, 403);
    await post(teamB, "/environments", { ...FORM, name: "mine", namespace: "team-b", secrets: "" }, 303);
    // Naming registry credentials hands a secret out: that takes secrets:write on global.
    const refused = await (await post(teamB, "/environments/mine?namespace=team-b", { provider: "swarm", registry: "127.0.0.1:5000", registryAuth: "API_KEY" }, 403)).text();
    expect(refused).toContain("secrets:write on global");
    expect((await gantry.api("/environments/mine?namespace=team-b")).status).toBe(200);
  });
});

describe("environments in Chromium", () => {
  it("renders the list and an environment's page cleanly, light and dark", async () => {
    await post(admin, "/environments", { ...FORM, name: "production", secrets: "DB_PASSWORD, API_KEY", description: "Customer-facing: canary behind an approval", branches: "main", approval: "on", wait: "5m" }, 303);
    await recordDeployment("production", "web", "registry.local/app:1", "succeeded", 7);
    await recordDeployment("production", "web", "registry.local/app:2", "succeeded", 8, { previousImage: "registry.local/app:1" });
    await recordDeployment("production", "worker", "registry.local/worker:5", "succeeded", 9);
    await recordDeployment("production", "web", "registry.local/app:3", "rolled_back", 10, { previousImage: "registry.local/app:2", reason: "task exited with code 1 during the monitor window" });
    const browser = await launchBrowser();
    try {
      const url = new URL(gantry.url);
      const cookie = { name: "gantry_session", value: admin.cookie, domain: url.hostname, path: "/" };
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await context.addCookies([cookie]);
      const tab = await context.newPage();
      const errors = consoleErrors(tab);
      await tab.goto(`${gantry.url}/environments`);
      await tab.getByRole("heading", { name: "Environments", level: 1 }).waitFor();
      await screenshot(tab, "environments");
      await tab.goto(`${gantry.url}/environments/production`);
      // Test connection from the page itself: the answer comes back on it, in red.
      await tab.getByRole("button", { name: "Test the connection to production" }).click();
      await tab.getByText("Connection to production failed:").waitFor();
      await screenshot(tab, "environment");
      expect(errors).toEqual([]);

      for (const row of await axeViolations(browser, gantry.url, [cookie], ["/environments", "/environments/production", "/environments/preview?namespace=team-b"])) expect(row).toEqual({ ...row, violations: [] });
    } finally {
      await browser.close();
    }
  });
});
