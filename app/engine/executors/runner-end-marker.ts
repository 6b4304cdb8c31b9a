// Finds a runner's end marker (task-runner/command.ts, END_MARKER) in its output: the bytes
// before it are the task's output, the exit code in it is the attempt's, and whatever comes
// after it (what the task left running, writing while the runner goes) is not the task's.
import { END_MARKER } from "../task-runner/command.ts";

export interface EndScanner {
  /** The chunk's output (a possible start of the marker is held back until the next chunk), and the exit code once the marker is complete. */
  push(chunk: Uint8Array): { output: Uint8Array; code?: number };
  /** At the end of the stream: what was held back, which was not the marker after all. */
  flush(): Uint8Array;
}

const NEWLINE = 0x0a;
/** An exit code has at most three digits. */
const MAX_CODE_DIGITS = 3;
const EMPTY = new Uint8Array(0);

export function createEndScanner(key: string): EndScanner {
  const marker = Buffer.from(`${END_MARKER}${key} `);
  let held: Uint8Array = EMPTY;
  return {
    push(chunk) {
      const bytes = held.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([held, chunk]);
      held = EMPTY;
      for (let from = 0; ; ) {
        const at = bytes.indexOf(marker, from);
        if (at === -1) break;
        const digits = at + marker.length;
        const newline = bytes.subarray(digits, digits + MAX_CODE_DIGITS + 1).indexOf(NEWLINE);
        if (newline === -1 && bytes.length < digits + MAX_CODE_DIGITS + 1) {
          // The marker's code has not all come yet.
          held = Uint8Array.from(bytes.subarray(at));
          return { output: bytes.subarray(0, at) };
        }
        const text = newline === -1 ? "" : bytes.toString("latin1", digits, digits + newline);
        if (/^\d{1,3}$/.test(text) && Number(text) <= 255) return { output: bytes.subarray(0, at), code: Number(text) };
        // Not a marker after all: it stays output.
        from = at + 1;
      }
      const keep = markerStartAtEnd(bytes, marker);
      if (keep > 0) held = Uint8Array.from(bytes.subarray(bytes.length - keep));
      return { output: bytes.subarray(0, bytes.length - keep) };
    },
    flush() {
      const rest = held;
      held = EMPTY;
      return rest;
    },
  };
}

/** How many bytes at the end of `bytes` could be the marker's beginning (0 when none). */
function markerStartAtEnd(bytes: Buffer, marker: Buffer): number {
  // The marker starts with a NUL, which output rarely holds: only those places are compared.
  for (let at = bytes.indexOf(marker[0]!, Math.max(0, bytes.length - marker.length + 1)); at !== -1; at = bytes.indexOf(marker[0]!, at + 1)) {
    if (marker.subarray(0, bytes.length - at).equals(bytes.subarray(at))) return bytes.length - at;
  }
  return 0;
}
