// Bun.spawn, Bun.spawnSync and Bun.which read the environment the process started with, not
// process.env as it is now (oven-sh/bun#40846). A task's children would get the runner's
// start-up environment: on a warm runner none of the task's variables, on a runner started
// for the task the objects token it took out of process.env. Until Bun reads process.env
// itself, the runner has them default to process.env as it is when they are called.

/** Spawn arguments with `env` defaulting to the current process.env: (cmd[], options?) or ({ cmd, ... }). */
function withLiveEnv(args: unknown[]): unknown[] {
  const [first, second, ...rest] = args;
  if (Array.isArray(first)) {
    const options = (second ?? {}) as { env?: unknown };
    return options.env === undefined ? [first, { ...options, env: { ...process.env } }, ...rest] : args;
  }
  if (typeof first === "object" && first !== null && (first as { env?: unknown }).env === undefined) return [{ ...first, env: { ...process.env } }, ...args.slice(1)];
  return args;
}

/** From now on Bun.spawn, Bun.spawnSync and Bun.which use process.env as it is when called. */
export function spawnWithLiveEnvironment(): void {
  const spawn = Bun.spawn as (...args: unknown[]) => unknown;
  const spawnSync = Bun.spawnSync as (...args: unknown[]) => unknown;
  const which = Bun.which;
  Bun.spawn = ((...args: unknown[]) => spawn(...withLiveEnv(args))) as typeof Bun.spawn;
  Bun.spawnSync = ((...args: unknown[]) => spawnSync(...withLiveEnv(args))) as typeof Bun.spawnSync;
  Bun.which = ((command: string, options?: { PATH?: string; cwd?: string }) =>
    which(command, options?.PATH === undefined && process.env.PATH !== undefined ? { ...options, PATH: process.env.PATH } : options)) as typeof Bun.which;
}
