// Searching task logs on the server, so a search reaches every line of a log, not only the
// last ones a page shows: a task's log, or all of a run's, read a chunk at a time (a log of
// 100,000 lines is never held whole), matched without case and without ANSI codes, with an
// optional filter to stderr or to lines that read as errors. Also a window of lines by number,
// for the page a search result links to.
import type { RunWithTasks } from "../db/repos/runs.ts";
import { logKeyOf } from "../db/repos/task-executions.ts";
import type { RunKey } from "../domain/run-key.ts";
import { ERROR_WORDS, needlePattern, type LogFilter } from "../domain/log-query.ts";
import { parseStoredLine, type LogStore, type LogStream } from "./logs.ts";

export interface LogQuery {
  /** Text to find, matched without case; empty matches every line the filter lets through. */
  text: string;
  filter: LogFilter;
}

export interface LogMatch {
  task: string;
  /** The line's number in its task's log, from 1 (as the run page numbers and anchors it). */
  line: number;
  stream: LogStream;
  /** The stored line (time, stream marker, text with its colours), for rendering. */
  stored: string;
}

const READ_CHUNK = 1 << 20;

/** The complete lines of a log file, one at a time, read in chunks; numbered from 1. */
export async function* logFileLines(path: string): AsyncGenerator<string> {
  const file = Bun.file(path);
  if (!(await file.exists())) return;
  const decoder = new TextDecoder();
  const size = file.size;
  let rest = "";
  for (let at = 0; at < size; at += READ_CHUNK) {
    const text = rest + decoder.decode(await file.slice(at, Math.min(size, at + READ_CHUNK)).bytes(), { stream: true });
    const lines = text.split("\n");
    // The last piece is a line still being written (or a chunk's cut): kept for the next read.
    rest = lines.pop()!;
    yield* lines;
  }
}

/** A compiled query: whether a stored line matches it. */
export function lineMatcher(query: LogQuery): (stored: string) => boolean {
  const needle = query.text === "" ? undefined : needlePattern(query.text);
  return (stored) => {
    const { stream, text } = parseStoredLine(stored);
    if (query.filter === "stderr" && stream !== "err") return false;
    const plain = Bun.stripANSI(text);
    if (query.filter === "errors" && stream !== "err" && !ERROR_WORDS.test(plain)) return false;
    return needle === undefined || needle.test(plain);
  };
}

export interface RunLogSearch {
  /** The matches from `offset`, at most `limit` of them, in task then line order. */
  matches: LogMatch[];
  /** Every match, in all the tasks searched. */
  total: number;
  /** Matches per task searched (tasks without any are left out). */
  perTask: Record<string, number>;
}

export interface RunLogSearchOptions {
  query: LogQuery;
  /** One task's log, or every task's. */
  task?: string | undefined;
  offset: number;
  limit: number;
}

/** Searches a run's task logs (a reused task's is the log of the run that ran it). */
export async function searchRunLogs(logs: LogStore, key: RunKey, run: RunWithTasks, options: RunLogSearchOptions): Promise<RunLogSearch> {
  const matches: LogMatch[] = [];
  const perTask: Record<string, number> = {};
  const matcher = lineMatcher(options.query);
  let total = 0;
  for (const execution of run.tasks) {
    if (options.task !== undefined && execution.taskId !== options.task) continue;
    let line = 0;
    for await (const stored of logFileLines(logs.path(logKeyOf(key, execution)))) {
      line++;
      if (!matcher(stored)) continue;
      if (total >= options.offset && matches.length < options.limit) {
        matches.push({ task: execution.taskId, line, stream: parseStoredLine(stored).stream, stored });
      }
      total++;
      perTask[execution.taskId] = (perTask[execution.taskId] ?? 0) + 1;
    }
  }
  return { matches, total, perTask };
}

export interface LogWindow {
  /** The number of the first line in `lines`. */
  first: number;
  lines: string[];
  /** Lines in the whole log. */
  total: number;
  /** The numbers of the matching lines closest before and after the window, when a query is given. */
  previousMatch?: number | undefined;
  nextMatch?: number | undefined;
  /** The numbers of the lines in the window that match. */
  hits: number[];
}

/**
 * Lines `from`..`to` of a log (clamped to it), and, with a query, the matches in them and the
 * nearest ones on either side: one read of the file.
 */
export async function logWindow(path: string, from: number, to: number, query?: LogQuery): Promise<LogWindow> {
  const matcher = query && lineMatcher(query);
  const lines: string[] = [];
  const hits: number[] = [];
  let previousMatch: number | undefined;
  let nextMatch: number | undefined;
  let n = 0;
  for await (const stored of logFileLines(path)) {
    n++;
    const inside = n >= from && n <= to;
    if (inside) lines.push(stored);
    if (!matcher) continue;
    if (n > to && nextMatch !== undefined) continue;
    if (!matcher(stored)) continue;
    if (n < from) previousMatch = n;
    else if (inside) hits.push(n);
    else nextMatch ??= n;
  }
  return { first: Math.max(1, Math.min(from, n)), lines, total: n, previousMatch, nextMatch, hits };
}
