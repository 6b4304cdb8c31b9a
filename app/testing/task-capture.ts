// What a task's code writes, told apart while tasks run side by side in one process: while a
// test run goes on, console output and process.exit() are routed to the task whose code
// called them (found through AsyncLocalStorage), as the server's runner process would
// capture its stdout, stderr and exit code. Code outside any task (the test itself) is left
// alone.
import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";

export interface TaskScope {
  /** A line (or lines) the task wrote to stdout or stderr. */
  write(stream: "out" | "err", text: string): void;
  /** The task called process.exit(code): its attempt ends with it. */
  exit(code: number): void;
}

/** Thrown where a task's code called process.exit(code): its attempt ends with that code. */
export class TaskExit extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
    this.name = "TaskExit";
  }
}

const scopes = new AsyncLocalStorage<TaskScope>();
let installed = 0;
let restore: (() => void) | undefined;

/** Runs `fn` as the task's code: what it writes and its exit are the task's. */
export function inTask<T>(scope: TaskScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/** Routes console output and process.exit() of tasks to their scopes until the returned function is called. */
export function captureTaskOutput(): () => void {
  if (installed++ === 0) install();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--installed === 0) restore?.();
  };
}

function install(): void {
  const original = {
    log: console.log,
    info: console.info,
    debug: console.debug,
    warn: console.warn,
    error: console.error,
    exit: process.exit,
  };
  const route =
    (stream: "out" | "err", fallback: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      const scope = scopes.getStore();
      if (scope) scope.write(stream, format(...args));
      else fallback.apply(console, args);
    };
  console.log = route("out", original.log);
  console.info = route("out", original.info);
  console.debug = route("out", original.debug);
  console.warn = route("err", original.warn);
  console.error = route("err", original.error);
  process.exit = ((code?: number | string | null) => {
    const scope = scopes.getStore();
    if (!scope) return original.exit.call(process, code ?? undefined);
    const exitCode = Number(code ?? 0);
    scope.exit(exitCode);
    // Stops the code where it called exit (uncaught when that was a timer's callback, which
    // bun test then reports; the attempt has ended with the code all the same).
    throw new TaskExit(exitCode);
  }) as typeof process.exit;
  restore = () => {
    Object.assign(console, { log: original.log, info: original.info, debug: original.debug, warn: original.warn, error: original.error });
    process.exit = original.exit;
    restore = undefined;
  };
}
