// A runner holds what the processes its task starts must not have: the run's objects token
// and the end key (runner-end.ts), given on stdin, and in fetch mode the bundle's token.
// Those processes run as the runner's user in its sandbox, and where the host has no Yama
// (ptrace_scope) the same user may ptrace the runner or read its memory, open files and
// /proc/<pid>/environ. A process that is not dumpable (prctl PR_SET_DUMPABLE 0) allows none
// of that to a process without CAP_SYS_PTRACE, which nothing in a sandbox has (bwrap drops
// every capability; a runner service drops them all). What the runner starts execs, so it is
// dumpable again for itself. Not covered: the environment the runner started with is also
// that of the sandbox's PID 1 (bwrap's, or a service's init), which stays readable: what must
// not reach the task's children never comes in it.
const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;
/** bun:ffi's FFIType numbers: int32_t, uint64_t. */
const I32 = 5;
const U64 = 8;

type Prctl = (option: number, value: number) => number;
type DlopenSymbols = Record<string, { args: number[]; returns: number }>;
/** Bun's native dlopen returns an Error where bun:ffi's throws it. */
type Dlopen = (path: string, symbols: DlopenSymbols) => { symbols: Record<string, ((...args: number[]) => number) | undefined> } | Error;

/**
 * Makes this process undumpable; says why not where it could not (off Linux there is no
 * /proc to guard: nothing to do). A warm runner does it as it boots, a runner started for its
 * task before its task's code is loaded (under 1 ms there).
 */
export function makeUndumpable(): string | undefined {
  if (process.platform !== "linux") return undefined;
  let prctl: Prctl | string;
  try {
    prctl = libcPrctl();
  } catch (error) {
    return `loading prctl failed: ${(error as Error).message}`;
  }
  if (typeof prctl === "string") return prctl;
  if (prctl(PR_SET_DUMPABLE, 0) !== 0) return "prctl(PR_SET_DUMPABLE) failed";
  return prctl(PR_GET_DUMPABLE, 0) === 0 ? undefined : "prctl(PR_SET_DUMPABLE) did not take";
}

/**
 * Bun's native dlopen, which bun:ffi wraps: loading bun:ffi's module costs a starting
 * runner ~0.8 ms more, and a call with numbers needs none of its conversions. bun:ffi's
 * own dlopen where a Bun has no Bun.FFI (the tests of the runner's /proc say if it works).
 */
function dlopen(): Dlopen {
  const native = (Bun as unknown as { FFI?: { dlopen?: Dlopen } }).FFI?.dlopen;
  return native ?? (require("bun:ffi") as { dlopen: Dlopen }).dlopen;
}

/** libc's prctl(2), from glibc or musl (whichever this bun is linked against), or why not. */
function libcPrctl(): Prctl | string {
  const open = dlopen();
  const names = ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`];
  for (const name of names) {
    let library: ReturnType<Dlopen>;
    try {
      library = open(name, { prctl: { args: [I32, U64, U64, U64, U64], returns: I32 } });
    } catch {
      continue;
    }
    const prctl = library instanceof Error ? undefined : library.symbols.prctl;
    // The int32 argument as bun:ffi's wrapper would pass it.
    if (prctl) return (option, value) => prctl(option | 0, value, 0, 0, 0);
  }
  return `no C library with prctl (${names.join(", ")})`;
}
