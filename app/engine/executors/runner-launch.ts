// What every run() task runner process shares, started for its task or warm in the pool:
// the environment it inherits from the server, where it reports a thrown error, and where a
// sandboxed one sees the run's workspace and its bundle.
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Variables of the server's own environment that tasks may see; nothing else leaks. */
const INHERITED_ENV = ["PATH", "LANG", "LC_ALL", "TZ"];

/**
 * Where a sandboxed task sees the run's workspace, as container tasks and run() services do.
 * One path for every task: a warm runner's sandbox binds its folder before it knows the run.
 */
export const SANDBOX_WORKSPACE = "/workspace";

/** The environment a runner starts with: the server's harmless variables and a home and temp folder of its own. */
export function runnerBaseEnv(sandboxed: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  // In the sandbox, its private /tmp.
  env.HOME = sandboxed ? "/tmp" : tmpdir();
  env.TMPDIR = sandboxed ? "/tmp" : tmpdir();
  return env;
}

/**
 * Where the runner reports a thrown error: a folder of the attempt's own outside the
 * workspace (bound into the sandbox), whose file name carries the reference.
 */
export const resultDirOf = (ref: string) => join(tmpdir(), `gantry-attempt-${ref}`);
export const resultFileOf = (ref: string) => join(resultDirOf(ref), `gantry-result-${ref}.json`);

/**
 * Variables a process reads as it starts (Bun, its JavaScript engine, its allocator, the
 * dynamic linker, TLS): a warm runner has started already, so a task that sets one starts a
 * runner of its own.
 */
export const readAtStart = (name: string) => /^(BUN_|NODE_|JSC_|MIMALLOC_|LD_|SSL_CERT_|UV_)/i.test(name);
