// What the other servers on the database do, told to this server's bus: every event another
// node wrote (the table's ids only grow, so "after the last id seen" misses nothing), marked
// remote. Live pages re-render on those; what acts on a message leaves remote ones alone.
// A server alone on its database (the usual case) has nobody else's events to relay: it looks
// every few seconds, for another server in the nodes table and for events, and follows closely
// from the moment one is there (its events from before are read then: nothing is missed).
import type { Db } from "../db/client.ts";
import { latestEventId, listEventsAfter } from "../db/repos/events.ts";
import { hasLivePeer } from "../db/repos/nodes.ts";
import type { EventBus } from "./event-bus.ts";
import { busMessageOf } from "./record-event.ts";

/** How often the events table is looked at: a page shows another server's change within about this. */
export const RELAY_POLL_MS = 300;
/** Alone on the database: how often it looks for another server (its first events wait at most this). */
export const RELAY_ALONE_POLL_MS = 3_000;
/** Following another server: how often it looks whether one is still there. */
const PEER_LOOK_MS = 10_000;
/** Events read per query; a longer backlog is read in several at once. */
const BATCH = 500;

/**
 * Whether another server may have changed subscriptions with this event: any of a pipeline
 * (a file's triggers are replaced on each load, also one back at content already stored, and a
 * pipeline deleted or renamed takes its triggers along) or of a subscription. Its bus said
 * "subscriptions.changed"; here it is said again, so this server's extensions read them too.
 */
const changesSubscriptions = (kind: string) => kind.startsWith("pipeline.") || kind.startsWith("subscription.");

export interface EventRelay {
  /** Whether another server is on the database (the relay then looks every `pollMs`). */
  following(): boolean;
  stop(): void;
}

export interface EventRelayOptions {
  db: Db;
  bus: EventBus;
  /** This server's node: events it stamped are its own (its bus told them already). */
  nodeId: string;
  pollMs?: number;
  alonePollMs?: number;
  /** Another node whose heartbeat is older than this is gone (GANTRY_LEASE_TIMEOUT). */
  leaseMs: number;
  /** The clock heartbeats are written with. */
  now?: () => Date;
  /** How often, while following, it looks whether the other server is still there. */
  peerLookMs?: number;
}

/** Starts following from the newest event now (what happened before is in the pages' first render). */
export async function startEventRelay(options: EventRelayOptions): Promise<EventRelay> {
  const { db, bus, nodeId, leaseMs } = options;
  const pollMs = options.pollMs ?? RELAY_POLL_MS;
  const alonePollMs = options.alonePollMs ?? RELAY_ALONE_POLL_MS;
  const peerLookMs = options.peerLookMs ?? PEER_LOOK_MS;
  const now = options.now ?? (() => new Date());
  let after = await latestEventId(db);
  let stopped = false;
  const failing = new Set<"nodes" | "events">();
  let following = false;
  let peerLookedAt = Number.NEGATIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;

  /** Relays what is new; true when some of it came from another node. */
  const poll = async (): Promise<boolean> => {
    let fromAnother = false;
    for (;;) {
      const rows = await listEventsAfter(db, after, BATCH);
      let subscriptionsChanged = false;
      for (const row of rows) {
        after = row.id;
        if (row.nodeId === nodeId) continue;
        if (row.nodeId !== null) fromAnother = true;
        // Events without a node (settings and other admin changes) may be this server's own:
        // relayed anyway, which costs a page one more render.
        bus.publish({ ...busMessageOf(row), remote: true });
        if (changesSubscriptions(row.kind)) subscriptionsChanged = true;
      }
      // Once per batch: the extension host reads all subscriptions again on it (one query).
      if (subscriptionsChanged) bus.publish({ kind: "subscriptions.changed", remote: true });
      if (rows.length < BATCH || stopped) return fromAnother;
    }
  };

  /** One read; a failure is said once per outage of that table, not three times a second. */
  const attempt = async (table: "nodes" | "events", read: () => Promise<void>) => {
    try {
      await read();
      failing.delete(table);
    } catch (error) {
      if (!failing.has(table) && !stopped) console.error(`event relay: reading the ${table} table failed:`, error);
      failing.add(table);
    }
  };

  const tick = async () => {
    if (!following || Date.now() - peerLookedAt >= peerLookMs) {
      await attempt("nodes", async () => {
        following = await hasLivePeer(db, nodeId, new Date(now().getTime() - leaseMs));
        peerLookedAt = Date.now();
      });
    }
    await attempt("events", async () => {
      // An event of another node's is a server there too, even before its heartbeat shows.
      if ((await poll()) && !following) {
        following = true;
        peerLookedAt = Date.now();
      }
    });
    if (!stopped) {
      timer = setTimeout(() => void tick(), following ? pollMs : alonePollMs);
      timer.unref();
    }
  };
  timer = setTimeout(() => void tick(), pollMs);
  timer.unref();
  return {
    following: () => following,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
