// A task's log as an ordered list: numbered, linkable lines with their time, a marker for
// stderr and Gantry's own lines, and ANSI colours turned into markup after escaping; the
// htmx partials the run's live stream appends new lines with; the note on a truncated log.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { raw } from "hono/html";
import type { ExecutionRow } from "../../../db/repos/runs.ts";
import { ansiToHtml, escapeHtml, plainStyle, type AnsiStyle } from "../../../domain/ansi.ts";
import { formatBytes } from "../../../domain/bytes.ts";
import { parseStoredLine, type LogStream, type LogTruncation } from "../../../stores/logs.ts";
import { needlePattern } from "../../../domain/log-query.ts";

const MARKERS: Record<LogStream, string> = { out: "", err: "err", gantry: "gantry" };

/** The anchor of a line: `<taskId>-L<n>` (task ids are lower case, so it meets no other id). */
export const lineAnchor = (taskId: string, n: number) => `${taskId}-L${n}`;

/**
 * The ids of a pane's parts. Each prefix differs from the others in its first letters, and
 * line anchors end in an upper-case L, so no task id can make two of them meet.
 */
export const paneId = (taskId: string) => `log-${taskId}`;
export const linesId = (taskId: string) => `lines-${taskId}`;
export const emptyId = (taskId: string) => `empty-${taskId}`;

/** What a task's log pane says while it has no line. */
export function emptyLogText(execution: ExecutionRow): string {
  if (execution.state === "pending") return "Waiting for the task to start.";
  // A gate runs nothing but its autoApprove function (when it has one); its panel says the rest.
  if (execution.state === "waiting") return "Waiting for a decision: see the approval above.";
  if (execution.kind === "approval" && execution.gate !== null) return "No output: see the approval above.";
  if (execution.state === "running") return "No output yet.";
  return execution.startedAt ? "No output." : "Did not run.";
}

/**
 * One line as markup. Built as a string rather than JSX: a page holds up to 2,000 lines and
 * this is several times faster. Every value from outside goes through escapeHtml, and the
 * text through ansiToHtml, which escapes it before adding spans with its own classes.
 */
export function logLineHtml(taskId: string, n: number, line: string, styles?: Record<LogStream, AnsiStyle>, hit = false): string {
  const { at, stream, text } = parseStoredLine(line);
  const anchor = escapeHtml(lineAnchor(taskId, n));
  const time = at ? `<time class="log-at" datetime="${escapeHtml(at)}">${escapeHtml(at.slice(11, 23))}</time>` : `<span class="log-at"></span>`;
  const mark = stream === "out" ? "" : `<span class="log-mark">${MARKERS[stream]}</span>`;
  return `<li id="${anchor}" class="log-line log-${stream}${hit ? " log-hit" : ""}"><a class="log-n" href="#${anchor}">${n}</a>${time}${mark}<span class="log-text">${ansiToHtml(text, styles?.[stream])}</span></li>`;
}

/**
 * One line of a search's results: its text without colours, each match of `needle` marked,
 * and its number linking to `href` (the line among its neighbours).
 */
export function matchedLineHtml(taskId: string, n: number, line: string, needle: string, href: string): string {
  const { at, stream, text } = parseStoredLine(line);
  const plain = Bun.stripANSI(text);
  let marked = "";
  let from = 0;
  if (needle !== "") {
    for (const hit of plain.matchAll(needlePattern(needle, "gi"))) {
      marked += `${escapeHtml(plain.slice(from, hit.index))}<mark class="log-match">${escapeHtml(hit[0])}</mark>`;
      from = hit.index + hit[0].length;
    }
  }
  marked += escapeHtml(plain.slice(from));
  const time = at ? `<time class="log-at" datetime="${escapeHtml(at)}">${escapeHtml(at.slice(11, 23))}</time>` : `<span class="log-at"></span>`;
  const mark = stream === "out" ? "" : `<span class="log-mark">${MARKERS[stream]}</span>`;
  return `<li class="log-line log-${stream}"><a class="log-n" href="${escapeHtml(href)}" aria-label="${escapeHtml(`${taskId} line ${n}`)}">${n}</a>${time}${mark}<span class="log-text">${marked}</span></li>`;
}

