// Prepared statements kept per connection. @libsql/client prepares every statement anew on
// each call, reads its columns twice and probes raw mode by a throw; on the engine's and the
// webhook path's small queries those native calls were a quarter of the server's CPU (the
// webhook bench's profile: prepare 9%, columns 8%). This keeps the last statements of each
// connection by their SQL text, with their columns and raw-mode answer, so a repeated query
// only binds and steps. SQLite re-prepares a kept statement itself if the schema changes.
import Database from "libsql";

/** Distinct SQL texts kept per connection (drizzle's texts repeat; an IN list of another length is another text). */
const KEPT = 500;

interface Statement {
  columns(): unknown[];
  raw(toggle?: boolean): Statement;
}

interface Prepare {
  prepare(sql: string, ...rest: unknown[]): Statement;
}

let installed = false;

/** Makes every libsql connection of this process keep its prepared statements (once). */
export function keepPreparedStatements(): void {
  if (installed) return;
  installed = true;
  const proto = (Database as unknown as { prototype: Prepare }).prototype;
  const prepare = proto.prepare;
  const kept = new WeakMap<object, Map<string, Statement>>();
  proto.prepare = function (this: object, sql: string, ...rest: unknown[]): Statement {
    // Internal calls with more arguments (pragma helpers) are left as they were.
    if (rest.length > 0) return prepare.call(this, sql, ...rest);
    let statements = kept.get(this);
    if (!statements) kept.set(this, (statements = new Map()));
    const found = statements.get(sql);
    if (found) {
      // Most recently used last: the first is the one to drop.
      statements.delete(sql);
      statements.set(sql, found);
      return found;
    }
    const statement = remember(prepare.call(this, sql));
    statements.set(sql, statement);
    if (statements.size > KEPT) statements.delete(statements.keys().next().value!);
    return statement;
  };
}

/** The statement with its columns and whether it returns rows (raw mode throws when not) read once. */
function remember(statement: Statement): Statement {
  const columns = statement.columns.bind(statement);
  const raw = statement.raw.bind(statement);
  let knownColumns: unknown[] | undefined;
  let noRows: unknown;
  statement.columns = () => (knownColumns ??= columns());
  statement.raw = (toggle?: boolean) => {
    if (toggle !== false && noRows !== undefined) throw noRows;
    try {
      raw(toggle);
    } catch (error) {
      if (toggle !== false) noRows = error;
      throw error;
    }
    return statement;
  };
  return statement;
}
