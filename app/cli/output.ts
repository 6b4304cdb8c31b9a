// Terminal output for CLI commands: aligned tables, durations and times, and state
// colours and symbols — colour only when stdout is a terminal and NO_COLOR is unset.
import { formatDuration } from "../domain/duration.ts";

/** Colour is for people at a terminal; pipes and NO_COLOR (https://no-color.org) get plain text. */
function colorEnabled(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}

const STYLES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, cyan: 36 } as const;
export type Style = keyof typeof STYLES;

export function paint(style: Style, text: string): string {
  return colorEnabled() ? `\x1b[${STYLES[style]}m${text}\x1b[0m` : text;
}

const STATE_STYLE: Record<string, Style> = {
  queued: "blue",
  pending: "dim",
  running: "cyan",
  waiting: "yellow",
  successful: "green",
  failed: "red",
  cancelled: "yellow",
  skipped: "dim",
  reused: "green",
};

const STATE_SYMBOL: Record<string, string> = {
  queued: "⋯",
  pending: "·",
  running: "●",
  // An approval gate waiting for a person.
  waiting: "⧗",
  successful: "✓",
  failed: "✗",
  cancelled: "⊘",
  skipped: "-",
  // Kept from the run it re-runs: as good as successful, but not executed here.
  reused: "↺",
};

/** A run or task state in its colour. */
export function paintState(state: string): string {
  const style = STATE_STYLE[state];
  return style ? paint(style, state) : state;
}

/** A one-character symbol for a state, coloured like the state. */
export function stateSymbol(state: string): string {
  const style = STATE_STYLE[state];
  const symbol = STATE_SYMBOL[state] ?? "?";
  return style ? paint(style, symbol) : symbol;
}

/** Visible width of text, ignoring colour codes. */
export function textWidth(text: string): number {
  return Bun.stringWidth(text);
}

/** Cuts plain (uncoloured) text to `width` columns, marking the cut with "…". */
export function truncate(text: string, width: number): string {
  if (textWidth(text) <= width) return text;
  if (width <= 1) return width === 1 ? "…" : "";
  let out = "";
  for (const char of text) {
    if (textWidth(out + char) > width - 1) break;
    out += char;
  }
  return `${out}…`;
}

/** Columns padded to their widest cell (colour-aware); the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) => Math.max(textWidth(header), ...rows.map((row) => textWidth(row[column] ?? ""))));
  const line = (cells: readonly string[], header = false) =>
    cells
      .map((cell, column) => {
        const text = header ? paint("bold", cell) : cell;
        return column === cells.length - 1 ? text : text + " ".repeat(widths[column]! - textWidth(cell));
      })
      .join("  ")
      .trimEnd();
  return [line(headers, true), ...rows.map((row) => line(row))].join("\n");
}

/** How long something took or has been taking; "" when it has not started. */
export function elapsed(startedAt: string | null, endedAt: string | null, now = Date.now()): string {
  if (!startedAt) return "";
  const end = endedAt ? Date.parse(endedAt) : now;
  return formatDuration(Math.max(0, end - Date.parse(startedAt)));
}

/** How long ago a timestamp was: "4s ago"; "" for none. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  return `${formatDuration(Math.max(0, now - at))} ago`;
}

/** A timestamp from the API in local time, to the second: "2025-01-31 14:05:09". */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** `--json` output: the API's JSON, indented. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Label/value pairs, one a line, the labels dimmed and padded to one width. */
export function printFacts(facts: readonly [string, string][]): void {
  const width = Math.max(...facts.map(([label]) => label.length));
  for (const [label, value] of facts) console.log(`${paint("dim", label.padEnd(width))}  ${value}`);
}
