// Web pages: /extensions: the extensions the server runs, and one extension with its
// subscriptions and recent log (permission extensions:read; subscriptions of pipelines the
// caller may read, as in the API).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { listSubscriptions } from "../../db/repos/subscriptions.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { idSchema } from "../../domain/ids.ts";
import { subscriptionErrors } from "../../extension-host/subscription-status.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { ExtensionPage } from "./pages/extension.tsx";
import { ExtensionsPage } from "./pages/extensions.tsx";

export const extensionPages = new Hono<AppEnv>()
  .get("/", requireSession, permit("extensions", "read"), async (c) => {
    const { db, extensions } = c.get("deps");
    const statuses = extensions.list().sort((a, b) => a.id.localeCompare(b.id));
    // One query for every subscription, counted per extension (the database is the truth).
    const counts = new Map<string, number>();
    for (const row of await listSubscriptions(db)) {
      if (may(c, "pipelines", "read", `${row.namespace}/${row.pipelineId}`)) counts.set(row.extension, (counts.get(row.extension) ?? 0) + 1);
    }
    return c.html(<ExtensionsPage session={await pageSession(c)} extensions={statuses} subscriptionCounts={counts} />);
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
