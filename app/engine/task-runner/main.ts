// Entry of the Bun process that executes one run() task: imports the version's bundle (or,
// in fetch mode, downloads it from the API first), calls the task's function with its
// context, reports a thrown error, exits.
// Kept tiny: its start-up time is the overhead every run() task pays, which is why it
// uses Bun's own APIs and no node: built-ins (loading node:fs and node:util costs ~7 ms).
import { $ } from "bun";
import { registerSdkModule } from "../sdk-module.ts";
import { importBundle } from "../bundle-import.ts";
import type { TaskContext } from "../../sdk/index.ts";
import { createObjectsClient, OBJECTS_TOKEN_ENV } from "./objects-client.ts";
import { BUNDLE_TOKEN_ENV, BUNDLE_UNAVAILABLE, parseGoLine, POOL_READY, POOLED, RESULT_MARKER, TASK_RUNNER_NOT_STARTED, type RunnerAssignment } from "./command.ts";
import { abortReason, DEADLINE_ENV } from "./deadline.ts";
import type { BundleSource } from "./bundle-fetch.ts";
import { AUTO_APPROVE_DECLINED, INPUTS_ENV, TASK_RESULTS_ENV, takeJsonEnv } from "./run-data.ts";
import { armEndMarker, endAfterOutput, processesBesideRunner } from "./runner-end.ts";
import { format, writeError, writeLine } from "./runner-output.ts";
import { spawnWithLiveEnvironment } from "./live-environment.ts";
import { makeUndumpable } from "./undumpable.ts";

export type TaskRunnerArgs = {
  task: string;
  attempt: number;
  workdir?: string;
  /** Wait for "go" on stdin before calling the task's function. */
  gated?: boolean;
} & (
  | { bundle: string; resultFile: string }
  /**
   * Fetch mode: the bundle comes from the API (BUNDLE_URL_ENV, BUNDLE_TOKEN_ENV and
   * BUNDLE_SHA256_ENV in the environment), and a thrown error is reported as the last line
   * on stderr (RESULT_MARKER), there being no parent process to read a result file.
   */
  | { fetch: true }
);

/** The outcome the runner leaves in its result file (fetch mode: its RESULT_MARKER line) when it fails. */
export interface TaskRunnerResult {
  error: string;
  /** Fetch mode: the bundle could not be fetched, so no task code ran (exit code BUNDLE_UNAVAILABLE). */
  bundle?: true;
  /** The task's function never settled (`error` says so): nothing was thrown. */
  unsettled?: true;
}

/** Where the runner says why it failed: its result file, or (fetch mode) its last stderr line. */
async function report(args: TaskRunnerArgs, result: TaskRunnerResult): Promise<void> {
  if ("resultFile" in args) await Bun.write(args.resultFile, JSON.stringify(result));
  else writeError(`${RESULT_MARKER}${JSON.stringify(result)}`);
}

