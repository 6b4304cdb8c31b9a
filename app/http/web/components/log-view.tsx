// A task's log as an ordered list: numbered, linkable lines with their time, a marker for
// stderr and Gantry's own lines, and ANSI colours turned into markup after escaping.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { raw } from "hono/html";
import { ansiToHtml, escapeHtml } from "../../../domain/ansi.ts";

export type LogLineStream = "out" | "err" | "gantry";

export interface ParsedLogLine {
  /** The ISO timestamp the log store wrote, when the line has one. */
  at?: string;
  stream: LogLineStream;
  text: string;
}

/** "<ISO timestamp> [err] text"; stdout lines have no stream marker. */
const STORED_LINE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) (?:\[(err|gantry)\] )?/;

export function parseLogLine(line: string): ParsedLogLine {
  const match = STORED_LINE.exec(line);
  if (!match) return { stream: "out", text: line };
  return { at: match[1]!, stream: (match[2] as LogLineStream | undefined) ?? "out", text: line.slice(match[0].length) };
}

const MARKERS: Record<LogLineStream, string> = { out: "", err: "err", gantry: "gantry" };

/** The anchor of a line: `<taskId>-L<n>` (task ids are lower case, so it meets no other id). */
export const lineAnchor = (taskId: string, n: number) => `${taskId}-L${n}`;

/**
 * One line as markup. Built as a string rather than JSX: a page holds up to 2,000 lines and
 * this is several times faster. Every value from outside goes through escapeHtml, and the
 * text through ansiToHtml, which escapes it before adding spans with its own classes.
 */
export function logLineHtml(taskId: string, n: number, line: string): string {
  const { at, stream, text } = parseLogLine(line);
  const anchor = escapeHtml(lineAnchor(taskId, n));
  const time = at ? `<time class="log-at" datetime="${escapeHtml(at)}">${escapeHtml(at.slice(11, 23))}</time>` : `<span class="log-at"></span>`;
  const mark = stream === "out" ? "" : `<span class="log-mark">${MARKERS[stream]}</span>`;
  return `<li id="${anchor}" class="log-line log-${stream}"><a class="log-n" href="#${anchor}">${n}</a>${time}${mark}<span class="log-text">${ansiToHtml(text)}</span></li>`;
}

/** Consecutive lines numbered from `first`; what a log stream sends and a pane starts with. */
export function LogLines({ taskId, lines, first }: { taskId: string; lines: string[]; first: number }) {
  return raw(lines.map((line, index) => logLineHtml(taskId, first + index, line)).join(""));
}

/** The list item that stands for lines left out (the raw log has them all). */
export function SkippedLines({ count, rawHref }: { count: number; rawHref: string }) {
  return (
    <li class="log-skipped">
      {`${count} earlier ${count === 1 ? "line" : "lines"} not shown: `}
      <a href={rawHref}>raw log</a>
    </li>
  );
}

export interface LogPaneProps {
  taskId: string;
  lines: string[];
  /** The number of the first line shown. */
  first: number;
  /** The SSE stream that appends new lines, while the task may still write. */
  stream?: string;
  /** What the pane says while it has no line. */
  empty: string;
  /** Rendered as an out-of-band swap that replaces the pane of the same id. */
  oob?: boolean;
}

/**
 * The scrolling pane around a log. Its id is stable (`log-<taskId>`) so the live run view
 * can replace it with a streaming one once the task starts.
 */
export function LogPane({ taskId, lines, first, stream, empty, oob }: LogPaneProps) {
  const live = stream ? { "hx-sse:connect": stream, "hx-swap": "beforeend", "hx-sse:close": "end" } : {};
  return (
    <div
      id={`log-${taskId}`}
      class="log-pane"
      tabindex={0}
      role="region"
      aria-label={`Log of ${taskId}`}
      data-live={stream ? "true" : undefined}
      hx-swap-oob={oob ? "true" : undefined}
    >
      <ol class="log" start={first} {...live}>
        <LogLines taskId={taskId} lines={lines} first={first} />
      </ol>
      <p class="log-empty">{empty}</p>
    </div>
  );
}
