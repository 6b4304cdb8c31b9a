// The address a request came from, for rate limits and the event log.
import type { Context } from "hono";
import { getConnInfo } from "hono/bun";

export function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    // app.request() in tests has no socket behind it.
    return "unknown";
  }
}
