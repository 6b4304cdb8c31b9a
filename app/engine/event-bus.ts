// In-process notifications: "something changed". Listeners (SSE streams, `run --wait`,
// followers of a run) then read the durable state from the database. What other servers on
// the database did arrives too, marked remote (engine/event-relay.ts).

export interface BusMessage {
  kind: string;
  namespace?: string;
  pipeline?: string;
  run?: number;
  task?: string;
  /** A git source whose sync state changed. */
  source?: string;
  /**
   * Another server did it (the event relay read it from the events table). Pages re-render on
   * it; whatever acts on a message (tells extensions, starts work) leaves it to that server.
   */
  remote?: boolean;
}

export interface EventBus {
  publish(message: BusMessage): void;
  subscribe(listener: (message: BusMessage) => void): () => void;
}

export function createEventBus(): EventBus {
  const listeners = new Set<(message: BusMessage) => void>();
  return {
    publish(message) {
      for (const listener of listeners) {
        try {
          listener(message);
        } catch {
          // one broken listener must not stop the others
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
