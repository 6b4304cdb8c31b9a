// Web pages: /extensions: the extensions the server runs, those installed from the npm
// registry and the registry's own (install, upgrade, uninstall: extensions:write and system:write, as installed code runs with the server's rights), and one
// extension with its subscriptions and recent log (permission extensions:read; subscriptions
// of pipelines the caller may read, as in the API).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { listSubscriptions } from "../../db/repos/subscriptions.ts";
import { GantryError, NotFoundError, messageOf } from "../../domain/errors.ts";
import { installerOf, type InstallResult } from "../../extension-host/extension-installer.ts";
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

type Notice = { kind: "ok" | "problem"; text: string };

/** The list page, with a notice of what a form just did (or why it could not). */
async function renderList(c: Context<AppEnv>, notice?: Notice, status: ContentfulStatusCode = 200) {
  const deps = c.get("deps");
  const statuses = deps.extensions.list().sort((a, b) => a.id.localeCompare(b.id));
  // One query for every subscription, counted per extension (the database is the truth).
  const counts = new Map<string, number>();
  for (const row of await listSubscriptions(deps.db)) {
    if (may(c, "pipelines", "read", `${row.namespace}/${row.pipelineId}`)) counts.set(row.extension, (counts.get(row.extension) ?? 0) + 1);
  }
  const installer = installerOf(deps);
  // The registry being down (or slow) is a line on the page, never a failed page.
  const available = await installer.available(undefined, 5_000).then(
    (packages) => ({ registry: installer.registry.url, packages }),
    (error: unknown) => ({ registry: installer.registry.url, error: messageOf(error) }),
  );
  return c.html(
    <ExtensionsPage
      session={await pageSession(c)}
      extensions={statuses}
      subscriptionCounts={counts}
      installed={installer.list()}
      available={available}
      canWrite={may(c, "extensions", "write") && may(c, "system", "write")}
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

const idParam = v.object({ id: idSchema });

export const extensionPages = new Hono<AppEnv>()
  .get("/", requireSession, permit("extensions", "read"), (c) => renderList(c))
  .post("/install", requireSession, requireCsrf, permit("extensions", "write"), permit("system", "write"), async (c) => {
    const form = await c.req.parseBody();
    return act(c, async () => {
      const version = formText(form.version).trim();
      const spec = parsePackageSpec(`${formText(form.package).trim()}${version ? `@${version}` : ""}`);
      const result = await installerOf(c.get("deps")).install(spec.name, spec.version);
      return `Installed ${result.installed.package}@${result.installed.version} as extension ${result.installed.id}; ${started(result)}.`;
    });
  })
  .post("/:id/upgrade", requireSession, requireCsrf, permit("extensions", "write"), permit("system", "write"), validate("param", idParam), async (c) => {
    const { id } = c.req.valid("param");
    return act(c, async () => {
      const result = await installerOf(c.get("deps")).upgrade(id);
      if (result.unchanged) return `Extension ${id} is already at the latest version, ${result.installed.version}.`;
      return `Upgraded extension ${id} from ${result.previous} to ${result.installed.version}; ${started(result)}.`;
    });
  })
  .post("/:id/uninstall", requireSession, requireCsrf, permit("extensions", "write"), permit("system", "write"), validate("param", idParam), async (c) => {
    const { id } = c.req.valid("param");
    return act(c, async () => {
      const pin = await installerOf(c.get("deps")).uninstall(id);
      return `Uninstalled extension ${id} (${pin.package}@${pin.version}).`;
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
