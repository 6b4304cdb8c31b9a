// ctx.$ for a test run's task: its commands' output lands in the task's log, as a runner
// process's stdout and stderr would on the server. Each command runs quietly and what it
// printed is written to the log when it ends, unless the caller takes the output itself
// (.text(), .json(), .quiet()…), which prints nothing on the server either.
import type { $ } from "bun";

/** What ShellPromise methods hand the output to the caller. */
const READERS = ["text", "json", "blob", "lines", "arrayBuffer", "bytes", "quiet"];

type Output = { stdout?: Buffer; stderr?: Buffer } | undefined;

export function capturedShell(shell: InstanceType<typeof $.Shell>, write: (stream: "out" | "err", text: string) => void): typeof $ {
  const logged = (output: Output) => {
    const out = output?.stdout?.toString() ?? "";
    const err = output?.stderr?.toString() ?? "";
    if (out) write("out", out);
    if (err) write("err", err);
  };
  const run = (strings: TemplateStringsArray, ...values: unknown[]) => {
    const promise = (shell as unknown as typeof $)(strings, ...(values as never[])).quiet();
    const methods = promise as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>;
    let printed = true;
    for (const name of READERS) {
      const original = methods[name]?.bind(promise);
      if (!original) continue;
      methods[name] = (...args: unknown[]) => {
        printed = false;
        return original(...args);
      };
    }
    // The command starts when it is awaited (not before: .env(), .cwd(), .nothrow() may still
    // be chained), and its output is logged then, unless a reader took it.
    const then = promise.then.bind(promise);
    methods.then = (onFulfilled?: unknown, onRejected?: unknown) =>
      then(
        (output: Output) => {
          if (printed) logged(output);
          return typeof onFulfilled === "function" ? onFulfilled(output) : output;
        },
        (error: Output) => {
          if (printed) logged(error);
          if (typeof onRejected === "function") return onRejected(error);
          throw error;
        },
      );
    return promise;
  };
  // $.escape, $.braces, $.cwd()… are the shell's own.
  return Object.setPrototypeOf(run, shell) as typeof $;
}
