// Rate-limits failed authentication per client address: after `limit` failures within the
// window, further attempts from that address are refused until the window passes.

export interface FailedAuthLimiter {
  /** Seconds to wait when the address is blocked, else 0. */
  retryAfter(address: string, now: number): number;
  recordFailure(address: string, now: number): void;
}

export function createFailedAuthLimiter(options: { limit: number; windowMs: number }): FailedAuthLimiter {
  const failures = new Map<string, number[]>();
  const recent = (address: string, now: number) => {
    const kept = (failures.get(address) ?? []).filter((at) => now - at < options.windowMs);
    if (kept.length) failures.set(address, kept);
    else failures.delete(address);
    return kept;
  };
  return {
    retryAfter(address, now) {
      const kept = recent(address, now);
      if (kept.length < options.limit) return 0;
      return Math.max(1, Math.ceil((kept[0]! + options.windowMs - now) / 1000));
    },
    recordFailure(address, now) {
      const kept = recent(address, now);
      kept.push(now);
      failures.set(address, kept);
      // Bound memory under a spray of addresses.
      if (failures.size > 10_000) failures.delete(failures.keys().next().value!);
    },
  };
}
