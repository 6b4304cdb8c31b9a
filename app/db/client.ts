// The one place that opens the database. An embedded file gets WAL, synchronous=FULL,
// foreign keys and a busy timeout; every write transaction is BEGIN IMMEDIATE.
import type { Client, InArgs, InStatement, ResultSet, Transaction } from "@libsql/client";
import { createClient as createEmbeddedClient } from "@libsql/client/sqlite3";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
// The embedded client's entry: drizzle-orm/libsql's would import the remote protocols' clients too.
import { drizzle } from "drizzle-orm/libsql/sqlite3";
import * as schema from "./schema/index.ts";
import { keepPreparedStatements } from "./statement-cache.ts";

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
  // First: a server starting beside another one on the same file waits out that one's WAL
  // recovery (SQLITE_BUSY_RECOVERY) instead of failing its own start.
  "PRAGMA busy_timeout = 5000",
  "PRAGMA journal_mode = WAL",
  // FULL: an acknowledged commit survives power loss and kill -9, not only a crash.
  "PRAGMA synchronous = FULL",
  "PRAGMA foreign_keys = ON",
];

/** Opens the database at a `file:` path or a libSQL server URL. */
export async function openDatabase(url: string, authToken?: string): Promise<Database> {
  const embedded = url.startsWith("file:") || url === ":memory:";
  if (embedded) keepPreparedStatements();
  // Only the client the URL needs: the remote protocols' (HTTP, WebSocket) cost ~1.5 MiB of
  // memory a server on an embedded file never uses.
  const createClient = embedded ? createEmbeddedClient : (await import("@libsql/client")).createClient;
  // Pragmas are per connection, so an embedded database keeps exactly one connection
  // and this wrapper queues callers instead of letting the pool open fresh ones.
  const raw = createClient({ url, ...(authToken && { authToken }), ...(embedded && { concurrency: 1 }) });
  if (embedded) {
    for (const pragma of EMBEDDED_PRAGMAS) await raw.execute(pragma);
  }
  const serialized = embedded ? serialize(raw) : undefined;
  const client = serialized?.client ?? raw;
  const db = drizzle(client, { schema, casing: "snake_case" });
  // A group whose commit waits for its turn is committed first: closing must not drop it, or leave it holding the write lock.
  return { db, client, close: () => (serialized?.commitNow(), raw.close()) };
}

/**
 * Calls in one group at most, and how long it stays open at most: it holds the file's write
 * lock, and a write's caller waits for its commit. (Reads count too: callers reading in a
 * loop would otherwise keep it open.)
 */
const GROUP_MAX = 64;
const GROUP_MAX_MS = 10;

/** What a call in its turn gave, and (a write) when it is durable. */
interface Step<R> {
  result: R;
  committed?: Promise<void>;
}

/** A write transaction left open while transactions queue up behind each other: committed once for all of them. */
interface Group {
  tx: Transaction;
  /** Calls in it (writes' callers hear of them once the group is committed). */
  size: number;
  opened: number;
  durable: { resolve: () => void; reject: (error: unknown) => void }[];
}

/**
 * Runs every call on the single connection one at a time; a transaction holds the turn until
 * it ends. Group commit: a write transaction is a savepoint in a transaction left open while
 * more calls queue behind it, and one COMMIT (one fsync) ends them all, once nothing waits or
 * GROUP_MAX is reached. A caller's commit (or write) resolves only once that COMMIT is
 * durable, so what was acknowledged survives a crash as before; on a machine that commits
 * 100 tasks' claims at once this is one fsync instead of 100. Reads join the open group: they
 * see what it wrote up to ~10 ms before it is durable (a crash then loses what they saw, as
 * it does the writes, whose callers never heard of them). Anything else (PRAGMA, VACUUM, DDL)
 * runs after the group is committed; migrations are a transaction like any other.
 */