/** Runs the task; resolves with the exit code once the runner should end (see exitAfterOutput). */
export async function runTask(args: TaskRunnerArgs): Promise<number> {
  // What the task writes in the workspace is shared with its group (containers join it),
  // whatever the server's own (private) umask.
  process.umask(0o002);
  // The run's objects token is for ctx.objects alone: gone from the environment before any
  // pipeline code runs, so it is neither in ctx.env nor inherited by what the task spawns.
  let objectsToken = process.env[OBJECTS_TOKEN_ENV];
  delete process.env[OBJECTS_TOKEN_ENV];
  // So are the bundle's URL, token and sha256 in fetch mode (taken now, fetched below).
  const fetcher = "fetch" in args ? await import("./bundle-fetch.ts") : undefined;
  let source: BundleSource | Error = new Error("no bundle source");
  try {
    if (fetcher) source = fetcher.takeBundleSource();
  } catch (error) {
    source = error as Error;
  }
  delete process.env[BUNDLE_TOKEN_ENV];
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

  let bundle: string;
  if ("bundle" in args) bundle = args.bundle;
  else {
    try {
      if (!fetcher || source instanceof Error) throw source;
      bundle = (await fetcher.fetchBundle(source)).path;
    } catch (error) {
      // No task code ran: the exit code says so, the reason goes where a parent-less runner reports.
      const message = (error as Error).message;
      writeError(`gantry: ${message}`);
      await report(args, { error: message, bundle: true });
      return endAfterOutput(BUNDLE_UNAVAILABLE);
    }
  }

  /** The task's function returned or threw. */
  let settled = false;
  try {
    const definition = (await importBundle(bundle)).default as { tasks?: Record<string, { kind?: unknown; fn?: unknown; autoApprove?: unknown } | undefined> } | undefined;
    const task = definition?.tasks?.[args.task];
    // An approval gate's autoApprove runs as a run() task does.
    const fn = task?.kind === "run" ? task.fn : task?.kind === "approval" ? task.autoApprove : undefined;
    if (typeof fn !== "function") {
      throw new Error(`task "${args.task}" is not a run() task (or an approval with autoApprove) of this pipeline version`);
    }
    // The server starts the runner while it stores the attempt's claim, and says "go" on
    // stdin once that is durable: the task's function never runs for an attempt the
    // database does not hold. Anything else (a refused claim, a server gone) ends it here.
    if (args.gated) {
      const go = parseGoLine(await stdin.rest());
      if (!go) process.exit(TASK_RUNNER_NOT_STARTED);
      if (go.end) armEndMarker(go.end);
      if (go.objects) objectsToken = go.objects;
    }
    spawnWithLiveEnvironment();
    const workspace = process.env.GANTRY_WORKSPACE ?? process.cwd();
    const cwd = args.workdir ? (args.workdir.startsWith("/") ? args.workdir : `${workspace}/${args.workdir}`) : workspace;
    process.chdir(cwd);
    // Bun builds its shell on first use (~0.7 ms of a task's ~10): set up only for a task that uses it.
    let shellReady = false;
    const shell = () => {
      if (!shellReady) {
        $.cwd(cwd);
        $.env({ ...process.env });
        shellReady = true;
      }
      return $;
    };
    const env = Object.freeze({ ...process.env }) as Readonly<Record<string, string>>;
    const ctx: TaskContext & { tasks: typeof taskResults } = {
      env,
      inputs,
      tasks: taskResults,
      log: (...parts) => writeLine(format(parts)),
      get $() {
        return shell();
      },
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
    // A function awaiting what nothing is left to settle would otherwise end the runner as
    // a script ends, exit code 0: a success. The loop emptying before it settles says so.
    process.on("beforeExit", () => {
      if (settled) return;
      settled = true;
      void report(args, { error: UNSETTLED_REASON, unsettled: true }).then(() => endAfterOutput(1));
    });
    const result = await fn(ctx);
    settled = true;
    if (task?.kind === "approval") {
      const approved = result === true;
      writeLine(approved ? "autoApprove returned true: approved" : `autoApprove returned ${format([result])}: a person decides`);
      return endAfterOutput(approved ? 0 : AUTO_APPROVE_DECLINED);
    }
    return endAfterOutput(0);
  } catch (error) {
    settled = true;
    const message = error instanceof Error ? error.message : format([error]);
    // The runner's own frames say nothing to the pipeline author, nor do the nameless ones
    // of the loader that required the bundle (a file throwing as it loads).
    const stack =
      error instanceof Error && error.stack
        ? error.stack
            .split("\n")
            .filter((line) => !/^\s+at /.test(line) || !(/^\s+at unknown$/.test(line) || RUNNER_FILES.some((file) => line.includes(file))))
            .join("\n")
        : message;
    writeError(stack);
    await report(args, { error: message });
    return endAfterOutput(1);
  }
}

/** Why a task whose function never settled failed. */
const UNSETTLED_REASON = "its function never finished: it awaits a promise that nothing is left to settle (no timer, request or process of the task is still running)";

/** Where the runner's own frames come from: its source (and the bundle loader's), its build (runner-command.ts; a build inlines the source's path), the file it was started as. */
const RUNNER_FILES = ["task-runner/main", "engine/bundle-import", "/gantry-runner/", import.meta.path, ...(process.argv[1] ? [process.argv[1]] : [])];

const TASK_RUNNER_USAGE =
  "usage: task-runner [--gated] <bundle> <task> <attempt> <result-file> [workdir]\n       task-runner [--gated] --fetch <task> <attempt> [workdir]\n       task-runner --pooled <result-file>";

/**
 * Reads runner arguments from argv: [--gated] <bundle> <task> <attempt> <result-file> [workdir],
 * or in fetch mode [--gated] --fetch <task> <attempt> [workdir] (the bundle's URL and token in the environment).
 */
export function parseRunnerArgv(argv: string[]): TaskRunnerArgs {
  let rest = argv;
  const flag = (name: string) => {
    if (rest[0] !== name) return false;
    rest = rest.slice(1);
    return true;
  };
  const gated = flag("--gated");
  const fetching = flag("--fetch");
  const usage = (): never => {
    process.stderr.write(`${TASK_RUNNER_USAGE}\n`);
    process.exit(2);
  };
  const options = { ...(gated && { gated }) };
  if (fetching) {
    const [task, attempt, workdir, extra] = rest;
    if (!task || !attempt || extra !== undefined) return usage();
    return { fetch: true, task, attempt: Number(attempt), ...(workdir && { workdir }), ...options };
  }
  const [bundle, task, attempt, resultFile, workdir] = rest;
  if (!bundle || !task || !attempt || !resultFile) return usage();
  return { bundle, task, attempt: Number(attempt), resultFile, ...(workdir && { workdir }), ...options };
}

/**
 * The runner's entry: a task given on the command line, or (`--pooled <result-file>`) a warm
 * runner that boots, then waits on stdin for the task it is given (see runner-pool.ts).
 */
export async function runRunner(argv: string[]): Promise<number> {
  // Before the task's code is loaded: what it starts can then neither ptrace the runner nor
  // read its memory (undumpable.ts). Where that fails, the task's log says so.
  const exposed = makeUndumpable();
  if (exposed) writeError(`gantry: this runner could not make itself undumpable (${exposed}): what the task starts may read the runner's memory`);
  if (argv[0] !== POOLED) return runTask(parseRunnerArgv(argv));
  const resultFile = argv[1];
  if (!resultFile || argv.length > 2) {
    process.stderr.write(`${TASK_RUNNER_USAGE}\n`);
    return 2;
  }
  // Ready before the task comes: all that is left then is its bundle's own code. Saying so
  // tells the server its sandbox is set up (its workspace folder bound: it may be moved now).
  registerSdkModule();
  // Its end's first look at its sandbox's processes costs ~0.5 ms: taken now, not then.
  processesBesideRunner();
  writeLine(POOL_READY);
  const line = await stdin.line();
  // The server closed stdin without a task: it let this warm runner go.
  if (line === undefined) return TASK_RUNNER_NOT_STARTED;
  const assignment = parseAssignment(line);
  // Its sandbox saw no bundle when it started: the code comes with the task, into the private /tmp.
  const bundle = `${process.env.TMPDIR ?? "/tmp"}/${assignment.bundle.name}`;
  await Bun.write(bundle, assignment.bundle.code);
  // The task's environment, as a runner started for it would have had it from the start.
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, assignment.env);
  const args: TaskRunnerArgs = {
    bundle,
    task: assignment.task,
    attempt: assignment.attempt,
    resultFile,
    ...(assignment.workdir !== undefined && { workdir: assignment.workdir }),
    gated: true,
  };
  // The command line a runner started for the task has (some code reads its bundle's path there).
  process.argv.splice(2, process.argv.length - 2, args.bundle, args.task, String(args.attempt), resultFile, ...(args.workdir ? [args.workdir] : []));
  return runTask(args);
}

