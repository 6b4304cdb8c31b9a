// Web pages: /extensions: the extensions the server runs, those installed from the npm
// registry and the registry's own (install, upgrade, uninstall: extensions:write and
// system:write, as installed code runs with the server's rights); /extensions/available, the
// registry's list that page loads after itself; and one extension with its subscriptions and
// recent log (permission extensions:read; subscriptions of pipelines the caller may read, as in the API).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { listSubscriptions } from "../../db/repos/subscriptions.ts";
import { GantryError, NotFoundError, messageOf } from "../../domain/errors.ts";
import type { InstallResult, PinRecord } from "../../extension-host/extension-installer.ts";
import { parsePackageSpec } from "../../extension-host/npm-registry.ts";
import { statusOf } from "../errors.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { formText } from "./form.ts";
import { idSchema } from "../../domain/ids.ts";
import { subscriptionErrors } from "../../extension-host/subscription-status.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { ExtensionPage } from "./pages/extension.tsx";
import { ExtensionsPage } from "./pages/extensions.tsx";
import { AvailableExtensionsPage } from "./pages/extensions-available.tsx";
import { AvailableList, type AvailableAnswer } from "./components/extensions-available.tsx";

type Notice = { kind: "ok" | "problem"; text: string };

/** How long the registry's list may take before the section says it cannot be listed. */
const REGISTRY_WAIT_MS = 5_000;

const canChange = (c: Context<AppEnv>) => may(c, "extensions", "write") && may(c, "system", "write");

/** The list page, with a notice of what a form just did (or why it could not); the registry's list loads after it. */
async function renderList(c: Context<AppEnv>, notice?: Notice, status: ContentfulStatusCode = 200) {
  const deps = c.get("deps");
  const statuses = deps.extensions.list().sort((a, b) => a.id.localeCompare(b.id));
  // One query for every subscription, counted per extension (the database is the truth).
  const counts = new Map<string, number>();
  for (const row of await listSubscriptions(deps.db)) {
    if (may(c, "pipelines", "read", `${row.namespace}/${row.pipelineId}`)) counts.set(row.extension, (counts.get(row.extension) ?? 0) + 1);
  }
  const installer = deps.extensionInstaller;
  return c.html(
    <ExtensionsPage
      session={await pageSession(c)}
      extensions={statuses}
      subscriptionCounts={counts}
      installed={installer.list()}
      registry={installer.registry.url}
      canWrite={canChange(c)}
      {...(notice && { notice })}
    />,
    status,
  );
}

/** Runs an install, upgrade or uninstall and shows the list with its outcome; a refusal is the page's alert. */
async function act(c: Context<AppEnv>, work: () => Promise<string>) {
  try {
    return await renderList(c, { kind: "ok", text: await work() });
  } catch (error) {
    if (!(error instanceof GantryError)) throw error;
    return renderList(c, { kind: "problem", text: error.message }, statusOf(error));
  }
}

const started = (result: InstallResult) =>
  result.extension?.state === "running" ? "it is running" : `it is ${result.extension?.state ?? "stopped"}${result.extension?.error ? `: ${result.extension.error}` : ""}`;

/** Where the change's pin went, as the notice's last sentence. */
const pinned = (pin: PinRecord | undefined, removed = false) =>
  !pin ? "" : pin.problem ? ` ${removed ? "Unpinned" : "Pinned"} in ${pin.file} only: ${pin.problem}.` : ` ${removed ? "Unpinned" : "Pinned"} in ${pin.file}.`;

/** The registry's extensions marked with what is installed; a registry down (or slow) is a line in the section, never a failed page. */
async function availableAnswer(c: Context<AppEnv>): Promise<AvailableAnswer> {
  const installer = c.get("deps").extensionInstaller;
  return installer.available(undefined, REGISTRY_WAIT_MS).then(
    (packages) => ({ registry: installer.registry.url, packages }),
    (error: unknown) => ({ registry: installer.registry.url, error: messageOf(error) }),
  );
}

const idParam = v.object({ id: idSchema });

export const extensionPages = new Hono<AppEnv>()
  .get("/", requireSession, permit("extensions", "read"), (c) => renderList(c))
  // Before /:id: "available" is never an extension's id (the installer refuses it).
  .get("/available", requireSession, permit("extensions", "read"), async (c) => {
    const available = await availableAnswer(c);
    const session = await pageSession(c);
    // htmx swaps the list into the extensions page; a browser without JavaScript gets a page.
    // One address, two answers: a cache must keep them apart (else Back shows a bare fragment).
    c.header("Vary", "HX-Request", { append: true });
    if (c.req.header("hx-request") === "true") return c.html(<AvailableList session={session} available={available} canWrite={canChange(c)} />);
    return c.html(<AvailableExtensionsPage session={session} available={available} canWrite={canChange(c)} />);
  })
  .post("/install", requireSession, requireCsrf, permit("extensions", "write"), permit("system", "write"), async (c) => {
    const form = await c.req.parseBody();
    return act(c, async () => {
      const version = formText(form.version).trim();
      const spec = parsePackageSpec(`${formText(form.package).trim()}${version ? `@${version}` : ""}`);
      const result = await c.get("deps").extensionInstaller.install(spec.name, spec.version);
      return `Installed ${result.installed.package}@${result.installed.version} as extension ${result.installed.id}; ${started(result)}.${pinned(result.pin)}`;
    });
  })
  .post("/:id/upgrade", requireSession, requireCsrf, permit("extensions", "write"), permit("system", "write"), validate("param", idParam), async (c) => {
    const { id } = c.req.valid("param");
    return act(c, async () => {
      const result = await c.get("deps").extensionInstaller.upgrade(id);
      if (result.unchanged) return `Extension ${id} is already at the latest version, ${result.installed.version}.`;
      return `Upgraded extension ${id} from ${result.previous} to ${result.installed.version}; ${started(result)}.${pinned(result.pin)}`;
    });
  })
  .post("/:id/uninstall", requireSession, requireCsrf, permit("extensions", "write"), permit("system", "write"), validate("param", idParam), async (c) => {
    const { id } = c.req.valid("param");
    return act(c, async () => {
      const result = await c.get("deps").extensionInstaller.uninstall(id);
      return `Uninstalled extension ${id} (${result.uninstalled.package}@${result.uninstalled.version}).${pinned(result.pin, true)}`;
    });
  })
  .get("/:id", requireSession, permit("extensions", "read"), validate("param", v.object({ id: idSchema })), async (c) => {
    const deps = c.get("deps");
    const { db, extensions, now } = deps;
    const { id } = c.req.valid("param");
    const extension = extensions.get(id);
    if (!extension) throw new NotFoundError(`no extension ${id}`);
    const rows = (await listSubscriptions(db, { extension: id })).filter((row) => may(c, "pipelines", "read", `${row.namespace}/${row.pipelineId}`));
    const errorOf = await subscriptionErrors(deps, rows);
    const subscriptions = rows.map((row) => {
      const error = errorOf(row);
      return { row, ...(error && { error }) };
    });
    return c.html(<ExtensionPage session={await pageSession(c)} now={now()} extension={extension} subscriptions={subscriptions} />);
  });
