// Rate-limits failed authentication per client address and presented-secret prefix, so one
// broken script behind a shared proxy does not lock out its neighbours; a looser per-address
// budget still bounds a spray of different guesses. Valid tokens are never held back (see failed-auth.ts).

/** Whose failures count together: the client address and the first characters of what it presented. */
export interface AuthAttempt {
  address: string;
  /** The presented secret's first PREFIX_LENGTH characters (kept in memory only, never logged). */
  prefix: string;
}

/** Characters of a presented secret that tell its attempts apart ("gty_" and four random ones). */
export const PREFIX_LENGTH = 8;

/** A whole address may fail this many times the per-prefix limit within the window. */
export const ADDRESS_FACTOR = 10;

export interface FailedAuthLimiter {
  /** Seconds until failures of this address and prefix are heard again, else 0. */
  retryAfter(attempt: AuthAttempt, now: number): number;
  recordFailure(attempt: AuthAttempt, now: number): void;
}

/** Failure times per key within a sliding window. */
function createWindowCounter(limit: number, windowMs: number) {
  const failures = new Map<string, number[]>();
  const recent = (key: string, now: number) => {
    const kept = (failures.get(key) ?? []).filter((at) => now - at < windowMs);
    if (kept.length) failures.set(key, kept);
    else failures.delete(key);
    return kept;
  };
  return {
    retryAfter(key: string, now: number): number {
      const kept = recent(key, now);
      if (kept.length < limit) return 0;
      return Math.max(1, Math.ceil((kept[kept.length - limit]! + windowMs - now) / 1000));
    },
    record(key: string, now: number): void {
      const kept = recent(key, now);
      kept.push(now);
      failures.set(key, kept);
      // Bound memory under a spray of addresses or prefixes.
      if (failures.size > 10_000) failures.delete(failures.keys().next().value!);
    },
  };
}

export function createFailedAuthLimiter(options: { limit: number; windowMs: number }): FailedAuthLimiter {
  const perPrefix = createWindowCounter(options.limit, options.windowMs);
  const perAddress = createWindowCounter(options.limit * ADDRESS_FACTOR, options.windowMs);
  // A NUL cannot occur in an address or an HTTP header, so keys never collide.
  const pairKey = (attempt: AuthAttempt) => `${attempt.address}\0${attempt.prefix}`;
  return {
    retryAfter(attempt, now) {
      return Math.max(perPrefix.retryAfter(pairKey(attempt), now), perAddress.retryAfter(attempt.address, now));
    },
    recordFailure(attempt, now) {
      perPrefix.record(pairKey(attempt), now);
      perAddress.record(attempt.address, now);
    },
  };
}
