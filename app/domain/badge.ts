// A status badge as SVG (the flat look README badges share): the pipeline on the left, the
// state of its last finished run on the right. Pure: app/http/badges.ts serves it.

export type BadgeState = "successful" | "failed" | "cancelled" | "none";

const MESSAGES: Record<BadgeState, string> = { successful: "passing", failed: "failing", cancelled: "cancelled", none: "no runs" };
const COLORS: Record<BadgeState, string> = { successful: "#1f883d", failed: "#cf222e", cancelled: "#6e7781", none: "#8c959f" };
const LABEL_COLOR = "#555";
const PADDING = 6;

/** The width of text in 11px Verdana, close enough to size the badge (no font metrics on a server). */
function textWidth(text: string): number {
  let width = 0;
  for (const character of text) {
    if ("iIjl.,:;'|!".includes(character)) width += 3.6;
    else if ("mwMW".includes(character)) width += 10;
    else if (/[A-Z]/.test(character)) width += 7.6;
    else if ("-_ ".includes(character)) width += 4.6;
    else width += 6.6;
  }
  return Math.ceil(width);
}

const escapeXml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/**
 * The badge for `label` (a pipeline's id) in `state`.
 *
 * @example badgeSvg("release", "successful") // "<svg ... aria-label=\"release: passing\">..."
 */
export function badgeSvg(label: string, state: BadgeState): string {
  const message = MESSAGES[state];
  const left = textWidth(label) + PADDING * 2;
  const right = textWidth(message) + PADDING * 2;
  const width = left + right;
  const text = (value: string, x: number) =>
    `<text x="${x}" y="15" fill="#010101" fill-opacity=".3">${escapeXml(value)}</text><text x="${x}" y="14">${escapeXml(value)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${escapeXml(`${label}: ${message}`)}">`,
    `<title>${escapeXml(`${label}: ${message}`)}</title>`,
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`,
    `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>`,
    `<g clip-path="url(#r)"><rect width="${left}" height="20" fill="${LABEL_COLOR}"/><rect x="${left}" width="${right}" height="20" fill="${COLORS[state]}"/><rect width="${width}" height="20" fill="url(#s)"/></g>`,
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`,
    text(label, left / 2),
    text(message, left + right / 2),
    `</g></svg>`,
  ].join("");
}
