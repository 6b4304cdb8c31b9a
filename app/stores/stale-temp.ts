// The sweep of a store's temp folder at start: files a crash left mid-write (never renamed into
// place, so nothing refers to them) go. Only old ones: another process sharing the data dir (a
// second server, a CLI command) may be writing the fresh ones.
import { lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** A temp file untouched this long was left by a crash: nothing writes or reads it any more. */
export const STALE_TEMP_MS = 24 * 3_600_000;

/** Removes what in `dir` was last modified more than STALE_TEMP_MS ago. */
export function sweepStaleTemp(dir: string): void {
  const cutoff = Date.now() - STALE_TEMP_MS;
  for (const name of readdirSync(dir)) {
    const stats = lstatSync(join(dir, name), { throwIfNoEntry: false });
    if (stats && stats.mtimeMs < cutoff) rmSync(join(dir, name), { recursive: true, force: true });
  }
}
