// What `gantry serve` prints while it runs: one line when a run this server drives starts and
// one when it ends (how, how long, which tasks failed and why), for a person watching the
// console or, with --log-format json, one JSON object per line for a log collector.
import type { Deps } from "../deps.ts";
import { getRun } from "../db/repos/runs.ts";
import { formatDuration } from "../domain/duration.ts";
import type { BusMessage } from "../engine/event-bus.ts";

export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Failed tasks named in a text line, at most. */
const TASKS_SHOWN = 5;

export type ConsoleOutput = ReturnType<typeof consoleOutput>;

/** Where the console's lines go: as they are, or as JSON objects with their fields (which may set their own time). */
export function consoleOutput(format: LogFormat) {
  const line = (level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}) => {
    // JSON lines all go to stdout, one stream for a collector (each says its level); text warnings and errors to stderr.
    if (format === "json") return console.log(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
    if (level === "info") console.log(msg);
    else console.error(msg);
  };
  return {
    info: (msg: string, fields?: Record<string, unknown>) => line("info", msg, fields),
    warn: (msg: string, fields?: Record<string, unknown>) => line("warn", msg, fields),
    error: (msg: string, fields?: Record<string, unknown>) => line("error", msg, fields),
  };
}

/**
 * Prints runs starting and ending to `out` until the returned function is called.
 * Only this server's own: one that shares the database prints those it drives.
 */
export function followRunsOnConsole(deps: Pick<Deps, "bus" | "db">, format: LogFormat, out: ConsoleOutput): () => void {
  return deps.bus.subscribe((message) => {
    if (message.remote || (message.kind !== "run.started" && message.kind !== "run.finished")) return;
    void describe(deps, message).then(
      (line) => line && out[line.failed ? "error" : "info"](format === "json" ? line.msg : line.text, line.fields),
      (error: unknown) => out.error(`could not read a run to report it: ${(error as Error).message}`),
    );
  });
}

/** A run's start or end: its text line, and its message and fields for JSON. */
async function describe(deps: Pick<Deps, "db">, message: BusMessage): Promise<{ text: string; msg: string; fields: Record<string, unknown>; failed: boolean } | undefined> {
  if (message.namespace === undefined || message.pipeline === undefined || message.run === undefined) return undefined;
  const run = await getRun(deps.db, { namespace: message.namespace, id: message.pipeline, run: message.run });
  if (!run) return undefined;
  const name = `${run.namespace}/${run.pipelineId}#${run.id}`;
  const trigger = `${run.trigger.kind}${run.trigger.by ? ` by ${run.trigger.by}` : ""}`;
  const started = message.kind === "run.started";
  const failedTasks = started ? [] : run.tasks.filter((task) => task.state === "failed").map((task) => ({ id: task.taskId, ...(task.reason && { reason: task.reason }) }));
  const durationMs = !started && run.startedAt && run.endedAt ? run.endedAt.getTime() - run.startedAt.getTime() : undefined;
  const failed = !started && run.state === "failed";
  const time = (started ? run.startedAt : run.endedAt) ?? new Date();
  const fields = {
    time: time.toISOString(),
    event: message.kind,
    namespace: run.namespace,
    pipeline: run.pipelineId,
    run: run.id,
    state: started ? "running" : run.state,
    trigger: run.trigger,
    ...(durationMs !== undefined && { durationMs }),
    ...(!started && run.reason && { reason: run.reason }),
    ...(failedTasks.length > 0 && { failedTasks }),
  };
  const msg = started ? `run ${name} started` : `run ${name} ${run.state}`;
  if (started) return { text: `${time.toISOString()} run ${name} started (${trigger})`, msg, fields, failed };
  const took = durationMs !== undefined ? ` in ${formatDuration(durationMs)}` : "";
  const tasks = failedTasks
    .slice(0, TASKS_SHOWN)
    .map((task) => `${task.id}${task.reason ? ` (${task.reason.replaceAll(/\s+/g, " ")})` : ""}`)
    .join(", ");
  const more = failedTasks.length > TASKS_SHOWN ? ` and ${failedTasks.length - TASKS_SHOWN} more` : "";
  const why = tasks ? `: failed ${tasks}${more}` : run.reason ? `: ${run.reason.replaceAll(/\s+/g, " ")}` : "";
  return { text: `${time.toISOString()} run ${name} ${run.state}${took} (${trigger})${why}`, msg, fields, failed };
}