function serialize(client: Client): { client: Client; commitNow(): void } {
  let tail: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  /** A caller has the turn (it may hold a savepoint of the group open). */
  let holding = false;
  const turn = (): Promise<() => void> => {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const previous = tail;
    tail = previous.then(() => done);
    waiting++;
    return previous.then(() => {
      waiting--;
      holding = true;
      return () => {
        holding = false;
        release();
      };
    });
  };
  let group: Group | undefined;

  const commitGroup = async () => {
    const current = group;
    if (!current) return;
    group = undefined;
    try {
      await current.tx.commit();
      for (const each of current.durable) each.resolve();
    } catch (error) {
      current.tx.close();
      for (const each of current.durable) each.reject(error);
    }
  };
  let commitQueued = false;
  /**
   * The turn's holder is done. A full or old group is committed now; otherwise, with nobody
   * waiting, the commit takes its own turn once the event loop has run what became ready
   * meanwhile (the last commit's fsync blocked it): work that queues by then joins the group.
   */
  const settle = async () => {
    if (!group) return;
    if (group.size >= GROUP_MAX || performance.now() - group.opened >= GROUP_MAX_MS) return commitGroup();
    if (waiting > 0 || commitQueued) return;
    commitQueued = true;
    setImmediate(async () => {
      const release = await turn();
      commitQueued = false;
      try {
        await commitGroup();
      } finally {
        release();
      }
    });
  };
  const joinGroup = async (): Promise<Group> => (group ??= { tx: await client.transaction("write"), size: 0, opened: performance.now(), durable: [] });
  /** Resolves once the group's writes so far are committed. */
  const durable = (current: Group) => new Promise<void>((resolve, reject) => current.durable.push({ resolve, reject }));
  /** A write failed in the group: its savepoint is undone, or (SQLite ended the whole transaction) the group fails. */
  const undo = async (current: Group, savepoint: string, cause: unknown) => {
    try {
      await current.tx.execute(`ROLLBACK TO ${savepoint}`);
      await current.tx.execute(`RELEASE ${savepoint}`);
    } catch {
      if (group === current) group = undefined;
      current.tx.close();
      const aborted = new Error(`not committed: SQLite rolled back the transaction it was grouped with (${(cause as Error)?.message ?? cause})`, { cause });
      for (const each of current.durable) each.reject(aborted);
    }
  };
  /** A savepoint of its own in the group, for a write or a transaction: kept (committed with the group) or undone. */
  const savepointIn = async (kind: "write" | "tx") => {
    const current = await joinGroup();
    // One name per kind: they never nest (the turn is held until one ends), and a name that
    // repeats keeps its SAVEPOINT and RELEASE prepared (statement-cache.ts) instead of new text each time.
    const name = `gantry_${kind}`;
    await current.tx.execute(`SAVEPOINT ${name}`);
    return {
      tx: current.tx,
      /** Its writes stay in the group; `committed` resolves once the group is. */
      async keep(): Promise<{ committed: Promise<void> }> {
        try {
          await current.tx.execute(`RELEASE ${name}`);
        } catch (error) {
          await undo(current, name, error);
          throw error;
        }
        current.size++;
        return { committed: durable(current) };
      },
      drop: (cause: unknown) => undo(current, name, cause),
    };
  };
  /** One statement or batch that changes rows, in the group under a savepoint of its own. */
  const groupedWrite =
    <R>(call: (tx: Transaction) => Promise<R>) =>
    async (): Promise<Step<R>> => {
      const point = await savepointIn("write");
      let result: R;
      try {
        result = await call(point.tx);
      } catch (error) {
        await point.drop(error);
        throw error;
      }
      return { result, ...(await point.keep()) };
    };
  /** A read in the open group. */
  const groupedRead =
    <R>(call: (tx: Transaction) => Promise<R>) =>
    async (): Promise<Step<R>> => {
      const current = await joinGroup();
      current.size++;
      return { result: await call(current.tx) };
    };
  /**
   * One call in its turn: in the group when `route` gives a way (a write, or a read while a
   * group is open), else on its own once the group is committed. Resolves once what it wrote is durable.
   */
  const queued =
    <A extends unknown[], R>(plain: (...args: A) => Promise<R>, route?: (...args: A) => (() => Promise<Step<R>>) | undefined) =>
    async (...args: A): Promise<R> => {
      const release = await turn();
      let step: Step<R>;
      try {
        const grouped = route?.(...args);
        if (grouped) step = await grouped();
        else {
          await commitGroup();
          step = { result: await plain(...args) };
        }
      } finally {
        // Failed or not, the last in line commits what the group holds.
        await settle();
        release();
      }
      if (step.committed) await step.committed;
      return step.result;
    };
  const execute = queued(client.execute.bind(client) as (stmt: InStatement) => Promise<ResultSet>, (stmt) =>
    isWrite(stmt) ? groupedWrite((tx) => tx.execute(stmt)) : group && isRead(stmt) ? groupedRead((tx) => tx.execute(stmt)) : undefined,
  );
  const wrapper: Partial<Client> = {
    execute: ((stmt: InStatement | string, args?: InArgs) => execute(args === undefined ? stmt : { sql: stmt as string, args })) as Client["execute"],
    batch: queued(client.batch.bind(client) as (stmts: InStatement[]) => Promise<ResultSet[]>, (stmts) =>
      stmts.every((stmt) => isRead(stmt) || isWrite(stmt)) ? groupedWrite((tx) => tx.batch(stmts)) : undefined,
    ) as Client["batch"],
    migrate: queued(client.migrate.bind(client)) as Client["migrate"],
    executeMultiple: queued(client.executeMultiple.bind(client)),
    transaction: async (): Promise<Transaction> => {
      const release = await turn();
      let point: Awaited<ReturnType<typeof savepointIn>>;
      try {
        point = await savepointIn("tx");
      } catch (error) {
        await settle();
        release();
        throw error;
      }
      let ended = false;
      const end = async (keep: boolean, cause?: unknown) => {
        if (ended) return undefined;
        ended = true;
        let committed: Promise<void> | undefined;
        try {
          if (keep) committed = (await point.keep()).committed;
          else await point.drop(cause ?? new Error("rolled back"));
        } finally {
          await settle();
          release();
        }
        return committed;
      };
      // After its end a statement must not land in whatever group is open then.
      const open = () => {
        if (ended) throw new Error("the transaction has ended");
        return point.tx;
      };
      const tx: Transaction = {
        execute: async (stmt: InStatement) => open().execute(stmt),
        batch: async (stmts: InStatement[]) => open().batch(stmts),
        executeMultiple: async (sql: string) => open().executeMultiple(sql),
        async commit() {
          await (await end(true));
        },
        async rollback() {
          await end(false);
        },
        close() {
          void end(false);
        },
        get closed() {
          return ended;
        },
      } as Transaction;
      return tx;
    },
  };
  /** Commits the open group at once unless a caller is inside it (libsql's COMMIT runs before its promise is returned): for close(). */
  const commitNow = () => {
    if (!holding) void commitGroup();
  };
  const proxy = new Proxy(client, {
    get(target, key, receiver) {
      if (key in wrapper) return wrapper[key as keyof Client];
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { client: proxy, commitNow };
}

/** The statement's text, whatever form it was given in. */
const sqlOf = (stmt: unknown): string => (typeof stmt === "string" ? stmt : ((stmt as { sql?: string } | undefined)?.sql ?? ""));
/** A plain read: joins an open group (it sees what the group wrote). */
const isRead = (stmt: unknown) => /^\s*select\b/i.test(sqlOf(stmt));
/** A row change: may be grouped; anything else (PRAGMA, VACUUM, DDL) runs outside a transaction. */
const isWrite = (stmt: unknown) => /^\s*(insert|update|delete|replace)\b/i.test(sqlOf(stmt));
