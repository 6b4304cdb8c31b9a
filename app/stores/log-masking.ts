// Task logs with secrets hidden: a log writer that masks every line (domain/secret-masking.ts
// has the rules), its secrets growing as a task's attempts resolve them.
import { createMasker, NO_SECRETS } from "../domain/secret-masking.ts";
import type { LogStream, LogWriter } from "./logs.ts";

/** A log writer that masks every line, and takes more secrets to mask as they are read. */
export type MaskingLogWriter = LogWriter & { addSecrets(values: string[]): void; mask: (text: string) => string };

/** A log writer that masks every line; the secrets can grow as a task's attempts resolve them. */
export function maskingLogWriter(log: LogWriter): MaskingLogWriter {
  const known = new Set<string>();
  let masker = NO_SECRETS;
  return {
    get size() {
      return log.size;
    },
    line(stream: LogStream, text: string) {
      log.line(stream, masker.mask(text));
    },
    cutPoint: (text) => masker.cutPoint(text),
    flush: () => log.flush(),
    close: () => log.close(),
    addSecrets(values) {
      const before = known.size;
      for (const value of values) known.add(value);
      if (known.size !== before) masker = createMasker(known);
    },
    mask: (text) => masker.mask(text),
  };
}
