// All task logs of a run as one gzip'd tar (`<task>.log` each, as masked when written), for
// "download all logs": streamed a log at a time, so a run of many large logs is never held whole.
import type { RunWithTasks } from "../db/repos/runs.ts";
import { logKeyOf } from "../db/repos/task-executions.ts";
import type { RunKey } from "../domain/run-key.ts";
import type { LogStore } from "./logs.ts";
import { TAR_END, tarHeader, tarPadding } from "./tar.ts";

export function runLogsArchive(logs: LogStore, key: RunKey, run: RunWithTasks): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  async function* entries(): AsyncGenerator<Uint8Array> {
    for (const task of run.tasks) {
      // A reused task's log is the one of the run that executed it; a task that never ran has none.
      const text = await logs.read(logKeyOf(key, task));
      if (text === undefined) continue;
      const bytes = encoder.encode(text);
      yield tarHeader({ path: `${task.taskId}.log`, type: "file", size: bytes.length, mode: 0o644, mtime: task.endedAt ?? task.startedAt ?? new Date() });
      yield bytes;
      yield tarPadding(bytes.length);
    }
    yield TAR_END;
  }
  const chunks = entries();
  const tar = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
  // The DOM typings give CompressionStream a BufferSource input; Uint8Array chunks are what it takes.
  return tar.pipeThrough(new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
}

/** The archive's file name: <ns>-<pipeline>-<run>-logs.tar.gz. */
export const runLogsFileName = (key: RunKey) => `${key.namespace}-${key.id}-${key.run}-logs.tar.gz`;
