// What a log search asks, pure: the filters (all lines, stderr, lines that read as errors),
// the words that make a line an error line, and the text to find as a literal pattern matched
// without case. The stores search with it and the web pages mark matches with it.

/** "all" lines; "stderr" only; "errors": stderr and any line that says error, fatal, panic… */
export const LOG_FILTERS = ["all", "stderr", "errors"] as const;
export type LogFilter = (typeof LOG_FILTERS)[number];

/** Words that make a line on stdout count as an error line ("FAIL" from test runners too). */
export const ERROR_WORDS = /\b(error|errors|fatal|panic|exception|fail|failed|failure|traceback)\b/i;

/** The text to find as a pattern matched without case (its characters taken literally). */
export function needlePattern(text: string, flags = "i"): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), flags);
}