/**
 * Consecutive lines numbered from `first`, as markup; a colour left open carries on to the next
 * line of its stream. The lines numbered in `hits` (a search's matches) are marked.
 */
export function logLinesHtml(taskId: string, lines: string[], first: number, hits?: ReadonlySet<number>): string {
  const styles: Record<LogStream, AnsiStyle> = { out: plainStyle(), err: plainStyle(), gantry: plainStyle() };
  return lines.map((line, index) => logLineHtml(taskId, first + index, line, styles, hits?.has(first + index))).join("");
}

/** Consecutive lines numbered from `first`; what a pane starts with. */
export function LogLines({ taskId, lines, first }: { taskId: string; lines: string[]; first: number }) {
  return raw(logLinesHtml(taskId, lines, first));
}

/** The list item that stands for lines left out (the raw log has them all). */
export function skippedLinesHtml(count: number, rawHref: string): string {
  return `<li class="log-skipped">${count} earlier ${count === 1 ? "line" : "lines"} not shown: <a href="${escapeHtml(rawHref)}">raw log</a></li>`;
}

export interface NewLogLines {
  taskId: string;
  /** The number of the first line (after the skipped ones). */
  first: number;
  lines: string[];
  /** Lines left out before these, too many to send. */
  skipped: number;
  rawHref: string;
}

/**
 * New lines for a task's pane as an htmx partial: htmx appends its content to the pane's
 * list, whatever element the stream that carries it swaps into.
 */
export function logLinesPartialHtml({ taskId, first, lines, skipped, rawHref }: NewLogLines): string {
  const note = skipped > 0 ? skippedLinesHtml(skipped, rawHref) : "";
  return `<hx-partial hx-target="#${escapeHtml(linesId(taskId))}" hx-swap="beforeend">${note}${logLinesHtml(taskId, lines, first)}</hx-partial>`;
}

/** What the pane says while its list is empty; the live view replaces it out of band as the task moves on. */
export function LogEmpty({ taskId, text, oob }: { taskId: string; text: string; oob?: boolean }) {
  return (
    <p id={emptyId(taskId)} class="log-empty" hx-swap-oob={oob ? "true" : undefined}>
      {text}
    </p>
  );
}

export interface LogPaneProps {
  taskId: string;
  lines: string[];
  /** The number of the first line shown. */
  first: number;
  /** Whether the task may still write (the run's live stream appends its lines). */
  live: boolean;
  /** What the pane says while it has no line. */
  empty: string;
}

/**
 * The scrolling pane around a log. Its list has a stable id (`lines-<taskId>`), so the run's
 * live stream can append the lines a task writes, from its first on, once it starts.
 */
export function LogPane({ taskId, lines, first, live, empty }: LogPaneProps) {
  return (
    <div id={paneId(taskId)} class="log-pane" tabindex={0} role="region" aria-label={`Log of ${taskId}`} data-live={live ? "true" : undefined}>
      <ol id={linesId(taskId)} class="log" start={first}>
        <LogLines taskId={taskId} lines={lines} first={first} />
      </ol>
      <LogEmpty taskId={taskId} text={empty} />
    </div>
  );
}

/**
 * Says that a log lost lines to its cap and how many: the page shows only its last lines,
 * so the marker line in the middle of the log may be out of sight.
 */
export function LogTruncatedNote({ truncation, rawHref }: { truncation: LogTruncation | undefined; rawHref: string }) {
  if (!truncation) return null;
  const lines = truncation.droppedLines;
  return (
    <p class="log-note log-truncated-note" role="note">
      {`Log truncated: ${lines.toLocaleString("en-US")} ${lines === 1 ? "line" : "lines"} (${formatBytes(truncation.droppedBytes)}) ${lines === 1 ? "was" : "were"} dropped, ` +
        `as the log passed its cap of ${formatBytes(truncation.maxBytes)} (GANTRY_LOG_MAX_BYTES). It keeps its start and the last lines of each attempt; ` +
        "a [gantry] line marks where lines are missing. "}
      <a href={rawHref}>Raw log</a>
    </p>
  );
}
