// A source's event: stored (the events page, audits) and told to live pages, for every change
// to a source and every sync, from the API, gantry.toml and the syncer alike.
import type { Db } from "../../db/client.ts";
import { insertEvent } from "../../db/repos/events.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { EventBus } from "../event-bus.ts";

export async function recordSourceEvent(context: { db: Db; bus: EventBus; now: () => Date }, kind: EventKind, source: string, data: Record<string, unknown> = {}): Promise<void> {
  await insertEvent(context.db, { kind, data: { source, ...data }, at: context.now() });
  context.bus.publish({ kind, source });
}
