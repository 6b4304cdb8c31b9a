// A runner holds what the processes its task starts must not have: the run's objects token,
// the end key (runner-end.ts), in fetch mode the bundle's token, a warm runner the task's
// secrets before they are the task's environment. They sit in its memory, and some in the
// environment it started with, which /proc/<pid>/environ keeps whatever process.env becomes.
// Those processes run as the runner's user in its sandbox, and where the host has no Yama
// (ptrace_scope) the same user may ptrace the runner or read its /proc/<pid>/environ, mem and
// fd/. A process that is not dumpable (prctl PR_SET_DUMPABLE 0) allows none of that to a
// process without CAP_SYS_PTRACE, which nothing in a sandbox has (bwrap drops every
// capability; a runner service drops them all). What the runner starts execs, so it is
// dumpable again for itself.
const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;
/** bun:ffi's FFIType numbers: int32_t, uint64_t. */
const I32 = 5;
const U64 = 8;

type Prctl = (option: number, value: number) => number;
type DlopenSymbols = Record<string, { args: number[]; returns: number }>;
type Dlopen = (path: string, symbols: DlopenSymbols) => { symbols: Record<string, (...args: number[]) => number> };

/**
 * Makes this process undumpable; false where that cannot be done (off Linux, no C library
 * found). A warm runner does it as it boots, a runner started for its task before its
 * task's code is loaded (under 1 ms there).
 */
export function makeUndumpable(): boolean {
  if (process.platform !== "linux") return false;
  const prctl = libcPrctl();
  return prctl !== undefined && prctl(PR_SET_DUMPABLE, 0) === 0 && prctl(PR_GET_DUMPABLE, 0) === 0;
}

/**
 * Bun's native dlopen, which bun:ffi wraps: loading bun:ffi's module costs a starting
 * runner ~0.8 ms more, and a call with numbers needs none of its conversions. bun:ffi's
 * own dlopen where a Bun has no Bun.FFI (the test of the runner's /proc says if it works).
 */
function dlopen(): Dlopen {
  const native = (Bun as unknown as { FFI?: { dlopen?: Dlopen } }).FFI?.dlopen;
  return native ?? (require("bun:ffi") as { dlopen: Dlopen }).dlopen;
}

/** libc's prctl(2), from glibc or musl (whichever this bun is linked against). */
function libcPrctl(): Prctl | undefined {
  const open = dlopen();
  for (const name of ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`]) {
    try {
      const { symbols } = open(name, { prctl: { args: [I32, U64, U64, U64, U64], returns: I32 } });
      const prctl = symbols.prctl;
      if (prctl) return (option, value) => prctl(option, value, 0, 0, 0);
    } catch {
      // not this C library
    }
  }
  return undefined;
}
