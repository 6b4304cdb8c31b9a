// A counting semaphore: at most `limit` holders at once, waiters served in order.

export interface Limiter {
  acquire(): Promise<() => void>;
  readonly active: number;
  readonly waiting: number;
  /** Whether an acquire now would not wait. */
  readonly free: boolean;
}

export function createLimiter(limit: number): Limiter {
  let active = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else active--;
  };
  return {
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    get free() {
      return active < limit && queue.length === 0;
    },
    acquire() {
      if (active < limit) {
        active++;
        return Promise.resolve(once(release));
      }
      return new Promise((resolve) => queue.push(() => resolve(once(release))));
    },
  };
}

function once(fn: () => void): () => void {
  let called = false;
  return () => {
    if (!called) {
      called = true;
      fn();
    }
  };
}
