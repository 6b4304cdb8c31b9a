// Walks a run's workspace the way a root server must: the workspace is written by pipeline
// code, so every folder is opened without following a link and every later step happens
// inside that open folder (through /proc/self/fd/<fd>/<name>, Linux's openat), so a symlink
// swapped in halfway can never send a read or a write out of the workspace.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, realpathSync, type Stats } from "node:fs";
import { isAbsolute, posix, relative, sep } from "node:path";

export type WorkspacePathErrorCode = "missing" | "outside" | "unsupported";

/** A path in the workspace does not exist, leads outside it (a symlink), or is not a file, folder or symlink. */
export class WorkspacePathError extends Error {
  override name = "WorkspacePathError";
  constructor(
    readonly code: WorkspacePathErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A folder of the workspace held open; `rel` is where it is ("" for the workspace itself). */
export interface OpenDir {
  fd: number;
  rel: string;
}

/** Where a path of the workspace ended up: its folder (open), its name there and what is there now. */
export interface Located {
  parent: OpenDir;
  name: string;
  /** The real place, with symlinks on the way resolved ("" for the workspace itself). */
  rel: string;
  /** lstat of the entry; undefined when nothing is there. */
  stats: Stats | undefined;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/**
 * How a file of the workspace is opened for reading: never through a link, and never waiting —
 * a named pipe put where a file was expected opens at once (and is refused once fstat shows
 * what it is) instead of blocking until someone writes to it; a terminal never becomes ours.
 */
export const FILE_READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
/** As the kernel allows: more hops than this is a loop. */
const MAX_LINK_HOPS = 40;

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** Splits a relative path into its parts, dropping "." and empty ones ("a//b/./c" → a, b, c). */
export function pathParts(path: string): string[] {
  return path.split("/").filter((part) => part !== "" && part !== ".");
}

/** What a non-regular file is, for messages. */
export const describeFileType = (stats: Stats) =>
  stats.isSocket() ? "a socket" : stats.isFIFO() ? "a named pipe" : stats.isBlockDevice() || stats.isCharacterDevice() ? "a device" : stats.isDirectory() ? "a folder" : "not a regular file";

/**
 * Why a regular file opened under a root owned by `ownerUid` must not be read, or undefined.
 * A file with more than one name may be a hard link to a file elsewhere on the disk (a
 * root-only one, on a host without fs.protected_hardlinks): one owned by anyone but the
 * root's owner is refused. Hard links among the owner's own files (a package store) are fine.
 */
export function hardLinkProblem(stats: Stats, ownerUid: number, whose = "the workspace's owner"): string | undefined {
  if (stats.nlink <= 1 || stats.uid === ownerUid) return undefined;
  return `is a hard link (${stats.nlink} names) to a file owned by uid ${stats.uid}, not by ${whose} (uid ${ownerUid}); refusing to read it`;
}

/** Whether a path, made lexically relative to the workspace, stays inside it. */
export const staysInside = (rel: string) => rel !== ".." && !rel.startsWith("../") && !posix.isAbsolute(rel);

/**
 * The workspace opened once; folders inside it are opened one part at a time, never through
 * a link, and closed by whoever opened them (release) or at the end (close), so a walk holds
 * only the folders on its current path open. The workspace folder itself may be a link (a
 * data dir on another disk): the server made it.
 */
export class WorkspaceDirs {
  readonly root: OpenDir;
  /** Who owns the workspace folder: a file with several names (hard links) must be theirs to be read. */
  readonly ownerUid: number;
  /** The workspace as given, and its real path: absolute links pointing at either are inside. */
  private readonly bases: string[];
  private readonly opened = new Set<number>();

  constructor(readonly workspace: string) {
    let fd: number;
    try {
      fd = openSync(workspace, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (error) {
      throw new WorkspacePathError("missing", `the workspace ${workspace} cannot be opened (${errno(error) ?? (error as Error).message})`);
    }
    this.opened.add(fd);
    this.root = { fd, rel: "" };
    this.ownerUid = fstatSync(fd).uid;
    this.bases = [...new Set([workspace.replace(/\/+$/, ""), realpathSync(workspace)])];
  }

  /** A path naming `name` inside the open folder `dir` itself, whatever happens to the path above it. */
  at(dir: OpenDir, name: string): string {
    return `/proc/self/fd/${dir.fd}/${name}`;
  }

  /** Opens the folder `name` in `dir` without following a link; undefined when it is missing. Throws WorkspacePathError when something else is there. */
  openChild(dir: OpenDir, name: string): OpenDir | undefined {
    const rel = dir.rel ? `${dir.rel}/${name}` : name;
    let fd: number;
    try {
      fd = openSync(this.at(dir, name), DIR_FLAGS);
    } catch (error) {
      const code = errno(error);
      if (code === "ENOENT") return undefined;
      if (code === "ELOOP" || code === "ENOTDIR") {
        const stats = lstatSync(this.at(dir, name), { throwIfNoEntry: false });
        if (stats?.isSymbolicLink()) throw new WorkspacePathError("outside", `${rel} is a symlink; refusing to follow it`);
        throw new WorkspacePathError("unsupported", `${rel} is not a folder`);
      }
      throw error;
    }
    this.opened.add(fd);
    return { fd, rel };
  }

  /**
   * Opens the regular file `name` in `dir` for reading: never through a link (WorkspacePathError
   * "outside"), never blocking on a named pipe, and only a regular file ("unsupported" for a
   * pipe, socket or device, checked on the open descriptor) that is not a hard link to someone
   * else's file ("outside"). Undefined when nothing is there. The caller closes the fd.
   * Messages name the file as `shown` (where it is in the workspace by default).
   */
  openFile(dir: OpenDir, name: string, shown?: string): { fd: number; stats: Stats } | undefined {
    const rel = shown ?? (dir.rel ? `${dir.rel}/${name}` : name);
    let fd: number;
    try {
      fd = openSync(this.at(dir, name), FILE_READ_FLAGS);
    } catch (error) {
      const code = errno(error);
      if (code === "ENOENT") return undefined;
      if (code === "ELOOP") throw new WorkspacePathError("outside", `${rel} is a symlink; refusing to follow it`);
      // A socket (or a device with no driver) cannot be opened at all.
      if (code === "ENXIO" || code === "ENODEV") throw new WorkspacePathError("unsupported", `${rel} is not a regular file`);
      throw error;
    }
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile()) throw new WorkspacePathError("unsupported", `${rel} is not a regular file (it is ${describeFileType(stats)})`);
      const linked = hardLinkProblem(stats, this.ownerUid);
      if (linked) throw new WorkspacePathError("outside", `${rel} ${linked}`);
      return { fd, stats };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Closes a folder opened here (never the workspace's own). */
  release(dir: OpenDir): void {
    if (dir.fd === this.root.fd || !this.opened.delete(dir.fd)) return;
    closeSync(dir.fd);
  }

  /**
   * A symlink's target as a path relative to the workspace, or undefined when it leads
   * outside it. Relative targets are taken from the link's folder (`fromRel`), absolute ones
   * count as inside only when they point into the workspace's own path.
   */
  linkTargetRel(fromRel: string, target: string): string | undefined {
    if (isAbsolute(target)) {
      for (const base of this.bases) {
        const rel = relative(base, target).split(sep).join("/");
        if (rel === "") return "";
        if (staysInside(rel)) return rel;
      }
      return undefined;
    }
    const joined = posix.normalize(posix.join(fromRel || ".", target));
    const rel = joined === "." ? "" : joined.replace(/\/+$/, "");
    return staysInside(rel) ? rel : undefined;
  }

  /**
   * Finds a path of the workspace. Symlinks on the way (the path itself included when
   * `followLast`) are followed only while they lead to another place inside the workspace;
   * one leading out is a WorkspacePathError("outside") naming it. A missing part is not an
   * error: `stats` is undefined (for a missing folder on the way too, with `parent` the last
   * folder found). The folder returned is open: release it when done. A path with a ".."
   * part is a WorkspacePathError("outside"): paths here are workspace paths, never climbing.
   */
  locate(path: string, options: { followLast: boolean } = { followLast: true }): Located {
    let parts = pathParts(path);
    if (parts.includes("..")) throw new WorkspacePathError("outside", `${path} has a .. part; workspace paths never climb out of a folder`);
    let hops = 0;
    let current = this.root;
    let index = 0;
    const restart = (next: string[]) => {
      this.release(current);
      parts = next;
      current = this.root;
      index = 0;
    };
    if (parts.length === 0) return { parent: this.root, name: ".", rel: "", stats: lstatSync(this.workspace) };
    for (;;) {
      const name = parts[index]!;
      const last = index === parts.length - 1;
      const here = current.rel ? `${current.rel}/${name}` : name;
      const stats = lstatSync(this.at(current, name), { throwIfNoEntry: false });
      if (!stats) return { parent: current, name, rel: [here, ...parts.slice(index + 1)].join("/"), stats: undefined };
      if (stats.isSymbolicLink() && (!last || options.followLast)) {
        if (++hops > MAX_LINK_HOPS) {
          this.release(current);
          throw new WorkspacePathError("outside", `${here} is a symlink loop`);
        }
        const target = readlinkSync(this.at(current, name));
        const resolved = this.linkTargetRel(current.rel, target);
        if (resolved === undefined) {
          this.release(current);
          throw new WorkspacePathError("outside", `${here} is a symlink leading outside the workspace (to ${target})`);
        }
        restart([...pathParts(resolved), ...parts.slice(index + 1)]);
        if (parts.length === 0) return { parent: this.root, name: ".", rel: "", stats: lstatSync(this.workspace) };
        continue;
      }
      if (last) return { parent: current, name, rel: here, stats };
      if (!stats.isDirectory()) {
        this.release(current);
        throw new WorkspacePathError("unsupported", `${here} is not a folder`);
      }
      let child: OpenDir | undefined;
      try {
        child = this.openChild(current, name);
      } catch (error) {
        // Swapped for a link since the lstat: look again (and follow it if it stays inside).
        if (error instanceof WorkspacePathError && error.code === "outside") continue;
        this.release(current);
        throw error;
      }
      if (!child) return { parent: current, name, rel: [here, ...parts.slice(index + 1)].join("/"), stats: undefined };
      this.release(current);
      current = child;
      index++;
    }
  }

  /** Closes every folder still open, the workspace's own included. */
  close(): void {
    for (const fd of this.opened) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.opened.clear();
  }
}
