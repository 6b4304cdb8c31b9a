// An event written to the log and told to this server's bus in one step, so its live pages
// show it at once; the event relay tells other servers' buses the same message, marked remote.
import type { Db } from "../db/client.ts";
import { insertEvent, type EventRow, type NewEvent } from "../db/repos/events.ts";
import type { BusMessage, EventBus } from "./event-bus.ts";

/** The bus message of a stored event: what it is about, never its data (a source's name aside). */
export function busMessageOf(row: EventRow): BusMessage {
  const source = row.kind.startsWith("source.") && typeof row.data.source === "string" ? row.data.source : undefined;
  return {
    kind: row.kind,
    ...(row.namespace !== null && { namespace: row.namespace }),
    ...(row.pipelineId !== null && { pipeline: row.pipelineId }),
    ...(row.runId !== null && { run: row.runId }),
    ...(row.taskId !== null && { task: row.taskId }),
    ...(source !== undefined && { source }),
  };
}

/** Where an event goes: the log (the database), and this server's bus. */
export interface EventSink {
  db: Db;
  bus: EventBus;
}

/**
 * Writes the event and tells the bus.
 *
 * @example
 *   await recordEvent(deps, { kind: "secret.deleted", data: { scope: "global", name }, at: deps.now() });
 */
export async function recordEvent(context: EventSink, event: NewEvent): Promise<EventRow> {
  const row = await insertEvent(context.db, event);
  context.bus.publish(busMessageOf(row));
  return row;
}
