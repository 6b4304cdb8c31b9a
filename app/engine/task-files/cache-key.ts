// Fills a cache key when its task starts: `${VAR}` from the task's environment and
// `${hashFiles('glob', ...)}` from the workspace's files (their paths and contents, sorted),
// so a key changes exactly when what it stands for (a lockfile, a version) does.
import { closeSync, readSync } from "node:fs";
import { WorkspaceDirs } from "../../stores/workspace-dirs.ts";

const HASH_FILES = /\$\{\s*hashFiles\(([^)]*)\)\s*\}/g;
const VARIABLE = /\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}/g;
/** One quoted argument of hashFiles: 'glob' or "glob". */
const ARGUMENT = /^\s*(?:'([^']*)'|"([^"]*)")\s*(?:,|$)/;
/** Longer keys are refused: a key is shown in pages and logs, and indexed. */
export const MAX_CACHE_KEY_LENGTH = 512;

export interface FilledKey {
  key: string;
  /** What the task's log should say about the filling (no file matched, a variable unset). */
  notes: string[];
}

/** The globs of one hashFiles(...) call; throws naming what is wrong. */
function globsOf(args: string): string[] {
  const globs: string[] = [];
  let rest = args;
  while (rest.trim() !== "") {
    const match = ARGUMENT.exec(rest);
    if (!match) throw new Error(`hashFiles(${args}): each argument must be a quoted glob, e.g. hashFiles('package-lock.json', 'src/**/*.ts')`);
    const glob = match[1] ?? match[2]!;
    if (glob.startsWith("/") || glob.split("/").includes("..")) throw new Error(`hashFiles('${glob}'): globs are paths inside the workspace (relative, no ..)`);
    globs.push(glob);
    rest = rest.slice(match[0].length);
  }
  if (globs.length === 0) throw new Error("hashFiles() needs at least one glob");
  return globs;
}

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

/** Fills `${VAR}` and `${hashFiles(...)}` in a key (or a restore key). Throws on a malformed hashFiles call or an over-long key. */
export async function fillCacheKey(template: string, context: { env: Readonly<Record<string, string>>; workspace: string }): Promise<FilledKey> {
  const notes: string[] = [];
  const hashes = new Map<string, string>();
  for (const match of template.matchAll(HASH_FILES)) {
    if (hashes.has(match[0])) continue;
    const globs = globsOf(match[1]!);
    const { hash, files } = await hashFiles(context.workspace, globs);
    if (files === 0) notes.push(`hashFiles(${globs.map((glob) => `'${glob}'`).join(", ")}) matched no files in the workspace`);
    hashes.set(match[0], hash);
  }
  let key = template.replace(HASH_FILES, (whole) => hashes.get(whole) ?? "");
  key = key.replace(VARIABLE, (_, name: string) => {
    const value = context.env[name];
    if (value === undefined) notes.push(`\${${name}} is not set in the task's environment`);
    return value ?? "";
  });
  key = key.trim();
  if (key.length > MAX_CACHE_KEY_LENGTH) throw new Error(`the cache key is ${key.length} characters long once filled in; at most ${MAX_CACHE_KEY_LENGTH} are allowed`);
  return { key, notes };
}
