// Writes a task's log: a timestamped line per output line, up to the cap; past it, each
// attempt's last lines are held in memory and written at the attempt's end after one marker
// saying how many lines were dropped, and every such cut is recorded in a sidecar file.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { formatBytes } from "../domain/bytes.ts";

export type LogStream = "out" | "err" | "gantry";

/**
 * A stored line: "<ISO time> <text>" for stdout, "<ISO time> [err] <text>" and
 * "<ISO time> [gantry] <text>" for the others. A stdout line that itself starts with "["
 * is written "[out] <text>", so no output can pass for another stream.
 */
const STORED_LINE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) (?:\[(out|err|gantry)\] )?/;

export interface StoredLine {
  /** The ISO timestamp the store wrote, when the line has one. */
  at?: string;
  stream: LogStream;
  text: string;
}

export function parseStoredLine(line: string): StoredLine {
  const match = STORED_LINE.exec(line);
  if (!match) return { stream: "out", text: line };
  return { at: match[1]!, stream: (match[2] as LogStream | undefined) ?? "out", text: line.slice(match[0].length) };
}

function storedLine(stream: LogStream, text: string): string {
  const marker = stream !== "out" ? `[${stream}] ` : text.startsWith("[") ? "[out] " : "";
  return `${new Date().toISOString()} ${marker}${text}\n`;
}

export interface LogWriter {
  /** Appends one line (without its newline). */
  line(stream: LogStream, text: string): void;
  /**
   * Where a line too long to keep whole may be cut (an index into `text`, at most its
   * length): the masking writer never lets a cut fall inside a secret.
   */
  cutPoint?(text: string): number;
  /**
   * Writes what the log holds back (past its cap: the marker and the attempt's last
   * lines), so `size` covers every line given so far. Called at the end of each attempt.
   */
  flush(): void;
  /** Bytes written so far. */
  readonly size: number;
  /** Flushes, then closes the file. */
  close(): void;
}

/** Lines dropped from the middle of a log at one place (one attempt that passed the cap). */
export interface LogCut {
  /** Byte offset of the marker line that stands for them (while pending: where the gap starts). */
  at: number;
  lines: number;
  bytes: number;
  /** The attempt is still writing: its tail is held in memory, the marker not written yet. */
  pending?: boolean;
}

/** What a log (or a part of it) lost to the cap, from the sidecar file the writer keeps. */
export interface LogTruncation {
  droppedLines: number;
  droppedBytes: number;
  /** The cap it was written under (GANTRY_LOG_MAX_BYTES). */
  maxBytes: number;
  cuts: LogCut[];
}

interface CutsFile {
  maxBytes: number;
  cuts: LogCut[];
}

/**
 * What the part of a log between two byte offsets lost (an attempt's), from its cuts; undefined
 * when nothing. A cut that has dropped nothing yet (its tail still fits) truncated nothing.
 */
export function truncationWithin(content: { maxBytes: number; cuts: readonly LogCut[] }, from = 0, to = Number.POSITIVE_INFINITY): LogTruncation | undefined {
  const cuts = content.cuts.filter((cut) => cut.lines > 0 && cut.at >= from && cut.at < to);
  if (cuts.length === 0) return undefined;
  return {
    droppedLines: cuts.reduce((sum, cut) => sum + cut.lines, 0),
    droppedBytes: cuts.reduce((sum, cut) => sum + cut.bytes, 0),
    maxBytes: content.maxBytes,
    cuts,
  };
}

/** Room kept under the cap for the two lines Gantry writes around a cut (the notice and the marker). */
const CUT_LINES_RESERVE = 512;
/** The share of the cap each attempt's tail may take: half of it, at most this much (it is held in memory). */
const MAX_TAIL_BYTES = 2 * 1024 * 1024;

/** How a cap of `maxBytes` is shared: the head written as it comes, the tail held back and written at the attempt's end. */
export function logBudget(maxBytes: number): { head: number; tail: number } {
  const tail = Math.min(MAX_TAIL_BYTES, Math.floor(maxBytes / 2));
  return { head: Math.max(0, maxBytes - tail - CUT_LINES_RESERVE), tail };
}

const formatCount = (n: number) => n.toLocaleString("en-US");

/** The cuts a log's writer recorded beside it, or none. */
export function readCuts(file: string): CutsFile | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as CutsFile;
  } catch {
    return undefined;
  }
}

