// Hides secret values in task output before it is stored or streamed: the value, each line
// of a multi-line value, its base64 forms (at every byte alignment, so it is caught inside a
// larger encoded blob), and its JSON- and URL-escaped forms.
import type { LogStream, LogWriter } from "./logs.ts";

export const MASK = "***";
const MIN_PATTERN = 4;

function base64Forms(bytes: Uint8Array): string[] {
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    let encoded = padded.toString("base64").replace(/=+$/, "");
    // Characters that mix filler bits or a following byte's bits are not part of the pattern.
    const skip = [0, 2, 3][offset]!;
    encoded = encoded.slice(skip);
    if (padded.length % 3 !== 0) encoded = encoded.slice(0, -1);
    forms.push(encoded, encoded.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return forms;
}

/** Every form of each value to hide, longest first so a longer match wins. */
export function maskPatterns(values: Iterable<string>): string[] {
  const patterns = new Set<string>();
  for (const value of values) {
    const add = (form: string) => {
      if (form.length >= MIN_PATTERN) patterns.add(form);
    };
    add(value);
    for (const line of value.split(/\r?\n/)) add(line.trim());
    add(JSON.stringify(value).slice(1, -1));
    add(encodeURIComponent(value));
    add(encodeURIComponent(value).replace(/%20/g, "+"));
    for (const form of base64Forms(new TextEncoder().encode(value))) add(form);
  }
  return [...patterns].sort((a, b) => b.length - a.length);
}

export type Masker = (text: string) => string;

export function createMasker(values: Iterable<string>): Masker {
  const patterns = maskPatterns(values);
  if (patterns.length === 0) return (text) => text;
  const escaped = patterns.map((pattern) => pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const regex = new RegExp(escaped.join("|"), "g");
  return (text) => text.replace(regex, MASK);
}

/** A log writer that masks every line; the secrets can grow as a task's attempts resolve them. */
export function maskingLogWriter(log: LogWriter): LogWriter & { addSecrets(values: string[]): void; mask: Masker } {
  const known = new Set<string>();
  let masker: Masker = (text) => text;
  return {
    get size() {
      return log.size;
    },
    line(stream: LogStream, text: string) {
      log.line(stream, masker(text));
    },
    close: () => log.close(),
    addSecrets(values) {
      const before = known.size;
      for (const value of values) known.add(value);
      if (known.size !== before) masker = createMasker(known);
    },
    mask: (text) => masker(text),
  };
}
