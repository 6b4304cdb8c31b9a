// Hides secret values in task output before it is stored or streamed: the value, each line
// of a multi-line value, its base64 forms (at every byte alignment, so it is caught inside a
// larger encoded blob), its JSON-, URL- and XML-escaped forms, its hex, and pieces of it
// left at a line's edges (a value split over two lines or two streams). Pure: the server's
// logs and exec sessions and the testing kit (gantry/testing) mask with the same rules.
export const MASK = "***";
const MIN_PATTERN = 4;
/** Values at least this long are also masked in pieces at a line's start or end ... */
const MIN_SPLIT_VALUE = 12;
/** ... when the piece is at least this long (shorter pieces say little, and would mask ordinary text). */
const MIN_SPLIT_PIECE = 6;
/**
 * How much of an over-long line is held back so no secret is cut in two: enough for every
 * form of any secret up to this many characters (longer forms of huge values may be cut).
 */
const MAX_HOLDBACK = 32 * 1024;

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

/** The value as XML/HTML escapers write it: each common spelling of the quotes, ">" escaped or not. */
function xmlForms(value: string): string[] {
  if (!/[&<>"']/.test(value)) return [];
  const forms: string[] = [];
  for (const quot of ["&quot;", "&#34;", "&#x22;", '"']) {
    for (const apos of ["&apos;", "&#39;", "&#039;", "&#x27;", "'"]) {
      for (const gt of ["&gt;", ">"]) {
        const named: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": gt, '"': quot, "'": apos };
        forms.push(value.replace(/[&<>"']/g, (char) => named[char]!));
      }
    }
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
    for (const form of xmlForms(value)) add(form);
    const bytes = new TextEncoder().encode(value);
    const hex = Buffer.from(bytes).toString("hex");
    add(hex);
    add(hex.toUpperCase());
    for (const form of base64Forms(bytes)) add(form);
  }
  return [...patterns].sort((a, b) => b.length - a.length);
}

/** The plain values (and lines of multi-line ones) long enough to be masked in pieces at a line's edges. */
function splitCandidates(values: Iterable<string>): string[] {
  const candidates = new Set<string>();
  for (const value of values) {
    for (const line of [value, ...value.split(/\r?\n/).map((part) => part.trim())]) {
      if (line.length >= MIN_SPLIT_VALUE && !line.includes("\n")) candidates.add(line);
    }
  }
  return [...candidates];
}

/**
 * Masks a piece of a value left at either edge of a line (surrounding blanks aside): the
 * line ends with the value's start, or begins with its end. That is what remains of a value
 * written half to stdout and half to stderr, or over two lines; a piece in the middle of a
 * line is ordinary text and is left alone.
 */
function maskEdges(text: string, values: string[]): string {
  const lead = text.length - text.trimStart().length;
  const trail = text.trimEnd().length;
  let start = lead;
  let end = trail;
  for (const value of values) {
    if (end - start < MIN_SPLIT_PIECE) break;
    // The line's end: the longest piece that the value starts with.
    for (let i = Math.max(start, end - (value.length - 1)); i <= end - MIN_SPLIT_PIECE; i++) {
      i = text.indexOf(value[0]!, i);
      if (i === -1 || i > end - MIN_SPLIT_PIECE) break;
      if (value.startsWith(text.slice(i, end))) {
        end = i;
        break;
      }
    }
    // The line's start: the longest piece that the value ends with.
    for (let j = Math.max(1, value.length - (end - start)); j <= value.length - MIN_SPLIT_PIECE; j++) {
      j = value.indexOf(text[start]!, j);
      if (j === -1 || j > value.length - MIN_SPLIT_PIECE) break;
      if (text.startsWith(value.slice(j), start)) {
        start += value.length - j;
        break;
      }
    }
  }
  if (start === lead && end === trail) return text;
  return `${text.slice(0, lead)}${start > lead ? MASK : ""}${text.slice(start, Math.max(start, end))}${end < trail ? MASK : ""}${text.slice(trail)}`;
}

export interface Masker {
  /** The text with every form of every secret replaced by MASK. */
  mask(text: string): string;
  /**
   * Where an over-long line may be cut so that no form of a secret straddles the cut: as
   * late as possible, holding back no more than the longest form needs.
   */
  cutPoint(text: string): number;
  /**
   * Where the end of a stream's text that may begin a form of a secret starts (text.length
   * when none does): what a live stream holds back until more comes, so no secret is cut in
   * two, while anything else goes out at once (a shell's prompt waits for nothing).
   */
  heldFrom(text: string): number;
}

/** The masker of no secrets: text passes unchanged. */
export const NO_SECRETS: Masker = { mask: (text) => text, cutPoint: (text) => text.length, heldFrom: (text) => text.length };

export function createMasker(values: Iterable<string>): Masker {
  const list = [...values];
  const patterns = maskPatterns(list);
  if (patterns.length === 0) return NO_SECRETS;
  const escaped = patterns.map((pattern) => pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const regex = new RegExp(escaped.join("|"), "g");
  const edges = splitCandidates(list);
  const holdback = Math.min(patterns[0]!.length - 1, MAX_HOLDBACK);
  return {
    mask(text) {
      const masked = text.replace(regex, MASK);
      return edges.length > 0 ? maskEdges(masked, edges) : masked;
    },
    cutPoint(text) {
      let cut = Math.max(0, text.length - holdback);
      // A match that starts before the cut ends within the text (no form is longer than the
      // holdback); one that runs over the cut moves it to the match's end.
      regex.lastIndex = 0;
      for (let match = regex.exec(text); match && match.index < cut; match = regex.exec(text)) {
        cut = Math.max(cut, match.index + match[0].length);
      }
      return cut;
    },
    heldFrom(text) {
      let from = text.length;
      for (let i = Math.max(0, text.length - holdback); i < text.length; i++) {
        const tail = text.slice(i);
        if (patterns.some((pattern) => pattern.length > tail.length && pattern.startsWith(tail))) {
          from = i;
          break;
        }
      }
      // A whole form that starts before the cut and runs past it goes out whole, masked.
      regex.lastIndex = 0;
      for (let match = regex.exec(text); match && match.index < from; match = regex.exec(text)) {
        from = Math.max(from, match.index + match[0].length);
      }
      return from;
    },
  };
}

/**
 * Why masking may miss parts of a secret's value, for the secrets page and an event; null
 * when it looks like one token. Masking finds the value and its usual encodings in output,
 * so a value that programs take apart, reformat or that is merely short is at risk.
 */
export function secretWarning(value: string): string | null {
  const warnings: string[] = [];
  const trimmed = value.trim();
  const lines = value.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (/-----BEGIN [A-Z0-9 ]+-----/.test(value)) {
    warnings.push("it is a PEM key or certificate: each of its lines is masked, but a program that re-wraps or re-encodes it prints text the log cannot recognise; store it base64-encoded on one line");
  } else if (lines.length > 1) {
    warnings.push(`it spans ${lines.length} lines: each line is masked on its own, and lines shorter than ${MIN_PATTERN} characters are not masked at all`);
  }
  if (/^[[{]/.test(trimmed) && isJson(trimmed)) {
    warnings.push("it looks like JSON: a task that prints one field of it, or re-serialises it with other spacing, prints text the log cannot recognise; store each field as its own secret");
  }
  if (trimmed.length < MIN_SPLIT_VALUE) {
    warnings.push(`it is only ${trimmed.length} characters: it is masked wherever those characters occur, even in unrelated output, and pieces of it are never masked`);
  }
  return warnings.length > 0 ? `Masking may miss it: ${warnings.join("; ")}.` : null;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
