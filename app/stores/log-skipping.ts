// A log writer that drops the first lines of each output stream: a task re-attached after
// a restart replays its output from the start, and the log already holds those lines.
import type { LineCounts, LogWriter } from "./logs.ts";

export function skippingLogWriter(log: LogWriter, stored: LineCounts): LogWriter {
  const left = { ...stored };
  return {
    get size() {
      return log.size;
    },
    line(stream, text) {
      if ((stream === "out" || stream === "err") && left[stream] > 0) {
        left[stream]--;
        return;
      }
      log.line(stream, text);
    },
    // Replayed lines are cut where they were cut the first time: the counts stay true.
    ...(log.cutPoint && { cutPoint: (text: string) => log.cutPoint!(text) }),
    flush: () => log.flush(),
    close: () => log.close(),
  };
}
