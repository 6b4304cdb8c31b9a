// Web pages: /events: the event log, newest first, paging to older events (?before=<id>),
// an optional kind prefix filter (?kind=run), and /events/stream, the page's live tail: new
// events as rendered <tr>s (permission events:read, as the API).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import * as v from "valibot";
import type { Db } from "../../db/client.ts";
import { latestEventId, listEvents, type EventRow as EventRecord } from "../../db/repos/events.ts";
import { ValidationError } from "../../domain/errors.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { sse } from "../sse.ts";
import { EventRow } from "./components/event-row.tsx";
import { pageSession } from "./page-session.ts";
import { EventsPage } from "./pages/events.tsx";

const PAGE_SIZE = 100;
/** A filtered page reads the log in batches, and at most this many events per page. */
const SCAN_BATCH = 500;
const SCAN_LIMIT = 2_000;
/** The live tail writes at most one batch of rows per this long. */
const THROTTLE_MS = 200;
/** Not every event is announced on the bus (failed logins are not): look anyway this often. */
const POLL_MS = 5_000;

const eventId = v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be an event id"), v.transform(Number));
const kindSchema = v.pipe(v.string(), v.trim(), v.regex(/^[a-z_.]{0,64}$/, "Kind: letters a-z, '_' and '.' only, e.g. run or task.finished"));
const pageQuery = v.object({ before: v.optional(eventId) });
const streamQuery = v.object({ after: v.optional(eventId), kind: v.optional(kindSchema) });

/**
 * One page of the log before `before` (newest first), and the cursor of the next older page.
 * With a kind prefix, the log is read in batches until the page is full or SCAN_LIMIT events
 * were looked at, so a rare kind costs a bounded amount of work per page.
 */
async function eventPage(db: Db, before: number, kind: string): Promise<{ rows: EventRecord[]; older?: number; partial?: boolean }> {
  if (!kind) {
    const rows = (await listEvents(db, { before, limit: PAGE_SIZE })).reverse();
    return { rows, ...(rows.length === PAGE_SIZE && { older: rows.at(-1)!.id }) };
  }
  const rows: EventRecord[] = [];
  let cursor = before;
  for (let scanned = 0; scanned < SCAN_LIMIT; scanned += SCAN_BATCH) {
    const batch = (await listEvents(db, { before: cursor, limit: SCAN_BATCH })).reverse();
    for (const row of batch) {
      cursor = row.id;
      if (!row.kind.startsWith(kind)) continue;
      rows.push(row);
      if (rows.length === PAGE_SIZE) return { rows, older: row.id };
    }
    if (batch.length < SCAN_BATCH) return { rows };
  }
  return { rows, older: cursor, partial: true };
}

export const eventPages = new Hono<AppEnv>()
  .get("/", requireSession, permit("events", "read"), async (c) => {
    const { db, now } = c.get("deps");
    const query = v.safeParse(pageQuery, c.req.query());
    if (!query.success) throw new ValidationError(`before: ${query.issues[0]!.message}`);
    const typedKind = c.req.query("kind") ?? "";
    const kind = v.safeParse(kindSchema, typedKind);
    const before = query.output.before;
    const latestId = await latestEventId(db);
    const page = await eventPage(db, before ?? Number.POSITIVE_INFINITY, kind.success ? kind.output : "");
    return c.html(
      <EventsPage
        session={pageSession(c)}
        now={now()}
        events={page.rows}
        kind={kind.success ? kind.output : typedKind}
        {...(!kind.success && { error: kind.issues[0]!.message })}
        {...(before !== undefined && { before })}
        {...(page.older !== undefined && { older: page.older })}
        partial={page.partial ?? false}
        latestId={latestId}
      />,
      kind.success ? 200 : 400,
    );
  })
  .get("/stream", requireSession, permit("events", "read"), async (c) => {
    const deps = c.get("deps");
    const query = v.safeParse(streamQuery, c.req.query());
    if (!query.success) throw new ValidationError(`events stream: ${query.issues[0]!.message}`);
    const kind = query.output.kind ?? "";
    const lastEventId = c.req.header("last-event-id");
    // A reconnect resumes after the last row it got; a first connect after what its page showed.
    let after = lastEventId && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : (query.output.after ?? (await latestEventId(deps.db)));
    return sse(c, async (stream, signal) => {
      // The bus says "something changed"; the database says what. A change announced while
      // a batch is written or during the throttle pause is not lost: `pending` remembers it.
      let pending = false;
      let wake: (() => void) | undefined;
      const unsubscribe = deps.bus.subscribe(() => {
        pending = true;
        wake?.();
      });
      const onAbort = () => wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        // Bun sends the headers with the first bytes: a comment now, so the page knows it is connected.
        await stream.write(": connected\n\n");
        while (!signal.aborted) {
          pending = false;
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
          await Bun.sleep(THROTTLE_MS);
          if (pending || signal.aborted) continue;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => wake?.(), POLL_MS);
            wake = () => {
              clearTimeout(timer);
              wake = undefined;
              resolve();
            };
          });
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        unsubscribe();
      }
    });
  });
