// Web pages: /events: the event log, newest first, paging to older events (?before=<id>),
// an optional kind prefix filter (?kind=run), and /events/stream, the page's live tail: new
// events as rendered <tr>s (permission events:read, as the API).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import * as v from "valibot";
import { latestEventId, listEvents } from "../../db/repos/events.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { createWakeup, sse } from "../sse.ts";
import { validate } from "../validate.ts";
import { EventRow } from "./components/event-row.tsx";
import { pageSession } from "./page-session.ts";
import { EventsPage } from "./pages/events.tsx";

const PAGE_SIZE = 100;
/** The live tail writes at most one batch of rows per this long. */
const THROTTLE_MS = 200;
/** Not every event is announced on the bus (failed logins are not): look anyway this often. */
const POLL_MS = 5_000;

const eventId = v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be an event id"), v.transform(Number));
const kindSchema = v.pipe(v.string(), v.trim(), v.regex(/^[a-z_.]{0,64}$/, "Kind: letters a-z, '_' and '.' only, e.g. run or task.finished"));
const pageQuery = v.object({ before: v.optional(eventId) });
const streamQuery = v.object({ after: v.optional(eventId), kind: v.optional(kindSchema) });

export const eventPages = new Hono<AppEnv>()
  .get("/", requireSession, permit("events", "read"), validate("query", pageQuery), async (c) => {
    const { db, now } = c.get("deps");
    const { before } = c.req.valid("query");
    // A bad kind is the form's error (the page shows every event); a bad cursor is a bad link.
    const typedKind = c.req.query("kind") ?? "";
    const kind = v.safeParse(kindSchema, typedKind);
    const live = before === undefined && kind.success;
    // The live tail goes on from the newest event when the page was read (older pages have none).
    const latestId = live ? await latestEventId(db) : undefined;
    const rows = await listEvents(db, { before: before ?? Number.POSITIVE_INFINITY, limit: PAGE_SIZE, ...(kind.success && { kindPrefix: kind.output }) });
    return c.html(
      <EventsPage
        session={await pageSession(c)}
        now={now()}
        events={rows}
        kind={kind.success ? kind.output : typedKind}
        {...(!kind.success && { error: kind.issues[0]!.message })}
        {...(before !== undefined && { before })}
        {...(rows.length === PAGE_SIZE && { older: rows.at(-1)!.id })}
        {...(latestId !== undefined && { latestId })}
      />,
      kind.success ? 200 : 400,
    );
  })
  .get("/stream", requireSession, permit("events", "read"), validate("query", streamQuery), async (c) => {
    const deps = c.get("deps");
    const query = c.req.valid("query");
    const kind = query.kind ?? "";
    const lastEventId = c.req.header("last-event-id");
    // A reconnect resumes after the last row it got; a first connect after what its page showed.
    let after = lastEventId && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : (query.after ?? (await latestEventId(deps.db)));
    return sse(c, async (stream, signal) => {
      // The bus says "something changed"; the database says what. A change announced while a
      // batch is written or during the throttle pause is kept by the wakeup for the next sleep.
      const wakeup = createWakeup(signal);
      const unsubscribe = deps.bus.subscribe(() => wakeup.wake());
      try {
        while (!signal.aborted) {
          // Every new event is read, matching or not, so the cursor moves past the others too
          // (a kind filter in SQL would read the same non-matching events again on each look).
          const rows = await listEvents(deps.db, { after, limit: PAGE_SIZE });
          const shown = rows.filter((row) => row.kind.startsWith(kind));
          if (rows.length) after = rows.at(-1)!.id;
          if (shown.length) {
            // Newest first, as the table reads; hx-swap="afterbegin" puts them on top.
            const now = deps.now();
            const html = await Promise.all(shown.reverse().map((row) => (<EventRow event={row} now={now} />).toString()));
            await stream.writeSSE({ id: String(after), data: html.join("") });
          }
          if (rows.length === PAGE_SIZE) continue;
          await wakeup.pause(THROTTLE_MS);
          await wakeup.sleep(POLL_MS);
        }
      } finally {
        unsubscribe();
      }
    });
  });
