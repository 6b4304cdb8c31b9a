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
import { dlopen, FFIType } from "bun:ffi";

const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;

/**
 * Makes this process undumpable; false where that cannot be done (off Linux, no C library
 * found). ~0.4 ms: a warm runner does it as it boots, a runner started for its task before
 * its task's code is loaded.
 */
export function makeUndumpable(): boolean {
  if (process.platform !== "linux") return false;
  const prctl = libcPrctl();
  return prctl !== undefined && prctl(PR_SET_DUMPABLE, 0) === 0 && prctl(PR_GET_DUMPABLE, 0) === 0;
}

/** libc's prctl(2), from glibc or musl (whichever this bun is linked against). */
function libcPrctl(): ((option: number, value: number) => number) | undefined {
  for (const name of ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`]) {
    try {
      const { symbols } = dlopen(name, { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
      return (option, value) => symbols.prctl(option, value, 0, 0, 0);
    } catch {
      // not this C library
    }
  }
  return undefined;
}
