// A Swarm task's output into the task log, complete and in order: followed live through the
// manager (the task may run on any node), and once the task has ended read once more from the
// start, the lines already written skipped — a followed stream does not end with its task,
// and its last lines may still be on their way when it is cut off. That last read has a
// deadline: task logs can hang (moby#38640), and a task's end must not wait on them.
import type Docker from "dockerode";
import { Readable } from "node:stream";
import type { LineCounts, LogWriter } from "../../stores/logs.ts";
import { skippingLogWriter } from "../../stores/log-skipping.ts";
import { formatDuration } from "../../domain/duration.ts";
import { dockerMessage } from "./docker-client.ts";
import { pumpMultiplexed } from "./multiplexed-stream.ts";

/** How long the read after a task's end may take by default (ms). */
export const FINISH_DEADLINE_MS = 15_000;

export interface TaskLogFollower {
  /**
   * The task has ended: the live stream is cut and the lines it had not brought yet are
   * written. Never throws; when the engine fails or misses the deadline, the log says the
   * output may be incomplete, and why.
   */
  finish(deadlineMs?: number): Promise<void>;
  /** Stops following (the server is stopping); nothing more is written. */
  stop(): void;
}

/** Follows a task's output into `log` from its start (a log that holds some lines already skips them: skippingLogWriter); `live: false` reads it only at finish. */
export function followTaskLogs(docker: Docker, taskId: string, log: LogWriter, options: { live: boolean }): TaskLogFollower {
  const written: LineCounts = { out: 0, err: 0 };
  const counting: LogWriter = {
    get size() {
      return log.size;
    },
    line(stream, text) {
      if (stream === "out" || stream === "err") written[stream]++;
      log.line(stream, text);
    },
    ...(log.cutPoint && { cutPoint: (text: string) => log.cutPoint!(text) }),
    flush: () => log.flush(),
    close: () => log.close(),
  };
  const abort = new AbortController();
  const following = options.live
    ? (async () => {
        try {
          const stream = (await taskLogs(docker, taskId, { follow: true, stdout: true, stderr: true, abortSignal: abort.signal })) as Readable;
          abort.signal.addEventListener("abort", () => stream.destroy(), { once: true });
          if (abort.signal.aborted) stream.destroy();
          // A line the cut leaves half read is read whole at the end.
          await pumpMultiplexed(stream, counting, { flushPartial: false });
        } catch {
          // Cut off, or not readable yet: the read at the end has everything.
        }
      })()
    : Promise.resolve();
  return {
    async finish(deadlineMs = FINISH_DEADLINE_MS) {
      abort.abort();
      const reading = new AbortController();
      let stream: Readable | undefined;
      const rest = (async () => {
        await following;
        const all = await taskLogs(docker, taskId, { follow: false, stdout: true, stderr: true, abortSignal: reading.signal });
        stream = all instanceof Readable ? all : Readable.from(Buffer.isBuffer(all) ? [all] : []);
        if (reading.signal.aborted) return stream.destroy();
        await pumpMultiplexed(stream, skippingLogWriter(log, written));
      })();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), deadlineMs)));
      try {
        const how = await Promise.race([rest.then(() => "done" as const), late]);
        if (how === "late") {
          reading.abort();
          stream?.destroy();
          log.line("gantry", `output may be incomplete: the engine did not hand over the task's last output within ${formatDuration(deadlineMs)}`);
        }
      } catch (error) {
        log.line("gantry", `output may be incomplete: reading the task's output failed (${dockerMessage(error)})`);
      } finally {
        clearTimeout(timer);
        // Whatever the late read does now goes nowhere.
        rest.catch(() => undefined);
      }
    },
    stop() {
      abort.abort();
    },
  };
}

/** GET /tasks/{id}/logs: dockerode has it, its types do not (a stream when following, else the bytes). */
function taskLogs(docker: Docker, taskId: string, options: { follow: boolean; stdout: boolean; stderr: boolean; abortSignal?: AbortSignal }): Promise<unknown> {
  return (docker.getTask(taskId) as unknown as { logs(options: object): Promise<unknown> }).logs(options);
}
