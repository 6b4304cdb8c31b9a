// What happens around a failed authentication: the per-address limit is checked first,
// and a failure is counted and written to the event log (never the presented secret).
import type { Deps } from "../deps.ts";
import { insertEvent } from "../db/repos/events.ts";
import { RateLimitedError, UnauthorizedError } from "../domain/errors.ts";

/** Runs `attempt`; refuses it with 429 while the address is over the limit. */
export async function guardAuthentication<T>(deps: Deps, address: string, via: string, attempt: () => Promise<T>): Promise<T> {
  const now = deps.now();
  const wait = deps.authLimiter.retryAfter(address, now.getTime());
  if (wait > 0) throw new RateLimitedError(`too many failed authentications from ${address}; try again in ${wait}s`, wait);
  try {
    return await attempt();
  } catch (error) {
    if (error instanceof UnauthorizedError) {
      deps.authLimiter.recordFailure(address, now.getTime());
      await insertEvent(deps.db, { kind: "auth.failed", data: { address, via, reason: error.message }, at: now });
      deps.bus.publish({ kind: "auth.failed" });
    }
    throw error;
  }
}
