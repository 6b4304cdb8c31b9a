// The runner's own writes to stdout and stderr. console.log and console.error write
// synchronously: nothing is left queued at exit. Bound when the runner loads, before the
// task's code runs (which may replace them); "%s" so no text is a format.
const consoleLog = console.log.bind(console);
const consoleError = console.error.bind(console);

export const writeLine = (text: string) => consoleLog("%s", text);
export const writeError = (text: string) => consoleError("%s", text);

/** console.log-style text: strings as they are, anything else inspected. */
export function format(parts: unknown[]): string {
  return parts.map((part) => (typeof part === "string" ? part : Bun.inspect(part))).join(" ");
}
