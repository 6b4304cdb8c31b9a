// Task logs: one file per execution, a timestamped line per output line, capped in size,
// readable while it grows and followable live.
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

export interface LogKey {
  namespace: string;
  pipeline: string;
  run: number;
  task: string;
}

export type LogStream = "out" | "err" | "gantry";

export interface LogWriter {
  /** Appends one line (without its newline). */
  line(stream: LogStream, text: string): void;
  /** Bytes written so far. */
  readonly size: number;
  close(): void;
}

export interface LogStore {
  path(key: LogKey): string;
  open(key: LogKey): LogWriter;
  /** The whole log, or undefined when the task has not written one. */
  read(key: LogKey): Promise<string | undefined>;
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

  return {
    path,
    open(key) {
      const file = path(key);
      mkdirSync(dirname(file), { recursive: true });
      const fd = openSync(file, "a");
      let size = statSync(file).size;
      let truncated = false;
      return {
        get size() {
          return size;
        },
        line(stream, text) {
          if (truncated) return;
          const prefix = `${new Date().toISOString()} ${stream === "out" ? "" : `[${stream}] `}`;
          let entry = `${prefix}${text}\n`;
          // Bytes, not characters: a line of "€" is three times its length on disk.
          if (size + Buffer.byteLength(entry) > options.maxBytes) {
            // A runaway task must not fill the disk: stop writing, say so once.
            truncated = true;
            entry = `${new Date().toISOString()} [gantry] log truncated: it reached the limit of ${options.maxBytes} bytes\n`;
          }
          const bytes = Buffer.from(entry);
          writeSync(fd, bytes);
          size += bytes.length;
          wake(file);
        },
        close() {
          closeSync(fd);
          wake(file);
        },
      };
    },
    async read(key) {
      const file = Bun.file(path(key));
      return (await file.exists()) ? file.text() : undefined;
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
