// The one place that opens the database. An embedded file gets WAL, synchronous=FULL,
// foreign keys and a busy timeout; every write transaction is BEGIN IMMEDIATE.
import { createClient, type Client, type Transaction, type TransactionMode } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import * as schema from "./schema/index.ts";

export type Db = LibSQLDatabase<typeof schema>;
/** A transaction of Db: repos that a verb composes into one commit take either. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  client: Client;
  close(): void;
}

const EMBEDDED_PRAGMAS = [
  "PRAGMA journal_mode = WAL",
  // FULL: an acknowledged commit survives power loss and kill -9, not only a crash.
  "PRAGMA synchronous = FULL",
  "PRAGMA foreign_keys = ON",
  "PRAGMA busy_timeout = 5000",
];

/** Opens the database at a `file:` path or a libSQL server URL. */
export async function openDatabase(url: string, authToken?: string): Promise<Database> {
  const embedded = url.startsWith("file:") || url === ":memory:";
  // Pragmas are per connection, so an embedded database keeps exactly one connection
  // and this wrapper queues callers instead of letting the pool open fresh ones.
  const raw = createClient({ url, ...(authToken && { authToken }), ...(embedded && { concurrency: 1 }) });
  if (embedded) {
    for (const pragma of EMBEDDED_PRAGMAS) await raw.execute(pragma);
  }
  const client = embedded ? serialize(raw) : raw;
  const db = drizzle(client, { schema, casing: "snake_case" });
  return { db, client, close: () => raw.close() };
}

/** Runs every call on the single connection one at a time; a transaction holds the turn until it ends. */
function serialize(client: Client): Client {
  let tail: Promise<unknown> = Promise.resolve();
  const turn = (): Promise<() => void> => {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const previous = tail;
    tail = previous.then(() => done);
    return previous.then(() => release);
  };
  const queued =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const release = await turn();
      try {
        return await call(...args);
      } finally {
        release();
      }
    };
  const wrapper: Partial<Client> = {
    execute: queued(client.execute.bind(client)) as Client["execute"],
    batch: queued(client.batch.bind(client)) as Client["batch"],
    migrate: queued(client.migrate.bind(client)) as Client["migrate"],
    executeMultiple: queued(client.executeMultiple.bind(client)),
    transaction: async (mode?: TransactionMode): Promise<Transaction> => {
      const release = await turn();
      let tx: Transaction;
      try {
        tx = await client.transaction(mode ?? "write");
      } catch (error) {
        release();
        throw error;
      }
      let released = false;
      const end = () => {
        if (!released) {
          released = true;
          release();
        }
      };
      return new Proxy(tx, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver);
          if (key === "commit" || key === "rollback") {
            return async () => {
              try {
                return await (value as () => Promise<void>).call(target);
              } finally {
                end();
              }
            };
          }
          if (key === "close") {
            return () => {
              (value as () => void).call(target);
              end();
            };
          }
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    },
  };
  return new Proxy(client, {
    get(target, key, receiver) {
      if (key in wrapper) return wrapper[key as keyof Client];
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
