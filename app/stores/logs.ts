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
  /**
   * Yields the log in chunks as it grows, until `finished()` is true and everything is read.
   * `from` skips that many bytes (a reader that has the start already); give it a line boundary.
   */
  follow(key: LogKey, finished: () => Promise<boolean>, signal: AbortSignal, from?: number): AsyncGenerator<string>;
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
