// Where a form may send the browser afterwards: only paths of this site, so a crafted
// `next` cannot bounce a user to another one.

/** `next` when it is a local path, else "/". */
export function localPath(next: string | undefined): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}
