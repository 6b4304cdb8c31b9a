// The task runner's protocol (how the server starts it is runner-command.ts): the compiled
// binary's hidden command, how it is told to go, what a warm runner is given, and, in fetch mode (no bundle file at hand: a runner in a swarm service), where its bundle is
// and how it reports a thrown error without a parent to read a result file.

export const TASK_RUNNER_COMMAND = "__task-runner";

/**
 * What the server writes on a gated runner's stdin to let the task's function run (goLine),
 * with fields after it: `end=<key>` (END_KEY_PATTERN: the runner then ends its output with
 * END_MARKER) and, for a runner started for its task, `objects=<token>`: the run's objects
 * token, which in the environment it started with anything the task starts could read
 * (/proc/<pid>/environ keeps it after the runner takes it out of process.env).
 */
export const GO = "go";

export interface GoFields {
  end?: string;
  objects?: string;
}

export const goLine = (fields: GoFields) =>
  [GO, ...(fields.end ? [`end=${fields.end}`] : []), ...(fields.objects ? [`objects=${fields.objects}`] : [])].join(" ");

/** The fields of a go line, or undefined when it is not one (the runner then does not run the task). */
export function parseGoLine(line: string): GoFields | undefined {
  const [word, ...rest] = line.trim().split(" ");
  if (word !== GO) return undefined;
  const fields: GoFields = {};
  for (const field of rest) {
    if (field.startsWith("end=") && END_KEY_PATTERN.test(field.slice(4))) fields.end = field.slice(4);
    else if (field.startsWith("objects=")) fields.objects = field.slice(8);
  }
  return fields;
}

/**
 * An end key: random per attempt, given only on stdin (read to its end before the task's
 * function runs), so what the task starts cannot read it there. The function itself is
 * trusted with its outcome (it may exit as it likes); what it starts is not.
 */
export const END_KEY_PATTERN = /^[0-9a-f]{32}$/;

/**
 * A runner given an end key writes this, the key, a space, its exit code and a newline as
 * the last thing on stdout and on stderr, once its exit code is known and its output
 * written: the server then has the outcome without waiting for the process to go (its
 * exit takes ~2 ms more, most of it the kernel tearing down its memory and its sandbox).
 */
export const END_MARKER = "\u0000gantry-end ";
/** A warm runner's flag: it boots, then reads its task from stdin (a RunnerAssignment line). */
export const POOLED = "--pooled";

/** A warm runner's first stdout line, once it has booted and waits for its task (never in the task's log). */
export const POOL_READY = "::gantry-ready::";

/** What a warm runner is given when its task starts. */
export interface RunnerAssignment {
  /** The version's bundle: its file name and its code, which the runner writes into its private /tmp and imports. */
  bundle: { name: string; code: string };
  task: string;
  attempt: number;
  workdir?: string;
  /** The task's complete environment, replacing the runner's own. */
  env: Record<string, string>;
}

/** A gated runner's exit code when it was told not to run the task. */
export const TASK_RUNNER_NOT_STARTED = 75;

/**
 * Fetch mode (`--fetch` instead of a bundle path and a result file): the bundle's URL, the
 * run's bundle token and the bundle's sha256 come in these variables, never on the command
 * line; the runner takes them out of its environment before any pipeline code runs.
 */
export const BUNDLE_URL_ENV = "GANTRY_BUNDLE_URL";
export const BUNDLE_TOKEN_ENV = "GANTRY_BUNDLE_TOKEN";
export const BUNDLE_SHA256_ENV = "GANTRY_BUNDLE_SHA256";

/** A fetch-mode runner's exit code when it could not fetch (or verify) its bundle: the task never ran. */
export const BUNDLE_UNAVAILABLE = 76;

/**
 * How a fetch-mode runner reports why it failed, having no result file a parent reads: its
 * last stderr line is this marker and the TaskRunnerResult as JSON. The exit code stays the
 * outcome; the line only adds the reason (see executors/runner-service.ts, runnerExit).
 */
export const RESULT_MARKER = "::gantry-result::";

/** Why a task failed, from what its runner reported (task-runner/main.ts, TaskRunnerResult). */
export const reportedReason = (result: { error: string; unsettled?: true }) => (result.unsettled ? result.error : `threw: ${result.error}`);
