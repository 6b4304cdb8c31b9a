// How a runner ends once its task has: after its output is written out, and, when the
// server gave it an end key (a sandboxed runner), with the end marker last on stdout and
// stderr (command.ts, END_MARKER), so the server has the outcome without waiting ~2 ms for
// the process and its sandbox to go. The marker is left out whenever what follows it could
// still be the task's: the server then waits for the exit, as for a runner given no key.
import { END_MARKER } from "./command.ts";
import { writeError, writeLine } from "./runner-output.ts";

/** How long a runner whose task left something running (a child, a timer) lingers at most. */
const EXIT_GRACE_MS = 500;

/** The real exit: process.exit is wrapped once a marker may be written (armEndMarker). */
const exit = process.exit.bind(process);

/** The task's outcome is set (endAfterOutput ran). */
let concluded = false;
/**
 * Everything the task wrote is out: the runner ends as a script does (Bun writes what
 * process.stdout.write() queued before that), or flushed() waited for it.
 */
let outputWritten = false;
/** Something asked for an exit itself (process.exit()): Bun drops what is still queued, and writes part of it after the exit listeners. */
let exitAsked = false;
/** Writes the marker as the runner exits; set once the server gave an end key. */
let markEnd: ((code: number) => void) | undefined;
const outputDone = () => (outputWritten = true);

/**
 * Ends the runner once stdout and stderr are written out. process.exit() drops what
 * process.stdout.write() still queues for a full pipe (a task's last thousands of lines were
 * lost whenever the server read slower than the task wrote), and ending those streams by
 * hand costs ~9 ms even when nothing was written. So the runner ends as a script does, once
 * nothing is left to do, which flushes them; whatever the task left running gets a short
 * grace, then the runner ends both streams, waits until what they queue is written (Bun
 * does not report the queue's length, so the grace alone was not enough on a loaded
 * machine) and exits (the server then stops what is left in its sandbox).
 */
export function endAfterOutput(code: number): number {
  process.exitCode = code;
  concluded = true;
  // Last again: a listener the task added may write (or, before exit, start more work).
  if (markEnd) {
    process.off("beforeExit", outputDone).on("beforeExit", outputDone);
    process.off("exit", markEnd).on("exit", markEnd);
  }
  setTimeout(
    () =>
      void flushed().then(() => {
        outputWritten = true;
        exit(code);
      }),
    EXIT_GRACE_MS,
  ).unref();
  return code;
}

/** Resolves once stdout and stderr have written what they queue (or their reader is gone). */
function flushed(): Promise<unknown> {
  const ended = (stream: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => {
      stream.once("error", () => resolve());
      stream.end(() => resolve());
    });
  return Promise.all([ended(process.stdout), ended(process.stderr)]);
}

/** The runner will end with the marker for this key (from the server's "go" line), if all is quiet then. */
export function armEndMarker(key: string): void {
  process.exit = ((code?: number | string | null) => {
    exitAsked = true;
    return exit(code);
  }) as typeof process.exit;
  process.on("beforeExit", outputDone);
  markEnd = (exitCode) => {
    // The last exit listener (another may set process.exitCode, or write), the task
    // concluded, its output out, no exit asked mid-write, and nothing else alive in the
    // sandbox: a process left there could still write to the workspace, or read the marker
    // off the pipe before the server does.
    const listeners = process.listeners("exit");
    if (!concluded || !outputWritten || exitAsked || listeners[listeners.length - 1] !== markEnd || processesBesideRunner()) return;
    const code = process.exitCode ?? exitCode;
    writeError(`${END_MARKER}${key} ${code}`);
    writeLine(`${END_MARKER}${key} ${code}`);
  };
  process.on("exit", markEnd);
}

/**
 * Whether a process other than the sandbox's init (pid 1) and the runner is alive, or a
 * zombie, in the runner's pid namespace (its own /proc); true when that cannot be read.
 * The first scan costs ~0.5 ms (Bun sets up its glob), later ones ~0.05: a warm runner
 * scans once while it waits for its task.
 */
export function processesBesideRunner(): boolean {
  const self = String(process.pid);
  try {
    for (const pid of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) if (pid !== "1" && pid !== self) return true;
    return false;
  } catch {
    return true;
  }
}