export interface LogWriterOptions {
  file: string;
  /** Where the cuts are recorded (JSON), beside the log. */
  sidecar: string;
  maxBytes: number;
  /** Called after the file grew (followers wake). */
  onWrite(file: string): void;
}

export function openLogWriter(options: LogWriterOptions): LogWriter {
  const { file, sidecar } = options;
  const budget = logBudget(options.maxBytes);
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, "a");
  let size = statSync(file).size;
  const cuts = readCuts(sidecar)?.cuts ?? [];
  // Reopened after a restart in the middle of a cut: it goes on (what the old process
  // held in memory is gone; a container's replayed output refills it).
  let cut = cuts.at(-1)?.pending ? cuts.at(-1) : undefined;
  // The held-back tail: the lines from `tailStart` on, `tailBytes` long.
  let tail: (Buffer | undefined)[] = [];
  let tailStart = 0;
  let tailBytes = 0;
  let savedAt = 0;

  const write = (bytes: Buffer) => {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
    size += bytes.length;
  };
  const save = () => {
    savedAt = Date.now();
    const kept = cuts.filter((each) => each.pending || each.lines > 0);
    if (kept.length === 0 && !existsSync(sidecar)) return;
    const content: CutsFile = { maxBytes: options.maxBytes, cuts: kept };
    // Written whole or not at all: a reader never sees half a file.
    writeFileSync(`${sidecar}.tmp`, JSON.stringify(content));
    renameSync(`${sidecar}.tmp`, sidecar);
  };
  const openCut = () => {
    const opened: LogCut = { at: size, lines: 0, bytes: 0, pending: true };
    cuts.push(opened);
    write(
      Buffer.from(
        storedLine(
          "gantry",
          `the log has used the ${formatBytes(budget.head)} it keeps from its start (its cap is ${formatBytes(options.maxBytes)}, GANTRY_LOG_MAX_BYTES): ` +
            `the rest of this attempt's output is held back, and its last ${formatBytes(budget.tail)} are written when the attempt ends`,
        ),
      ),
    );
    save();
    return opened;
  };
  const flush = () => {
    if (!cut) return;
    const ending = cut;
    cut = undefined;
    delete ending.pending;
    if (ending.lines > 0) {
      ending.at = size;
      const what = `${formatCount(ending.lines)} ${ending.lines === 1 ? "line" : "lines"} (${formatBytes(ending.bytes)})`;
      write(
        Buffer.from(
          storedLine(
            "gantry",
            `${what} dropped here: the log is capped at ${formatBytes(options.maxBytes)} (GANTRY_LOG_MAX_BYTES), and keeps its first ${formatBytes(budget.head)} and the last ${formatBytes(budget.tail)} of each attempt`,
          ),
        ),
      );
    }
    const held = tail.slice(tailStart) as Buffer[];
    if (held.length > 0) write(Buffer.concat(held, tailBytes));
    tail = [];
    tailStart = 0;
    tailBytes = 0;
    save();
    options.onWrite(file);
  };
  return {
    get size() {
      return size;
    },
    line(stream, text) {
      // Bytes, not characters: a line of "€" is three times its length on disk.
      const bytes = Buffer.from(storedLine(stream, text));
      // Gantry's own lines between cuts are always written: few, and they say what happens
      // (an attempt after a truncated one begins, an image is pulled).
      if (!cut && (size + bytes.length <= budget.head || stream === "gantry")) {
        write(bytes);
        options.onWrite(file);
        return;
      }
      // Past the head: a runaway task must not fill the disk or memory, and its last
      // lines (where errors are) matter most, so only the newest tail's worth is kept.
      if (!cut) {
        cut = openCut();
        options.onWrite(file);
      }
      tail.push(bytes);
      tailBytes += bytes.length;
      while (tailBytes > budget.tail) {
        const dropped = tail[tailStart]!;
        tail[tailStart++] = undefined;
        tailBytes -= dropped.length;
        cut.lines++;
        cut.bytes += dropped.length;
      }
      if (tailStart > 4096 && tailStart * 2 > tail.length) {
        tail = tail.slice(tailStart);
        tailStart = 0;
      }
      // Readers see how much was dropped so far, at most once a second.
      if (cut.lines > 0 && Date.now() - savedAt > 1000) save();
    },
    flush,
    close() {
      flush();
      closeSync(fd);
      options.onWrite(file);
    },
  };
}
