// Task logs: one file per execution (its attempts one after the other), readable while it
// grows and followable live, and what each lost to its size cap. Writing (the line format,
// the cap's head and tail) is in log-writer.ts.
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { openLogWriter, parseStoredLine, readCuts, truncationWithin, type LogTruncation, type LogWriter } from "./log-writer.ts";

export { parseStoredLine, truncationWithin, type LogCut, type LogStream, type LogTruncation, type LogWriter, type StoredLine } from "./log-writer.ts";

export interface LogKey {
  namespace: string;
  pipeline: string;
  run: number;
  task: string;
}

/** Complete lines of each output stream in a part of a log. */
export interface LineCounts {
  out: number;
  err: number;
}

export interface LogStore {
  path(key: LogKey): string;
  open(key: LogKey): LogWriter;
  /** The whole log, or undefined when the task has not written one. */
  read(key: LogKey): Promise<string | undefined>;
  /** The bytes from `from` to `to` (or the end): one attempt's part of the log. */
  readRange(key: LogKey, from: number, to?: number): Promise<string | undefined>;
  /**
   * What the log lost to its cap, or undefined when it is whole; with `from`/`to`, only
   * the cuts whose marker lies in that part (one attempt's).
   */
  truncation(key: LogKey, from?: number, to?: number): Promise<LogTruncation | undefined>;
  /** How many stdout and stderr lines the log holds after a byte offset (a re-attached task skips them). */
  lineCounts(key: LogKey, from: number): Promise<LineCounts>;
  /** The last `max` complete lines from a byte offset, and where they end (for following on). */
  tail(key: LogKey, from: number, max: number): Promise<LogTail>;
  /**
   * Yields the log in chunks as it grows, until `finished()` is true and everything is read.
   * `from` skips that many bytes (a reader that has the start already); give it a line boundary.
   */
  follow(key: LogKey, finished: () => Promise<boolean>, signal: AbortSignal, from?: number): AsyncGenerator<string>;
}

export interface LogTail {
  /** The last complete lines after the start offset, at most the limit. */
  lines: string[];
  /** Complete lines after the start offset that are left out before them. */
  skipped: number;
  /** The byte offset just after the last complete line (where following goes on). */
  end: number;
}

/** Log files are read in pieces of this size, so a page with many big logs stays small in memory. */
const READ_CHUNK = 1 << 20;

/**
 * The complete lines of a log file from a byte offset, only the last `max` of them read whole.
 * A line still being written (no newline yet) is left for the follower.
 */
async function readTail(path: string, from: number, max: number): Promise<LogTail> {
  const file = Bun.file(path);
  if (!(await file.exists())) return { lines: [], skipped: 0, end: from };
  const size = file.size;
  let count = 0;
  let end = from;
  for (let at = from; at < size; at += READ_CHUNK) {
    const bytes = await file.slice(at, Math.min(size, at + READ_CHUNK)).bytes();
    for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) {
      count++;
      end = at + i + 1;
    }
  }
  if (count === 0) return { lines: [], skipped: 0, end: from };
  let start = from;
  if (count > max) {
    // Walk back over max + 1 newlines (the last line's own first): the last one passed ends the skipped part.
    let needed = max + 1;
    let position = end;
    search: while (position > from) {
      const chunkStart = Math.max(from, position - READ_CHUNK);
      const bytes = await file.slice(chunkStart, position).bytes();
      // lastIndexOf with a negative start counts from the end, hence the guard at 0.
      for (let i = bytes.lastIndexOf(10); i !== -1; i = i > 0 ? bytes.lastIndexOf(10, i - 1) : -1) {
        if (--needed === 0) {
          start = chunkStart + i + 1;
          break search;
        }
      }
      position = chunkStart;
    }
  }
  const lines = new TextDecoder().decode(await file.slice(start, end).bytes()).split("\n");
  lines.pop();
  return { lines, skipped: count - lines.length, end };
}

export interface LogStoreOptions {
  dir: string;
  maxBytes: number;
}

export function createLogStore(options: LogStoreOptions): LogStore {
  const waiters = new Map<string, Set<() => void>>();
  const wake = (path: string) => {
    const set = waiters.get(path);
    if (!set) return;
    waiters.delete(path);
    for (const resolve of set) resolve();
  };
  const waitForGrowth = (path: string, ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const set = waiters.get(path) ?? new Set();
      waiters.set(path, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
      set.add(done);
    });

  const path = (key: LogKey) =>
    join(options.dir, key.namespace, key.pipeline, String(key.run), `${key.task}.log`);
  /** The sidecar a writer keeps beside a log it cut: durable without a database column. */
  const cutsPath = (key: LogKey) => join(options.dir, key.namespace, key.pipeline, String(key.run), `${key.task}.cuts.json`);

  return {
    path,
    open: (key) => openLogWriter({ file: path(key), sidecar: cutsPath(key), maxBytes: options.maxBytes, onWrite: wake }),
    async truncation(key, from, to) {
      const content = readCuts(cutsPath(key));
      return content && truncationWithin(content, from, to);
    },
    async read(key) {
      const file = Bun.file(path(key));
      return (await file.exists()) ? file.text() : undefined;
    },
    async readRange(key, from, to) {
      const file = Bun.file(path(key));
      if (!(await file.exists())) return undefined;
      return file.slice(from, to ?? file.size).text();
    },
    async lineCounts(key, from) {
      const counts: LineCounts = { out: 0, err: 0 };
      const file = Bun.file(path(key));
      if (!(await file.exists())) return counts;
      const text = await file.slice(from).text();
      const lines = text.split("\n");
      // The last piece has no newline yet: not a complete line.
      lines.pop();
      for (const line of lines) {
        const { stream } = parseStoredLine(line);
        if (stream === "out" || stream === "err") counts[stream]++;
      }
      return counts;
    },
    tail: (key, from, max) => readTail(path(key), from, max),
    async *follow(key, finished, signal, from = 0) {
      const file = path(key);
      let offset = from;
      let carry = Buffer.alloc(0);
      while (!signal.aborted) {
        // Ask before reading so nothing written between the read and the check is lost.
        const done = await finished();
        if (existsSync(file)) {
          const fd = openSync(file, "r");
          try {
            const buffer = Buffer.alloc(64 * 1024);
            for (;;) {
              const n = readSync(fd, buffer, 0, buffer.length, offset);
              if (n <= 0) break;
              offset += n;
              const chunk = Buffer.concat([carry, buffer.subarray(0, n)]);
              // Only hand out whole lines; keep a partial tail for the next read.
              const end = chunk.lastIndexOf(10) + 1;
              carry = Buffer.from(chunk.subarray(end));
              if (end > 0) yield chunk.subarray(0, end).toString("utf8");
            }
          } finally {
            closeSync(fd);
          }
        }
        if (done) {
          if (carry.length > 0) yield carry.toString("utf8");
          return;
        }
        await waitForGrowth(file, 500, signal);
      }
    },
  };
}
