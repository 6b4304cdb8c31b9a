// Files a store keeps under its root (objects, and what a backup reads from the data dir),
// opened so that a symlink planted there — by a task, a container's mount or a mistake —
// is never followed out of the root: the file itself is opened O_NOFOLLOW, its folders checked.
// Files are opened O_NONBLOCK, so a named pipe planted where a file is read (a SARIF report, a
// Dockerfile) is refused at once instead of hanging the read forever.
import { lstatSync, mkdirSync, statSync, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { describeFileType, FILE_READ_FLAGS, hardLinkProblem } from "./workspace-dirs.ts";

/** A path under a store's root leads elsewhere (a symlink), or is not a regular file or folder. */
export class OutsideRootError extends Error {
  override name = "OutsideRootError";
}

/** The path relative to the root, refusing one that does not lie under it at all. */
function inside(root: string, path: string): string {
  const rel = relative(root, path);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || rel.startsWith(sep)) {
    throw new OutsideRootError(`${path} is not under ${root}`);
  }
  return rel;
}

/**
 * Throws OutsideRootError when a folder or file on the way from the root to `path` is a
 * symlink (dangling ones included). The root itself may be one (a data dir kept on another
 * disk). Parts that do not exist yet pass: nothing there to follow.
 */
export function assertContained(root: string, path: string): void {
  let current = root;
  for (const part of inside(root, path).split(sep)) {
    current = join(current, part);
    const stats = lstatSync(current, { throwIfNoEntry: false });
    if (!stats) return;
    if (stats.isSymbolicLink()) throw new OutsideRootError(`${current} is a symlink; refusing to follow it out of ${root}`);
  }
}

/** Creates `folder` (and its parents) under the root, refusing to create or use anything through a symlink. */
export function makeContainedFolder(root: string, folder: string, mode = 0o700): void {
  // Before: mkdir -p would itself follow a symlinked parent and create folders out there.
  assertContained(root, folder);
  mkdirSync(folder, { recursive: true, mode });
  assertContained(root, folder);
  if (!statSync(folder).isDirectory()) throw new OutsideRootError(`${folder} is not a folder`);
}

export interface ContainedFile {
  handle: FileHandle;
  /** The file's size when it was opened. */
  size: number;
  stats: Stats;
}

/**
 * Opens a regular file under the root for reading, or undefined when it does not exist.
 * Throws OutsideRootError when the file is a symlink or not a regular file (a named pipe, a
 * socket, a device: opened without blocking, so never waited on), when it is a hard link to a
 * file owned by someone other than the root's owner, or when a folder on its way is a symlink;
 * checked on the open descriptor, so swapping links in does not help.
 */
export async function openContained(root: string, path: string): Promise<ContainedFile | undefined> {
  inside(root, path);
  let handle: FileHandle;
  try {
    handle = await open(path, FILE_READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw new OutsideRootError(`${path} is a symlink; refusing to follow it`);
    // A socket (or a device with no driver) cannot be opened at all.
    if (code === "ENXIO" || code === "ENODEV") throw new OutsideRootError(`${path} is not a regular file`);
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new OutsideRootError(`${path} is not a regular file (it is ${describeFileType(stats)})`);
    if (stats.nlink > 1) {
      const linked = hardLinkProblem(stats, statSync(root).uid, `the owner of ${root}`);
      if (linked) throw new OutsideRootError(`${path} ${linked}`);
    }
    assertContained(root, path);
    // The folders were checked after the open: the file opened must be the one found there
    // now, or a folder was a symlink at open time and swapped back since.
    const there = statSync(path, { throwIfNoEntry: false });
    if (!there || there.ino !== stats.ino || there.dev !== stats.dev) {
      throw new OutsideRootError(`${path} changed while it was opened (a symlink swapped in?); refusing to read it`);
    }
    return { handle, size: stats.size, stats };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