/** A task as the server hands it to a warm runner: one JSON line on stdin ("go" or EOF follows, as gated). */
function parseAssignment(line: string): RunnerAssignment {
  const value = JSON.parse(line) as Partial<RunnerAssignment>;
  const strings = (record: unknown) => typeof record === "object" && record !== null && Object.values(record).every((each) => typeof each === "string");
  if (
    typeof value.bundle?.name !== "string" ||
    !/^[\w.-]+\.js$/.test(value.bundle.name) ||
    typeof value.bundle.code !== "string" ||
    typeof value.task !== "string" ||
    typeof value.attempt !== "number" ||
    (value.workdir !== undefined && typeof value.workdir !== "string") ||
    !strings(value.env)
  ) {
    throw new Error("the server sent this warm runner a task it cannot read");
  }
  return value as RunnerAssignment;
}

/** Stdin read line by line (a warm runner's task, then "go"), from one reader. */
const stdin = (() => {
  let chunks: AsyncIterator<Uint8Array> | undefined;
  const decoder = new TextDecoder();
  let buffered = "";
  let ended = false;
  const more = async () => {
    chunks ??= Bun.stdin.stream()[Symbol.asyncIterator]();
    const { value, done } = await chunks.next();
    if (done) ended = true;
    else buffered += decoder.decode(value, { stream: true });
  };
  return {
    /** The next line, or undefined at EOF without one. */
    async line(): Promise<string | undefined> {
      while (!buffered.includes("\n") && !ended) await more();
      const at = buffered.indexOf("\n");
      if (at === -1) {
        const last = buffered;
        buffered = "";
        return last === "" ? undefined : last;
      }
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      return line;
    },
    /** Everything until EOF. */
    async rest(): Promise<string> {
      while (!ended) await more();
      const rest = buffered;
      buffered = "";
      return rest;
    },
  };
})();

// No top-level await: the runner is also built as CommonJS bytecode (runner-command.ts).
if (import.meta.main) void runRunner(process.argv.slice(2)).then((code) => (process.exitCode = code));
