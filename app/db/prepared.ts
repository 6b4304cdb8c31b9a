// Queries built once. Drizzle builds a query's SQL text anew on every call (its columns, names
// and conditions walked each time): 50–110 µs for a select of one run row on this 2-core
// machine, against ~15 µs to run it prepared. The engine's per-run path runs the same few dozen
// queries for every run, so those are built here once, with `sql.placeholder` for what varies,
// and run in the database or in whichever transaction the caller holds.
import { sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "./client.ts";

/** What drizzle's libsql session (and its prepared query) holds: the client, and the transaction to run in, if any. */
interface SessionLike {
  client: object;
  tx?: unknown;
}

const sessionOf = (db: DbOrTx): SessionLike => (db as unknown as { session: SessionLike }).session;

/**
 * A query built on first use and kept per database client; called with a transaction, the kept
 * query runs in that transaction (drizzle's libsql prepared query runs in its `tx` when set).
 *
 * @example
 *   const runRow = prepared((db) => db.select().from(runs).where(eq(runs.id, sql.placeholder("run"))).prepare());
 *   const [row] = await runRow(tx).all({ run: 7 });
 */
export function prepared<Q extends object>(build: (db: DbOrTx) => Q): (db: DbOrTx) => Q {
  const kept = new WeakMap<object, Q>();
  return (db) => {
    const session = sessionOf(db);
    let query = kept.get(session.client);
    if (!query) kept.set(session.client, (query = build(db)));
    if ((query as { tx?: unknown }).tx === session.tx) return query;
    // The same built query, bound to the caller's transaction (or to none).
    return Object.assign(Object.create(Object.getPrototypeOf(query) as object) as Q, query, { tx: session.tx });
  };
}

/**
 * A placeholder whose value reaches the driver as given, not through its column's encoder
 * (which turns a null timestamp into a crash and a null JSON value into "null"): the caller
 * passes a Date as its milliseconds and null as null.
 */
export const driverValue = (name: string): SQL => sql`${sql.placeholder(name)}`;

/** A Date (or null) as a timestamp_ms column stores it, for `driverValue`. */
export const msOf = (date: Date | null | undefined): number | null => (date ? date.getTime() : null);
