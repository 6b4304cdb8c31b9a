// Writes a source folder as of one commit into a fresh directory, from the mirror's objects
// (never a checkout with its hooks and filters). Only the source folder is written, so a
// pipeline cannot import what lies beside it in the repository; a symlink is kept only when
// it names a file of the folder (its content is written in its place), never one leading out.
import { chmodSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { listTree, readBlobs, type TreeEntry } from "./git.ts";
import { printable } from "../../domain/sources.ts";

/** A folder over TREE_LIMITS: the commit is skipped, not the sync. */
export class TreeTooLargeError extends Error {
  override name = "TreeTooLargeError";
}

/** A source folder bigger than this is refused: pipelines and their helpers are small. */
export const TREE_LIMITS = { files: 5_000, bytes: 64 * 1024 * 1024 };

export interface WrittenTree {
  /** Paths relative to the source folder, with each one's blob id (its content's fingerprint). */
  files: Map<string, string>;
  /** What was left out and why (a symlink out of the folder, a submodule). */
  warnings: string[];
}

/**
 * Writes `path` of commit `sha` into `dest` (made here; files 0644, folders 0755 so the
 * sandbox user reads them). Throws when the folder is over TREE_LIMITS.
 */
export async function writeSourceTree(gitDir: string, sha: string, path: string, dest: string): Promise<WrittenTree> {
  const entries = await listTree(gitDir, sha, path);
  const prefix = path === "." ? "" : `${path}/`;
  const inFolder = (entry: TreeEntry) => entry.path.slice(prefix.length);
  if (entries.length > TREE_LIMITS.files) {
    throw new TreeTooLargeError(`the folder ${path} holds ${entries.length} files at this commit, more than ${TREE_LIMITS.files}: point the source at the folder of its pipelines`);
  }
  const bytes = entries.reduce((sum, entry) => sum + entry.size, 0);
  if (bytes > TREE_LIMITS.bytes) {
    throw new TreeTooLargeError(`the folder ${path} holds ${bytes} bytes at this commit, more than ${TREE_LIMITS.bytes}: point the source at the folder of its pipelines`);
  }

  const warnings: string[] = [];
  const regular = new Map<string, TreeEntry>();
  const links: TreeEntry[] = [];
  for (const entry of entries) {
    const relative = inFolder(entry);
    // Git refuses such names when it checks what it fetches; a second check costs nothing.
    if (relative.split("/").some((part) => part === "" || part === "." || part === "..")) warnings.push(`${printable(entry.path)}: a path git should never hold, left out`);
    else if (entry.type === "commit") warnings.push(`${printable(entry.path)} is a submodule: left out`);
    else if (entry.mode === "120000") links.push(entry);
    else if (entry.type === "blob" && !relative.split("/").includes(".git")) regular.set(relative, entry);
  }
  // A link is followed only to a regular file of the folder (a link to a link, or to a folder,
  // could lead out through a path the lexical check cannot see).
  const targets = await readBlobs(gitDir, links.map((link) => link.oid));
  const files = new Map<string, string>();
  const contentOf = new Map<string, string>();
  for (const [relative, entry] of regular) {
    files.set(relative, entry.oid);
    contentOf.set(relative, entry.oid);
  }
  for (const link of links) {
    const relative = inFolder(link);
    const target = targets.get(link.oid)?.toString("utf8") ?? "";
    const resolved = target.startsWith("/") ? undefined : posix.normalize(posix.join(posix.dirname(relative), target));
    const file = resolved !== undefined && !resolved.startsWith("..") ? regular.get(resolved) : undefined;
    if (!file) {
      warnings.push(`${printable(link.path)} is a symlink to "${printable(target.slice(0, 500))}", which is not a file inside the source folder: left out`);
      continue;
    }
    files.set(relative, file.oid);
    contentOf.set(relative, file.oid);
  }

  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const blobs = await readBlobs(gitDir, [...new Set(contentOf.values())]);
  for (const [relative, oid] of contentOf) {
    const target = join(dest, relative);
    mkdirSync(dirname(target), { recursive: true });
    const executable = regular.get(relative)?.mode === "100755";
    writeFileSync(target, blobs.get(oid) ?? Buffer.alloc(0), { mode: executable ? 0o755 : 0o644 });
  }
  makeReadable(dest);
  return { files, warnings };
}

/**
 * Folders 0755 and files 0644 (0755 when executable) all the way down, whatever the server's
 * umask (gantry serve runs with 077): the sandbox user bundles from here. Links are not followed.
 */
export function makeReadable(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    chmodSync(path, 0o755);
    for (const entry of readdirSync(path)) makeReadable(join(path, entry));
  } else if (stat.isFile()) {
    chmodSync(path, stat.mode & 0o100 ? 0o755 : 0o644);
  }
}
