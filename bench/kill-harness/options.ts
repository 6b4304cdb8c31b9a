// How hard the harness pushes: kills, how long the server stays up, how much the driver sends,
// and the defaults the bench runs with.

export interface KillHarnessOptions {
  /** SIGKILLs to deliver (the server is restarted after each). */
  kills: number;
  /** How long the server is up before a kill, in ms: uniformly within [min, max]. */
  upMs?: [number, number];
  /** Share of kills (after the first start) that land during start-up, before the server says it listens. */
  startupKillShare?: number;
  /** Runs acknowledged but not yet seen final above which the driver stops starting more. */
  maxOutstanding?: number;
  /** Driver loops sending requests at once. */
  driverLoops?: number;
  /** How long the final server may take to end every run. */
  drainTimeoutMs?: number;
  /** Called every `progressEvery` kills with a line of progress. */
  progress?: (line: string) => void;
  progressEvery?: number;
  /** Keep the temp folder (data, pipelines, markers, server output) for a look afterwards. */
  keep?: boolean;
}

/** The options with every default filled in (only `progress` may stay unset). */
export type KillHarnessSettings = Required<Omit<KillHarnessOptions, "progress">> & Pick<KillHarnessOptions, "progress">;

export function withDefaults(options: KillHarnessOptions): KillHarnessSettings {
  return {
    kills: options.kills,
    upMs: options.upMs ?? [200, 2_000],
    startupKillShare: options.startupKillShare ?? 0.15,
    maxOutstanding: options.maxOutstanding ?? 10,
    driverLoops: options.driverLoops ?? 2,
    drainTimeoutMs: options.drainTimeoutMs ?? 120_000,
    progress: options.progress,
    progressEvery: options.progressEvery ?? 10,
    keep: options.keep ?? false,
  };
}
