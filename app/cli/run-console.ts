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

/**
 * Prints runs starting and ending as `write` lines until the returned function is called.
 * Only this server's own: one that shares the database prints those it drives.
 */
export function followRunsOnConsole(deps: Pick<Deps, "bus" | "db">, format: LogFormat, write: (line: string, failed: boolean) => void): () => void {
  return deps.bus.subscribe((message) => {
    if (message.remote || (message.kind !== "run.started" && message.kind !== "run.finished")) return;
    void describe(deps, message, format).then(
      (line) => line && write(line.text, line.failed),
      (error: unknown) => write(format === "json" ? JSON.stringify({ time: new Date().toISOString(), level: "error", msg: `could not read a run to report it: ${(error as Error).message}` }) : `could not read a run to report it: ${(error as Error).message}`, true),
    );
  });
}

async function describe(deps: Pick<Deps, "db">, message: BusMessage, format: LogFormat): Promise<{ text: string; failed: boolean } | undefined> {
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
  if (format === "json") {
    const entry = {
      time: time.toISOString(),
      level: failed ? "error" : "info",
      event: message.kind,
      msg: started ? `run ${name} started` : `run ${name} ${run.state}`,
      namespace: run.namespace,
      pipeline: run.pipelineId,
      run: run.id,
      state: started ? "running" : run.state,
      trigger: run.trigger,
      ...(durationMs !== undefined && { durationMs }),
      ...(!started && run.reason && { reason: run.reason }),
      ...(failedTasks.length > 0 && { failedTasks }),
    };
    return { text: JSON.stringify(entry), failed };
  }
  if (started) return { text: `${time.toISOString()} run ${name} started (${trigger})`, failed };
  const took = durationMs !== undefined ? ` in ${formatDuration(durationMs)}` : "";
  const tasks = failedTasks
    .slice(0, TASKS_SHOWN)
    .map((task) => `${task.id}${task.reason ? ` (${task.reason.replaceAll(/\s+/g, " ")})` : ""}`)
    .join(", ");
  const more = failedTasks.length > TASKS_SHOWN ? ` and ${failedTasks.length - TASKS_SHOWN} more` : "";
  const why = tasks ? `: failed ${tasks}${more}` : run.reason ? `: ${run.reason.replaceAll(/\s+/g, " ")}` : "";
  return { text: `${time.toISOString()} run ${name} ${run.state}${took} (${trigger})${why}`, failed };
}
