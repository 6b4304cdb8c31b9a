// Docker's multiplexed output stream (a container's, or a Swarm task's) into task log lines:
// 8-byte frame headers (stream type, size), stdout and stderr interleaved as the engine sent them.
import type { Readable } from "node:stream";
import type { LogWriter } from "../../stores/logs.ts";
import { createLineSplitter } from "../../domain/line-splitter.ts";

export interface PumpOptions {
  /**
   * Whether a last line without a newline is written when the stream ends (true). False for a
   * stream cut off while the output goes on: the rest of that line is read again later.
   */
  flushPartial?: boolean;
}

/**
 * Reads Docker's multiplexed stream (8-byte frame headers: stream type, size) and writes
 * lines to the log in the order the engine sent them, stdout and stderr interleaved.
 */
export async function pumpMultiplexed(stream: Readable, log: LogWriter, options: PumpOptions = {}): Promise<void> {
  // An over-long line is cut where no secret is split (the masking writer says where).
  const cutPoint = (text: string) => log.cutPoint?.(text) ?? text.length;
  const out = createLineSplitter((line) => log.line("out", line), cutPoint);
  const err = createLineSplitter((line) => log.line("err", line), cutPoint);
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    while (buffer.length >= 8) {
      const size = buffer.readUInt32BE(4);
      if (buffer.length < 8 + size) break;
      const payload = buffer.subarray(8, 8 + size);
      (buffer[0] === 2 ? err : out).push(payload);
      buffer = buffer.subarray(8 + size);
    }
  }
  if (options.flushPartial === false) return;
  out.end();
  err.end();
}
