// Text cut to fit: names in the task graph, event data in the event log.

/** `text` at most `max` characters long, a cut marked with "…". */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
