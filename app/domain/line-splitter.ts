// Turns a byte stream into lines for the task log: UTF-8 safe across chunk boundaries,
// "\r\n" trimmed, and an endless line without "\n" flushed in pieces instead of buffered
// whole, each piece cut where the log's masking says no secret is split.

const MAX_PENDING_CHARS = 64 * 1024;

export interface LineSplitter {
  push(chunk: Uint8Array): void;
  /** Flushes a last line that had no newline. */
  end(): void;
}

/**
 * `cutPoint` says where an over-long line may be cut (see LogWriter.cutPoint); without it,
 * the whole pending text is flushed.
 */
export function createLineSplitter(onLine: (line: string) => void, cutPoint?: (text: string) => number): LineSplitter {
  const decoder = new TextDecoder();
  let pending = "";
  const drain = () => {
    let from = 0;
    let newline = pending.indexOf("\n");
    while (newline !== -1) {
      onLine(pending.slice(from, newline).replace(/\r$/, ""));
      from = newline + 1;
      newline = pending.indexOf("\n", from);
    }
    // One slice per chunk, not per line: a chunk of many short lines stays linear.
    if (from > 0) pending = pending.slice(from);
    if (pending.length > MAX_PENDING_CHARS) {
      let cut = cutPoint ? Math.min(pending.length, Math.max(1, cutPoint(pending))) : pending.length;
      // Never between the two halves of a surrogate pair.
      const code = pending.charCodeAt(cut - 1);
      if (cut < pending.length && code >= 0xd800 && code <= 0xdbff) cut = cut > 1 ? cut - 1 : cut + 1;
      onLine(pending.slice(0, cut));
      pending = pending.slice(cut);
    }
  };
  return {
    push(chunk) {
      pending += decoder.decode(chunk, { stream: true });
      drain();
    },
    end() {
      pending += decoder.decode();
      drain();
      if (pending.length > 0) onLine(pending);
      pending = "";
    },
  };
}
