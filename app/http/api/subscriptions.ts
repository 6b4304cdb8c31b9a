// /api/v1/pipelines/:ns/:id/subscriptions: a pipeline's subscriptions to extensions — list,
// add one through the API, remove one (those from the pipeline file's triggers stay: edit the file).
import { Hono } from "hono";
import * as v from "valibot";
import { insertEvent } from "../../db/repos/events.ts";
import { requirePipeline } from "../../db/repos/pipelines.ts";
import { deleteSubscription, getSubscription, insertSubscription, listSubscriptions, type SubscriptionRow } from "../../db/repos/subscriptions.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { idSchema, SERIAL_PATTERN } from "../../domain/ids.ts";
import { subscriptionErrors } from "../../extension-host/subscription-status.ts";
import type { AppEnv } from "../env.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { validate } from "../validate.ts";
import { pipelineParams } from "../params.ts";
import { subscriptionAnswer, subscriptionListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

const subscriptionParams = v.object({
  ...pipelineParams.entries,
  sub: v.pipe(v.string(), v.regex(SERIAL_PATTERN, "must be a subscription id (see GET .../subscriptions)"), v.transform(Number)),
});

const postBody = v.strictObject({
  extension: idSchema,
  // Not v.record, which turns an array into {"0": ...}: params are a JSON object.
  params: v.optional(
    v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be an object"),
    {},
  ),
});

export function subscriptionJson(row: SubscriptionRow, error?: string) {
  return {
    id: row.id,
    extension: row.extension,
    namespace: row.namespace,
    pipeline: row.pipelineId,
    params: row.params,
    source: row.source,
    createdAt: row.createdAt.toISOString(),
    ...(error && { error }),
  };
}

export const subscriptionsApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "A pipeline's subscriptions to extensions, with their errors", permission: "pipelines:read", response: subscriptionListAnswer }), permit("pipelines", "read", pipelineTarget), validate("param", pipelineParams), async (c) => {
    const deps = c.get("deps");
    const { ns, id } = c.req.valid("param");
    await requirePipeline(deps.db, { namespace: ns, id });
    const rows = await listSubscriptions(deps.db, { pipeline: { namespace: ns, id } });
    const errorOf = await subscriptionErrors(deps, rows);
    return c.json({ subscriptions: rows.map((row) => subscriptionJson(row, errorOf(row))) });
  })
  .post("/", doc({ summary: "Subscribe a pipeline to an extension", permission: "pipelines:write", success: 201, response: subscriptionAnswer }), permit("pipelines", "write", pipelineTarget), validate("param", pipelineParams), validate("json", postBody), async (c) => {
    const deps = c.get("deps");
    const { ns, id } = c.req.valid("param");
    const body = c.req.valid("json");
    await requirePipeline(deps.db, { namespace: ns, id });
    const known = deps.extensions.list().map((status) => status.id);
    if (!known.includes(body.extension)) {
      throw new ValidationError(`extension: no extension "${body.extension}"; known: ${known.join(", ") || "none (the extensions folder is empty)"}`);
    }
    const row = await insertSubscription(deps.db, {
      namespace: ns,
      pipelineId: id,
      extension: body.extension,
      params: body.params,
      source: "api",
      createdAt: deps.now(),
    });
    await insertEvent(deps.db, {
      kind: "subscription.created",
      namespace: ns,
      pipelineId: id,
      data: { subscription: row.id, extension: row.extension, source: "api", by: c.get("token").name },
      at: deps.now(),
    });
    // The extension host hears this and tells the extension (see ExtensionHost.sync).
    deps.bus.publish({ kind: "subscriptions.changed", namespace: ns, pipeline: id });
    return c.json({ subscription: subscriptionJson(row) }, 201);
  })
  .delete("/:sub", doc({ summary: "Remove a subscription made through the API (409 for one from the pipeline file)", permission: "pipelines:write", response: subscriptionAnswer }), permit("pipelines", "write", pipelineTarget), validate("param", subscriptionParams), async (c) => {
    const deps = c.get("deps");
    const { ns, id, sub } = c.req.valid("param");
    const pipeline = await requirePipeline(deps.db, { namespace: ns, id });
    const row = await getSubscription(deps.db, sub);
    if (!row || row.namespace !== ns || row.pipelineId !== id) throw new NotFoundError(`pipeline ${ns}/${id} has no subscription ${sub}`);
    if (row.source === "file") {
      // The loader would bring it back at the next edit: the file is where it lives.
      throw new ConflictError(
        `subscription ${sub} (${row.extension}) comes from a trigger in the pipeline file ${pipeline.file}; edit the pipeline file to remove it`,
      );
    }
    if (!(await deleteSubscription(deps.db, sub))) throw new NotFoundError(`pipeline ${ns}/${id} has no subscription ${sub}`);
    await insertEvent(deps.db, {
      kind: "subscription.deleted",
      namespace: ns,
      pipelineId: id,
      data: { subscription: sub, extension: row.extension, by: c.get("token").name },
      at: deps.now(),
    });
    deps.bus.publish({ kind: "subscriptions.changed", namespace: ns, pipeline: id });
    return c.json({ subscription: subscriptionJson(row) });
  });
