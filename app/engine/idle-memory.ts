// Gives the server's memory back once it has gone quiet: start-up, and any burst of work
// since (runs, pages), leave garbage and compiled code behind that the garbage collector
// alone keeps (a server after 60 runs and a few pages, then idle: ~104 MiB; ~90 after this).
// Bun.shrink is JSC's shrinkFootprintWhenIdle (a full GC, compiled code dropped, free pages
// returned to the system); it stalls the server's thread ~30 ms, so it waits for a quiet spell
// and for enough growth to be worth it, and the idle server's own slow drift never triggers it.

export interface IdleMemoryOptions {
  /** The start-up give-back, this long after the call. */
  afterStartMs?: number;
  /** How often to look. */
  checkEveryMs?: number;
  /** Looks in a row under `quietCpuMs` of this process's CPU each: a quiet spell. */
  quietLooks?: number;
  /** An idle server uses ~25–30 ms of CPU per 10 s (its heartbeats, polls and rescans). */
  quietCpuMs?: number;
  /** Growth of RSS since the last give-back that makes another worth it (idle drift: ~2–4 MiB). */
  growthBytes?: number;
  /** For tests: the process's RSS in bytes, its CPU time in ms, and the give-back itself. */
  readRss?: () => number;
  readCpuMs?: () => number;
  shrink?: () => void;
}

export interface IdleMemory {
  /** One look (the timer's): whether memory was given back. */
  check(): boolean;
  stop(): void;
}

const processCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

export function giveMemoryBackWhenIdle(options: IdleMemoryOptions = {}): IdleMemory {
  const {
    afterStartMs = 1_000,
    checkEveryMs = 10_000,
    quietLooks = 3,
    quietCpuMs = 150,
    growthBytes = 8 * 1024 * 1024,
    readRss = () => process.memoryUsage.rss(),
    readCpuMs = processCpuMs,
    // Marked deprecated in bun-types: a Bun without it gives nothing back rather than throwing in a timer.
    shrink = () => (typeof Bun.shrink === "function" ? Bun.shrink() : undefined),
  } = options;
  let lastCpu = readCpuMs();
  let quiet = 0;
  /** RSS once the last give-back took effect; read at the look after it (it acts when the thread is next idle). */
  let baseline = Number.POSITIVE_INFINITY;
  let justGaveBack = false;

  const giveBack = () => {
    shrink();
    justGaveBack = true;
    quiet = 0;
  };

  const check = (): boolean => {
    const cpu = readCpuMs();
    quiet = cpu - lastCpu < quietCpuMs ? quiet + 1 : 0;
    lastCpu = cpu;
    const rss = readRss();
    if (justGaveBack) {
      baseline = rss;
      justGaveBack = false;
    }
    if (quiet < quietLooks || rss - baseline < growthBytes) return false;
    giveBack();
    return true;
  };

  const atStart = setTimeout(giveBack, afterStartMs);
  const timer = setInterval(check, checkEveryMs);
  atStart.unref();
  timer.unref();
  return {
    check,
    stop() {
      clearTimeout(atStart);
      clearInterval(timer);
    },
  };
}
