// The event log page: the newest events first, paging to older ones, a kind filter, and on
// the first page a live tail that puts new events at the top as they happen.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { EventRow as EventRecord } from "../../../db/repos/events.ts";
import { EVENT_KINDS } from "../../../domain/event-kinds.ts";
import { Notice } from "../components/admin-forms.tsx";
import { EventRow } from "../components/event-row.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";
import { TableHead } from "../components/table-head.tsx";

const KIND_FAMILIES = [...new Set(EVENT_KINDS.map((kind) => kind.split(".")[0]!))];

export interface EventsPageProps {
  session: PageSession;
  now: Date;
  /** Newest first. */
  events: EventRecord[];
  /** The kind prefix filtered on ("" for all), as typed. */
  kind: string;
  error?: string;
  /** Set on older pages: the cursor this page started from. */
  before?: number;
  /** The cursor of the next older page, when there is one. */
  older?: number;
  /** The newest event id when the page was read, on the live first page: the live tail continues from it. */
  latestId?: number;
}

function withQuery(params: Record<string, string | number | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== "") query.set(name, String(value));
  const text = query.toString();
  return text ? `/events?${text}` : "/events";
}

export function EventsPage({ session, now, events, kind, error, before, older, latestId }: EventsPageProps) {
  const filter = kind && !error ? kind : undefined;
  const stream = latestId === undefined ? undefined : `/events/stream?${new URLSearchParams({ after: String(latestId), ...(filter && { kind: filter }) })}`;
  const live = stream ? { "hx-sse:connect": stream, "hx-swap": "afterbegin", "aria-live": "polite", "aria-relevant": "additions", "data-keep-rows": "500" } : {};
  return (
    <Page title="Events" session={session} section="events">
      <h1>Events</h1>
      <form method="get" action="/events" class="admin-filter" role="search" aria-label="Filter events">
        <label for="event-kind">Kind starts with</label>
        <div class="admin-filter-row">
          <input
            id="event-kind"
            name="kind"
            type="text"
            list="event-kinds"
            value={kind}
            placeholder="e.g. run or task.finished"
            autocomplete="off"
            spellcheck={false}
          />
          <datalist id="event-kinds">
            {[...KIND_FAMILIES, ...EVENT_KINDS].map((option) => (
              <option value={option} />
            ))}
          </datalist>
          <button type="submit" class="secondary">
            Filter
          </button>
          {kind && (
            <a href="/events" class="button secondary">
              Clear
            </a>
          )}
        </div>
      </form>
      {error && <Notice kind="problem">{error}</Notice>}
      <section class="card admin-card" aria-labelledby="events-table">
        <div class="admin-head">
          <h2 id="events-table">{before === undefined ? (filter ? `Newest ${filter}… events` : "Newest events") : `Events before #${before}`}</h2>
          {stream && (
            <p class="admin-live">
              <span class="admin-live-dot" aria-hidden="true"></span> Live<span class="muted">: new events appear at the top</span>
              <noscript> (reload to see new events)</noscript>
            </p>
          )}
        </div>
        <table class="list events admin-stack">
          <TableHead columns={["Time", "Kind", "Where", "Data"]} />
          <tbody id="event-rows" {...live}>
            {events.map((event) => (
              <EventRow event={event} now={now} />
            ))}
          </tbody>
        </table>
        {events.length === 0 && <p class="muted">{before === undefined ? "No events yet." : "No older events."}</p>}
        <nav class="admin-pager actions" aria-label="Event pages">
          {before !== undefined && <a href={withQuery({ kind: filter })}>Newest events</a>}
          {older !== undefined && (
            <a href={withQuery({ kind: filter, before: older })} rel="next">
              Older events
            </a>
          )}
        </nav>
      </section>
    </Page>
  );
}
