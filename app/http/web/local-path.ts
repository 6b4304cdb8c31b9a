// Where a form may send the browser afterwards: only paths of this site, so a crafted
// `next` cannot bounce a user to another one.

const BASE = "http://gantry.invalid";

/**
 * `next` when it is a local path, else "/". Browsers drop tabs and newlines and read "\\" as
 * "/" when they parse a URL ("/\t/evil.com" is "//evil.com"), so the check is the parse itself:
 * whatever the browser would make of it must stay on this site, and only its path, query and
 * fragment are kept.
 */
export function localPath(next: string | undefined): string {
  if (!next || !next.startsWith("/") || /[\u0000-\u001f\u007f\s\\]/.test(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, BASE);
  } catch {
    return "/";
  }
  if (url.origin !== BASE || next.startsWith("//")) return "/";
  return `${url.pathname}${url.search}${url.hash}`;
}
