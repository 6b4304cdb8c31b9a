// A wait that a stop cuts short: deploys wait out timers and poll intervals, and a cancelled
// task must not sit through them.

/** Resolves true after `ms`, or false as soon as `signal` aborts (at once when it already has). */
export function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (elapsed: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stopped);
      resolve(elapsed);
    };
    const stopped = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", stopped, { once: true });
  });
}
