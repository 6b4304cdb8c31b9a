// /api/v1/extensions: the extension modules the server runs — state, restarts, error,
// subscriptions and recent log lines; one extension with its whole recent log.
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { listSubscriptions, type SubscriptionRow } from "../../db/repos/subscriptions.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { idSchema } from "../../domain/ids.ts";
import type { ExtensionStatus } from "../../extension-host/host.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { validate } from "../validate.ts";
import { subscriptionErrors } from "../../extension-host/subscription-status.ts";
import { subscriptionJson } from "./subscriptions.ts";

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

function extensionJson(status: ExtensionStatus, subscriptions: readonly SubscriptionRow[], errorOf: ErrorOf, logLines?: number) {
  return {
    id: status.id,
    state: status.state,
    restarts: status.restarts,
    ...(status.error && { error: status.error }),
    subscriptions: subscriptions.map((row) => subscriptionJson(row, errorOf(row))),
    log: logLines === undefined ? status.log : status.log.slice(-logLines),
  };
}

export const extensionsApi = new Hono<AppEnv>()
  .get("/", permit("extensions", "read"), async (c) => {
    const statuses = c.get("deps").extensions.list().sort((a, b) => a.id.localeCompare(b.id));
    const subscriptions = await subscriptionsByExtension(c);
    const errorOf = await subscriptionErrors(c.get("deps"), [...subscriptions.values()].flat());
    return c.json({ extensions: statuses.map((status) => extensionJson(status, subscriptions.get(status.id) ?? [], errorOf, LIST_LOG_LINES)) });
  })
  .get("/:id", permit("extensions", "read"), validate("param", v.object({ id: idSchema })), async (c) => {
    const { id } = c.req.valid("param");
    const status = c.get("deps").extensions.get(id);
    if (!status) throw new NotFoundError(`no extension ${id}`);
    const subscriptions = await subscriptionsByExtension(c, id);
    const rows = subscriptions.get(id) ?? [];
    return c.json({ extension: extensionJson(status, rows, await subscriptionErrors(c.get("deps"), rows)) });
  });
