// One log line with ANSI escape codes → safe HTML. The text is split from the codes and
// HTML-escaped first; colours and weights become spans whose classes come only from the
// fixed tables below; every other escape or control sequence is removed.

const COLOURS = [
  "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
  "bright-black", "bright-red", "bright-green", "bright-yellow", "bright-blue", "bright-magenta", "bright-cyan", "bright-white",
] as const;

/** xterm's default RGB values of the 16 basic colours, to map 256-colour and true-colour codes. */
const PALETTE: readonly (readonly [number, number, number])[] = [
  [0, 0, 0], [205, 0, 0], [0, 205, 0], [205, 205, 0], [0, 0, 238], [205, 0, 205], [0, 205, 205], [229, 229, 229],
  [127, 127, 127], [255, 0, 0], [0, 255, 0], [255, 255, 0], [92, 92, 255], [255, 0, 255], [0, 255, 255], [255, 255, 255],
];

const CUBE_LEVELS = [0, 95, 135, 175, 215, 255] as const;

interface Style {
  /** Index into COLOURS. */
  fg?: number;
  bg?: number;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  strike: boolean;
}

const plain = (): Style => ({ bold: false, dim: false, italic: false, underline: false, strike: false });

/**
 * Escape and control sequences, in the order they are tried:
 * CSI (ESC [ or 0x9B; its final byte is optional, so an unterminated code is dropped too),
 * OSC (ESC ] or 0x9D, e.g. hyperlinks, ended by BEL or ST or nothing),
 * DCS/SOS/PM/APC strings, any other ESC sequence (or a lone ESC), and single control characters
 * but tab and carriage return.
 */
const CONTROL =
  /(?:\x1b\[|\x9b)([0-?]*)[ -/]*([@-~]?)|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?|[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f-\x9f]|\r/g;

const ANY_CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

function nearestColour(r: number, g: number, b: number): number {
  let best = 0;
  let bestDistance = Infinity;
  PALETTE.forEach(([pr, pg, pb], index) => {
    const distance = (r - pr) ** 2 + (g - pg) ** 2 + (b - pb) ** 2;
    if (distance < bestDistance) [best, bestDistance] = [index, distance];
  });
  return best;
}

const isByte = (value: number | undefined): value is number => value !== undefined && Number.isInteger(value) && value >= 0 && value <= 255;

/** A 256-colour palette index as the nearest basic colour. */
function colourOf256(n: number): number {
  if (n < 16) return n;
  if (n < 232) {
    const cube = n - 16;
    return nearestColour(CUBE_LEVELS[Math.floor(cube / 36)]!, CUBE_LEVELS[Math.floor(cube / 6) % 6]!, CUBE_LEVELS[cube % 6]!);
  }
  const grey = 8 + 10 * (n - 232);
  return nearestColour(grey, grey, grey);
}

/**
 * The colour of an extended code's arguments (after 38 or 48): [5, n] or [2, r, g, b], or with
 * colons [2, colour-space, r, g, b]. Returns the colour (or undefined) and how many arguments it took.
 */
function extendedColour(args: (number | undefined)[], colons: boolean): { colour?: number; used: number } {
  if (args[0] === 5) return { ...(isByte(args[1]) && { colour: colourOf256(args[1]) }), used: 2 };
  if (args[0] === 2) {
    const rgb = colons && args.length >= 5 ? args.slice(2, 5) : args.slice(1, 4);
    const [r, g, b] = rgb;
    return { ...(isByte(r) && isByte(g) && isByte(b) && { colour: nearestColour(r, g, b) }), used: colons ? args.length : 4 };
  }
  return { used: args.length };
}

/** Applies the parameters of one SGR (ESC [ ... m) sequence to the style. */
function applySgr(style: Style, params: string): void {
  const parts = params === "" ? ["0"] : params.split(";");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.includes(":")) {
      // Sub-parameters, e.g. 38:5:196, 38:2::255:0:0 or 4:3 (curly underline).
      const [code, ...args] = part.split(":").map((value) => (value === "" ? undefined : Number(value)));
      if (code === 38 || code === 48) {
        const { colour } = extendedColour(args, true);
        if (code === 38) style.fg = colour;
        else style.bg = colour;
      } else if (code === 4) style.underline = args[0] !== 0;
      continue;
    }
    const code = part === "" ? 0 : Number(part);
    if (code === 38 || code === 48) {
      const { colour, used } = extendedColour(parts.slice(i + 1).map(Number), false);
      i += used;
      if (code === 38) style.fg = colour;
      else style.bg = colour;
    } else if (code === 0) Object.assign(style, plain(), { fg: undefined, bg: undefined });
    else if (code === 1) style.bold = true;
    else if (code === 2) style.dim = true;
    else if (code === 3) style.italic = true;
    else if (code === 4) style.underline = true;
    else if (code === 9) style.strike = true;
    else if (code === 22) style.bold = style.dim = false;
    else if (code === 23) style.italic = false;
    else if (code === 24) style.underline = false;
    else if (code === 29) style.strike = false;
    else if (code >= 30 && code <= 37) style.fg = code - 30;
    else if (code === 39) style.fg = undefined;
    else if (code >= 40 && code <= 47) style.bg = code - 40;
    else if (code === 49) style.bg = undefined;
    else if (code >= 90 && code <= 97) style.fg = code - 90 + 8;
    else if (code >= 100 && code <= 107) style.bg = code - 100 + 8;
    // Anything else (blink, inverse, fonts...) is ignored.
  }
}

