// Masks secrets in a live byte stream (an exec session's terminal output) as task logs are
// masked (domain/secret-masking.ts): whole lines as the log masks them, and the end of a line only
// where it may begin a secret held back until more comes, so a value split across chunks is
// still caught and everything else reaches the terminal at once.
import { createMasker } from "../domain/secret-masking.ts";

export interface ByteStreamMasker {
  /** The bytes that may go out now, masked. */
  push(bytes: Uint8Array): Uint8Array;
  /** Whatever is held back, masked: at the stream's end, or once it has been quiet a moment. */
  flush(): Uint8Array;
  /** Whether something is held back. */
  readonly pending: boolean;
}

// Bytes are read as latin1 (one character a byte) so output that is not UTF-8 (a binary file
// piped out) passes unchanged; a value's UTF-8 bytes read the same way are masked too.
const asText = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
const asBytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));

export function createByteStreamMasker(secrets: Iterable<string>): ByteStreamMasker {
  const values = [...secrets].filter((value) => value !== "");
  const masker = createMasker([...values, ...values.map((value) => Buffer.from(value, "utf8").toString("latin1"))]);
  let held = "";
  const maskLines = (text: string) => text.split("\n").map(masker.mask).join("\n");
  return {
    push(bytes) {
      const text = held + asText(bytes);
      const lineEnd = text.lastIndexOf("\n") + 1;
      const rest = text.slice(lineEnd);
      const cut = masker.heldFrom(rest);
      held = rest.slice(cut);
      return asBytes(maskLines(text.slice(0, lineEnd)) + (cut > 0 ? masker.mask(rest.slice(0, cut)) : ""));
    },
    flush() {
      const out = held ? masker.mask(held) : "";
      held = "";
      return asBytes(out);
    },
    get pending() {
      return held !== "";
    },
  };
}
