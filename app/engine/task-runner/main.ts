// Entry of the Bun process that executes one run() task: imports the version's bundle,
// calls the task's function with its context, reports a thrown error, exits.
// Kept tiny: its start-up time is the overhead every run() task pays, which is why it
// uses Bun's own APIs and no node: built-ins (loading node:fs and node:util costs ~7 ms).
import { $ } from "bun";
import { registerSdkModule } from "../sdk-module.ts";
import type { TaskContext } from "../../sdk/index.ts";
import { createObjectsClient, OBJECTS_TOKEN_ENV } from "./objects-client.ts";
import { GO, TASK_RUNNER_NOT_STARTED } from "./command.ts";
import { abortReason, DEADLINE_ENV } from "./deadline.ts";
import { AUTO_APPROVE_DECLINED, INPUTS_ENV, TASK_RESULTS_ENV, takeJsonEnv } from "./run-data.ts";

export interface TaskRunnerArgs {
  bundle: string;
  task: string;
  attempt: number;
  resultFile: string;
  workdir?: string;
  /** Wait for "go" on stdin before calling the task's function. */
  gated?: boolean;
}


/** The outcome the runner leaves in its result file when the function throws. */
export interface TaskRunnerResult {
  error: string;
}

/** Runs the task; resolves with the exit code once the runner should end (see exitAfterOutput). */
export async function runTask(args: TaskRunnerArgs): Promise<number> {
  // What the task writes in the workspace is shared with its group (containers join it),
  // whatever the server's own (private) umask.
  process.umask(0o002);
  // The run's objects token is for ctx.objects alone: gone from the environment before any
  // pipeline code runs, so it is neither in ctx.env nor inherited by what the task spawns.
  const objectsToken = process.env[OBJECTS_TOKEN_ENV];
  delete process.env[OBJECTS_TOKEN_ENV];
  // The attempt's deadline (when it has a timeout) tells a timeout's SIGTERM from a cancel's.
  const deadline = process.env[DEADLINE_ENV];
  delete process.env[DEADLINE_ENV];
  const inputs = Object.freeze(takeJsonEnv<Record<string, string | number | boolean>>(INPUTS_ENV, {}));
  const taskResults = Object.freeze(takeJsonEnv<Record<string, { state: string; exitCode: number | null }>>(TASK_RESULTS_ENV, {}));
  const controller = new AbortController();
  // SIGTERM (cancel, timeout) aborts ctx.signal, saying which; the server sends SIGKILL after the grace period.
  process.on("SIGTERM", () => controller.abort(abortReason(deadline, Date.now())));
  // If the server dies, do not linger as an orphan, and take along what the task started:
  // the runner leads its own process group (spawned detached), so signal the group.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent) return;
    try {
      process.kill(-process.pid, "SIGKILL");
    } catch {
      // not a group leader (started by hand): at least go ourselves
    }
    process.exit(137);
  }, 1000).unref();

  try {
    registerSdkModule();
    const module = await import(args.bundle);
    const task = module.default?.tasks?.[args.task];
    // An approval gate's autoApprove runs as a run() task does.
    const fn = task?.kind === "run" ? task.fn : task?.kind === "approval" ? task.autoApprove : undefined;
    if (typeof fn !== "function") {
      throw new Error(`task "${args.task}" is not a run() task (or an approval with autoApprove) of this pipeline version`);
    }
    // The server starts the runner while it stores the attempt's claim, and says "go" on
    // stdin once that is durable: the task's function never runs for an attempt the
    // database does not hold. Anything else (a refused claim, a server gone) ends it here.
    if (args.gated && !(await Bun.stdin.text()).startsWith(GO)) process.exit(TASK_RUNNER_NOT_STARTED);
    const workspace = process.env.GANTRY_WORKSPACE ?? process.cwd();
    const cwd = args.workdir ? (args.workdir.startsWith("/") ? args.workdir : `${workspace}/${args.workdir}`) : workspace;
    process.chdir(cwd);
    $.cwd(cwd);
    $.env({ ...process.env });
    const env = Object.freeze({ ...process.env }) as Readonly<Record<string, string>>;
    const ctx: TaskContext & { tasks: typeof taskResults } = {
      env,
      inputs,
      tasks: taskResults,
      log: (...parts) => writeLine(format(parts)),
      $,
      signal: controller.signal,
      attempt: args.attempt,
      workspace,
      objects: createObjectsClient({
        apiUrl: env.GANTRY_API_URL,
        token: objectsToken,
        namespace: env.GANTRY_NAMESPACE,
        pipeline: env.GANTRY_PIPELINE_ID,
        run: env.GANTRY_RUN_ID,
      }),
    };
    const result = await fn(ctx);
    if (task.kind === "approval") {
      const approved = result === true;
      writeLine(approved ? "autoApprove returned true: approved" : `autoApprove returned ${format([result])}: a person decides`);
      return exitAfterOutput(approved ? 0 : AUTO_APPROVE_DECLINED);
    }
    return exitAfterOutput(0);
  } catch (error) {
    const message = error instanceof Error ? error.message : format([error]);
    // The runner's own frames say nothing to the pipeline author.
    const stack =
      error instanceof Error && error.stack
        ? error.stack
            .split("\n")
            .filter((line) => !/^\s+at /.test(line) || !(line.includes("task-runner/main") || line.includes(TASK_RUNNER_ENTRY)))
            .join("\n")
        : message;
    writeError(stack);
    const result: TaskRunnerResult = { error: message };
    await Bun.write(args.resultFile, JSON.stringify(result));
    return exitAfterOutput(1);
  }
}

// console.log and console.error write synchronously: nothing is left queued at exit. Kept
// from before the task's code runs, which may replace them; "%s" so no text is a format.
const consoleLog = console.log.bind(console);
const consoleError = console.error.bind(console);
const writeLine = (text: string) => consoleLog("%s", text);
const writeError = (text: string) => consoleError("%s", text);

/** How long a runner whose task left something running (a child, a timer) lingers at most. */
const EXIT_GRACE_MS = 500;

/**
 * Ends the runner once stdout and stderr are written out. process.exit() drops what
 * process.stdout.write() still queues for a full pipe (a task's last thousands of lines were
 * lost whenever the server read slower than the task wrote), and ending those streams by
 * hand costs ~9 ms even when nothing was written. So the runner ends as a script does, once
 * nothing is left to do, which flushes them; whatever the task left running gets a short
 * grace, then the runner exits anyway (the server then stops what is left in its sandbox).
 */
function exitAfterOutput(code: number): number {
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}

const TASK_RUNNER_ENTRY = import.meta.path;

/** console.log-style text: strings as they are, anything else inspected. */
function format(parts: unknown[]): string {
  return parts.map((part) => (typeof part === "string" ? part : Bun.inspect(part))).join(" ");
}

/** Reads runner arguments from argv: [--gated] <bundle> <task> <attempt> <result-file> [workdir]. */
export function parseRunnerArgv(argv: string[]): TaskRunnerArgs {
  const gated = argv[0] === "--gated";
  const [bundle, task, attempt, resultFile, workdir] = gated ? argv.slice(1) : argv;
  if (!bundle || !task || !attempt || !resultFile) {
    process.stderr.write("usage: task-runner [--gated] <bundle> <task> <attempt> <result-file> [workdir]\n");
    process.exit(2);
  }
  return { bundle, task, attempt: Number(attempt), resultFile, ...(workdir && { workdir }), ...(gated && { gated }) };
}

if (import.meta.main) process.exitCode = await runTask(parseRunnerArgv(process.argv.slice(2)));
