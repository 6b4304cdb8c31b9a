// /api/v1/extensions: the extension modules the server runs — state, restarts, error,
// subscriptions and recent log lines; one extension with its whole recent log; and extensions
// from an npm registry: search, install, upgrade, uninstall (extension-installer.ts).
import { Hono, type Context } from "hono";
import { join } from "node:path";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { listSubscriptions, type SubscriptionRow } from "../../db/repos/subscriptions.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { idSchema } from "../../domain/ids.ts";
import type { ExtensionStatus } from "../../extension-host/host.ts";
import type { InstalledExtension, InstallResult, PinRecord } from "../../extension-host/extension-installer.ts";
import { packageNameSchema, versionSchema } from "../../extension-host/npm-registry.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { validate } from "../validate.ts";
import { subscriptionErrors } from "../../extension-host/subscription-status.ts";
import { subscriptionJson } from "./subscriptions.ts";
import { extensionAnswer, extensionAvailableAnswer, extensionInstallAnswer, extensionListAnswer, extensionUninstallAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

/** Log lines in the list; GET /extensions/:id has all the host keeps. */
const LIST_LOG_LINES = 20;

/**
 * The subscriptions by extension id, read once for the whole answer. The database is the truth
 * for subscriptions (the host forgets them while a worker is down); a caller sees those of the
 * pipelines it may read.
 */
async function subscriptionsByExtension(c: Context<AppEnv>, extension?: string): Promise<Map<string, SubscriptionRow[]>> {
  const rows = await listSubscriptions(c.get("deps").db, extension === undefined ? {} : { extension });
  const readable = rows.filter((row) => may(c, "pipelines", "read", `${row.namespace}/${row.pipelineId}`));
  return Map.groupBy(readable, (row) => row.extension);
}

type ErrorOf = (row: SubscriptionRow) => string | undefined;

/** An installed extension's record in installed.json, as the API shows it. */
const installedJson = (record: InstalledExtension) => ({ package: record.package, version: record.version, integrity: record.integrity, installedAt: record.installedAt });

function extensionJson(status: ExtensionStatus, subscriptions: readonly SubscriptionRow[], errorOf: ErrorOf, logLines?: number, record?: InstalledExtension) {
  return {
    id: status.id,
    source: record ? ("registry" as const) : ("built-in" as const),
    ...(record && { installed: installedJson(record) }),
    state: status.state,
    restarts: status.restarts,
    ...(status.error && { error: status.error }),
    subscriptions: subscriptions.map((row) => subscriptionJson(row, errorOf(row))),
    log: logLines === undefined ? status.log : status.log.slice(-logLines),
  };
}

/**
 * installed.json read once per answer; the function returned gives an extension's record when
 * it runs the installed code (not a built-in of the same id, which wins).
 */
function installedRecords(c: Context<AppEnv>) {
  const { extensionInstaller, config } = c.get("deps");
  const records = new Map(extensionInstaller.list().map((record) => [record.id, record]));
  const installedDir = `${join(config.dataDir, "extensions")}/`;
  return (status: ExtensionStatus): InstalledExtension | undefined => (status.file.startsWith(installedDir) ? records.get(status.id) : undefined);
}

/** Where a change's pin went: gantry.toml, or installed.json and why not gantry.toml. */
const pinJson = (pin: PinRecord) => ({ file: pin.file, ...(pin.problem && { problem: pin.problem }) });

/** What install and upgrade answer: the record, where the pin went and the extension's state once started. */
const installAnswer = (result: InstallResult) => ({
  id: result.installed.id,
  installed: installedJson(result.installed),
  ...(result.previous && { previous: result.previous }),
  ...(result.unchanged && { unchanged: true }),
  state: result.extension?.state ?? "stopped",
  ...(result.extension?.error && { error: result.extension.error }),
  ...(result.pin && { pin: pinJson(result.pin) }),
});

const idParam = v.object({ id: idSchema });

export const extensionsApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "Extensions: state, restarts, error, subscriptions, last 20 log lines", permission: "extensions:read", response: extensionListAnswer }), permit("extensions", "read"), async (c) => {
    const statuses = c.get("deps").extensions.list().sort((a, b) => a.id.localeCompare(b.id));
    const subscriptions = await subscriptionsByExtension(c);
    const errorOf = await subscriptionErrors(c.get("deps"), [...subscriptions.values()].flat());
    const recordOf = installedRecords(c);
    return c.json({ extensions: statuses.map((status) => extensionJson(status, subscriptions.get(status.id) ?? [], errorOf, LIST_LOG_LINES, recordOf(status))) });
  })
  // The registry's extensions (keyword gantry-extension); 502 with the reason when it cannot be reached.
  .get("/available", doc({ summary: "Extensions on the npm registry (GANTRY_NPM_REGISTRY) with the keyword gantry-extension: { registry, packages: [{ name, version, description }] }; q= searches; 502 when the registry cannot be reached", permission: "extensions:read", response: extensionAvailableAnswer }), permit("extensions", "read"), validate("query", v.object({ q: v.optional(v.pipe(v.string(), v.maxLength(200))) })), async (c) => {
    const installer = c.get("deps").extensionInstaller;
    const packages = await installer.available(c.req.valid("query").q);
    return c.json({ registry: installer.registry.url, packages });
  })
  .post("/install", doc({ summary: "Install an extension from the npm registry (extensions:write and system:write: installed code runs with the server's rights): body { package, version? }; its sha512 integrity checked, unpacked into the data dir, pinned (gantry.toml [extension_versions] when the server has one), started. 201 { id, installed, state, error?, pin: { file, problem? } } (pin: where the pin went; problem: why not gantry.toml)", permission: "extensions:write and system:write", success: 201, response: extensionInstallAnswer }), permit("extensions", "write"), permit("system", "write"), validate("json", v.object({ package: packageNameSchema, version: v.optional(versionSchema) })), async (c) => {
    const body = c.req.valid("json");
    const result = await c.get("deps").extensionInstaller.install(body.package, body.version);
    return c.json(installAnswer(result), 201);
  })
  .post("/:id/upgrade", doc({ summary: "Upgrade an installed extension to the latest (or body { version }) version (extensions:write and system:write): the new version starts before the old one goes; one that does not start is taken out and the old one runs again (400 naming the problem). Answers as install, with previous; 409 for a built-in one", permission: "extensions:write and system:write", response: extensionInstallAnswer }), permit("extensions", "write"), permit("system", "write"), validate("param", idParam), validate("json", v.object({ version: v.optional(versionSchema) })), async (c) => {
    const { id } = c.req.valid("param");
    const result = await c.get("deps").extensionInstaller.upgrade(id, c.req.valid("json").version);
    return c.json(installAnswer(result));
  })
  .delete("/:id", doc({ summary: "Uninstall an extension installed from the registry (extensions:write and system:write; never a built-in folder: 409); it stops first. { id, uninstalled, pin: { file, problem? } }", permission: "extensions:write and system:write", response: extensionUninstallAnswer }), permit("extensions", "write"), permit("system", "write"), validate("param", idParam), async (c) => {
    const { id } = c.req.valid("param");
    const result = await c.get("deps").extensionInstaller.uninstall(id);
    return c.json({ id, uninstalled: installedJson(result.uninstalled), pin: pinJson(result.pin) });
  })
  .get("/:id", doc({ summary: "One extension with its whole recent log", permission: "extensions:read", response: extensionAnswer }), permit("extensions", "read"), validate("param", idParam), async (c) => {
    const { id } = c.req.valid("param");
    const status = c.get("deps").extensions.get(id);
    if (!status) throw new NotFoundError(`no extension ${id}`);
    const subscriptions = await subscriptionsByExtension(c, id);
    const rows = subscriptions.get(id) ?? [];
    return c.json({ extension: extensionJson(status, rows, await subscriptionErrors(c.get("deps"), rows), undefined, installedRecords(c)(status)) });
  });
