// /api/v1/events: the event log and its live stream.
import { Hono } from "hono";
import * as v from "valibot";
import { latestEventId, listEvents, listEventsAfter } from "../../db/repos/events.ts";
import { requirePermission } from "../../auth/roles.ts";
import type { AppEnv } from "../env.ts";
import { createWakeup, sse } from "../sse.ts";
import { validate } from "../validate.ts";
import { eventJson } from "./json.ts";
import { limitQuery } from "../params.ts";
import { eventListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

const afterQuery = v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be an event id"), v.transform(Number)));

export const eventsApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "The event log", permission: "events:read", response: eventListAnswer }), validate("query", v.object({ after: afterQuery, limit: limitQuery(100, 1000) })), async (c) => {
    requirePermission(c, "events", "read");
    const { after, limit } = c.req.valid("query");
    const rows = await listEvents(c.get("deps").db, { ...(after !== undefined && { after }), limit });
    return c.json({ events: rows.map(eventJson) });
  })
  .get("/stream", doc({ summary: "Live events (SSE)", permission: "events:read", response: { mediaType: "text/event-stream", description: "each event as an SSE message (id: its id; data: the event as GET /events lists it)" } }), validate("query", v.object({ after: afterQuery })), async (c) => {
    requirePermission(c, "events", "read");
    const deps = c.get("deps");
    const lastEventId = c.req.header("last-event-id");
    let after = c.req.valid("query").after ?? (lastEventId && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined);
    // Without a cursor, stream only what happens from now on.
    if (after === undefined) after = await latestEventId(deps.db);
    return sse(c, async (stream, signal) => {
      const wakeup = createWakeup(signal);
      const unsubscribe = deps.bus.subscribe(() => wakeup.wake());
      try {
        while (!signal.aborted) {
          const rows = await listEventsAfter(deps.db, after!, 500);
          for (const row of rows) {
            await stream.writeSSE({ id: String(row.id), data: JSON.stringify(eventJson(row)) });
            after = row.id;
          }
          if (rows.length === 500) continue;
          await wakeup.sleep(15_000);
        }
      } finally {
        unsubscribe();
      }
    });
  });
