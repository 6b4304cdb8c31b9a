// Turns a byte stream into lines for the task log: UTF-8 safe across chunk boundaries,
// "\r\n" trimmed, and an endless line without "\n" flushed in pieces instead of buffered whole.

const MAX_PENDING_CHARS = 64 * 1024;

export interface LineSplitter {
  push(chunk: Uint8Array): void;
  /** Flushes a last line that had no newline. */
  end(): void;
}

export function createLineSplitter(onLine: (line: string) => void): LineSplitter {
  const decoder = new TextDecoder();
  let pending = "";
  const drain = () => {
    let newline = pending.indexOf("\n");
    while (newline !== -1) {
      onLine(pending.slice(0, newline).replace(/\r$/, ""));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
    if (pending.length > MAX_PENDING_CHARS) {
      onLine(pending);
      pending = "";
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
