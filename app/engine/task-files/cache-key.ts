// Fills a cache key when its task starts (domain/cache-key.ts has the template's rules):
// `${hashFiles('glob', ...)}` from the workspace's files (their paths and contents, sorted),
// read without following a link, so a key changes exactly when what it stands for does.
import { closeSync, readSync } from "node:fs";
import { fillKeyTemplate, type FilledKey } from "../../domain/cache-key.ts";
import { WorkspaceDirs } from "../../stores/workspace-dirs.ts";

/**
 * sha256 of a regular file reached without any link (a link, or a folder that is one, is
 * skipped), opened without blocking (a named pipe swapped in is skipped, never waited on) and
 * never a hard link to someone else's file (skipped too).
 */
function hashWorkspaceFile(dirs: WorkspaceDirs, path: string): string | undefined {
  const found = dirs.locate(path, { followLast: false });
  let opened: { fd: number } | undefined;
  try {
    if (!found.stats?.isFile()) return undefined;
    opened = dirs.openFile(found.parent, found.name, path);
  } catch {
    return undefined;
  } finally {
    dirs.release(found.parent);
  }
  if (!opened) return undefined;
  const { fd } = opened;
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    const buffer = new Uint8Array(1 << 20);
    for (;;) {
      const count = readSync(fd, buffer, 0, buffer.length, null);
      if (count === 0) break;
      hasher.update(buffer.subarray(0, count));
    }
    return hasher.digest("hex");
  } finally {
    closeSync(fd);
  }
}

/**
 * One hash over the files the globs match in the workspace: their relative paths and contents,
 * sorted by path; "" when none match. Links are not followed (a link leading out must not
 * decide a key, nor be read by the server).
 */
export async function hashFiles(workspace: string, globs: string[]): Promise<{ hash: string; files: number }> {
  const paths = new Set<string>();
  for (const glob of globs) {
    for await (const path of new Bun.Glob(glob).scan({ cwd: workspace, onlyFiles: true, followSymlinks: false })) paths.add(path.split("\\").join("/"));
  }
  const dirs = new WorkspaceDirs(workspace);
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    let files = 0;
    for (const path of [...paths].sort()) {
      // A link in the way, or one leading out, leaves the file out of the hash.
      let digest: string | undefined;
      try {
        digest = hashWorkspaceFile(dirs, path);
      } catch {
        digest = undefined;
      }
      if (digest === undefined) continue;
      hasher.update(`${path}\0${digest}\n`);
      files++;
    }
    return { hash: files === 0 ? "" : hasher.digest("hex"), files };
  } finally {
    dirs.close();
  }
}

/** Fills `${VAR}` and `${hashFiles(...)}` in a key (or a restore key), hashing the workspace's files safely. Throws on a malformed hashFiles call or an over-long key. */
export function fillCacheKey(template: string, context: { env: Readonly<Record<string, string>>; workspace: string }): Promise<FilledKey> {
  return fillKeyTemplate(template, { env: context.env, hashFiles: (globs) => hashFiles(context.workspace, globs) });
}
