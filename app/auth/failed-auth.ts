// What happens around an authentication: a valid secret always gets in; a failed one is counted
// per client address and presented prefix, written to the event log (never the secret), and
// answered 429 instead of 401 once its budget is spent.
import type { Deps } from "../deps.ts";
import { recordEvent } from "../engine/record-event.ts";
import { RateLimitedError, UnauthorizedError } from "../domain/errors.ts";
import { PREFIX_LENGTH } from "./failed-auth-limiter.ts";

/**
 * Runs `attempt` with the presented secret. The secret is checked first, so a valid token is
 * never refused because others behind the same address (a proxy, a NAT) failed: the limit only
 * decides how failures are answered.
 */
export async function guardAuthentication<T>(
  deps: Deps,
  from: { address: string; presented: string },
  via: string,
  attempt: () => Promise<T>,
): Promise<T> {
  const now = deps.now();
  try {
    return await attempt();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    const key = { address: from.address, prefix: from.presented.slice(0, PREFIX_LENGTH) };
    const wait = deps.authLimiter.retryAfter(key, now.getTime());
    // Over the limit: not counted again (the wait does not grow) and not logged again (a flood
    // must not flood the event log too).
    if (wait > 0) {
      throw new RateLimitedError(`too many failed authentications from ${from.address}; try again in ${wait}s (valid tokens are not affected)`, wait);
    }
    deps.authLimiter.recordFailure(key, now.getTime());
    await recordEvent(deps, { kind: "auth.failed", data: { address: from.address, via, reason: error.message }, at: now });
    throw error;
  }
}