/** The style's class list; every name is a constant of this file. */
function classesOf(style: Style): string {
  const classes: string[] = [];
  if (style.fg !== undefined) classes.push(`ansi-fg-${COLOURS[style.fg]}`);
  if (style.bg !== undefined) classes.push(`ansi-bg-${COLOURS[style.bg]}`);
  if (style.bold) classes.push("ansi-bold");
  if (style.dim) classes.push("ansi-dim");
  if (style.italic) classes.push("ansi-italic");
  if (style.underline) classes.push("ansi-underline");
  if (style.strike) classes.push("ansi-strike");
  return classes.join(" ");
}

/** The colours and weights in force, carried from one line to the next as a terminal does. */
export type AnsiStyle = Style;

/** The style a stream starts with. */
export const plainStyle = (): AnsiStyle => plain();

/**
 * Renders one line of terminal output as HTML that is safe to insert as is: escaped text,
 * and `<span class="ansi-...">` for SGR colours and weights. A carriage return overwrites
 * the line (progress bars), so only the text after the last one shows. With `style`, the
 * line starts in it (what earlier lines of the same stream left set: a colour a tool opens on
 * one line and closes lines later) and leaves it as this line ends; without it, plain.
 */
export function ansiToHtml(line: string, style: AnsiStyle = plain()): string {
  // Most lines have no escape code or control character at all.
  if (!ANY_CONTROL.test(line)) {
    const classes = classesOf(style);
    return classes && line !== "" ? `<span class="${classes}">${escapeHtml(line)}</span>` : escapeHtml(line);
  }
  let html = "";
  let overwrite = false;
  const addText = (text: string) => {
    if (text === "") return;
    if (overwrite) [html, overwrite] = ["", false];
    const classes = classesOf(style);
    html += classes ? `<span class="${classes}">${escapeHtml(text)}</span>` : escapeHtml(text);
  };
  let last = 0;
  for (const match of line.matchAll(CONTROL)) {
    addText(line.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[0] === "\r") overwrite = true;
    // SGR only: a final "m" and plain numeric parameters (private ones like "?" or ">" are other things).
    else if (match[2] === "m" && /^[\d;:]*$/.test(match[1]!)) applySgr(style, match[1]!);
  }
  addText(line.slice(last));
  return html;
}
