// Packs paths of a run's workspace into a tar (an artifact, a cache) and puts one back. The
// server runs as root and pipeline code writes the workspace, so nothing here follows a link
// out of it: links on the way are followed only while they stay inside, links inside a folder
// are stored as links only when their target stays inside, and unpacking checks the whole
// archive's sha256 before it writes anything, refuses entries that leave the root and replaces
// a link in its way instead of writing through it.
import {
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  type Stats,
} from "node:fs";
import { read as readCallback, write as writeCallback } from "node:fs";
import { open as openFile, rm, type FileHandle } from "node:fs/promises";
import { posix } from "node:path";
import { promisify } from "node:util";
import { workspacePathProblem } from "../domain/task-files.ts";
import { readTar, TAR_END, tarHeader, tarPadding, TarError } from "./tar.ts";
import { describeFileType, pathParts, staysInside, WorkspaceDirs, WorkspacePathError, type OpenDir } from "./workspace-dirs.ts";

export { WorkspacePathError } from "./workspace-dirs.ts";

const read = promisify(readCallback);
const write = promisify(writeCallback);

/** The archive's bytes do not match the sha256 recorded for it, or it is not a readable tar. */
export class CorruptArchiveError extends Error {
  override name = "CorruptArchiveError";
}

export interface PackedPath {
  /** The path as asked for (normalised), and what it is. */
  path: string;
  kind: "file" | "folder";
}

export interface PackResult {
  size: number;
  sha256: string;
  /** The paths packed, in order. */
  packed: PackedPath[];
  /** Paths that did not exist (only with `missing: "skip"`). */
  skipped: string[];
}

export interface PackOptions {
  /** "error" (an artifact): a missing path is a WorkspacePathError("missing"); "skip" (a cache): it is left out. */
  missing: "error" | "skip";
  /**
   * The largest the tar may be, in bytes: packing stops (PackTooLargeError, the temp file
   * removed) as soon as it would pass it, so a huge file or folder never fills the disk first.
   */
  maxBytes?: number;
}

/** A pack would be larger than its `maxBytes`; nothing is left at its file. */
export class PackTooLargeError extends Error {
  override name = "PackTooLargeError";
  constructor(
    readonly limit: number,
    /** The path being packed when the limit was reached. */
    readonly path = "",
  ) {
    super(`the archive would be over its limit of ${limit} bytes${path ? ` (at ${path})` : ""}`);
  }
}

const CHUNK = 1 << 20;
/** Bits a stored mode keeps: never set-id or sticky. */
const MODE_BITS = 0o777;

/** A relative workspace path as stored: no leading "./", no trailing or doubled slashes. Throws WorkspacePathError on a bad one. */
export function normaliseWorkspacePath(path: string): string {
  const problem = workspacePathProblem(path);
  if (problem) throw new WorkspacePathError("outside", `${path} ${problem}`);
  return pathParts(path).join("/");
}

/** Appends bytes to a temp file, counting and hashing them, never past its limit. */
class ArchiveWriter {
  size = 0;
  private readonly hasher = new Bun.CryptoHasher("sha256");
  private constructor(
    private readonly handle: FileHandle,
    private readonly limit: number,
  ) {}

  /** A new file (never an existing one, nor through a link), readable by the server alone. */
  static async create(path: string, limit = Number.POSITIVE_INFINITY): Promise<ArchiveWriter> {
    return new ArchiveWriter(await openFile(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600), limit);
  }

  /** Throws PackTooLargeError when `count` more bytes (and the end of the archive) would pass the limit. */
  reserve(count: number): void {
    if (this.size + count + TAR_END.length > this.limit) throw new PackTooLargeError(this.limit);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    if (this.size + bytes.length > this.limit) throw new PackTooLargeError(this.limit);
    this.hasher.update(bytes);
    let written = 0;
    while (written < bytes.length) written += (await write(this.handle.fd, bytes, written, bytes.length - written)).bytesWritten;
    this.size += bytes.length;
  }

  async finish(): Promise<{ size: number; sha256: string }> {
    await this.write(TAR_END);
    await this.handle.close();
    return { size: this.size, sha256: this.hasher.digest("hex") };
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/**
 * Packs `paths` of the workspace into a new tar at `toFile`: each path a file or a folder,
 * stored under its own path (so it is put back where it was). Throws WorkspacePathError
 * (missing, outside, unsupported) naming the path; nothing is left at `toFile` then.
 */
export async function packWorkspacePaths(workspace: string, paths: string[], toFile: string, options: PackOptions): Promise<PackResult> {
  const dirs = new WorkspaceDirs(workspace);
  let writer: ArchiveWriter;
  try {
    writer = await ArchiveWriter.create(toFile, options.maxBytes);
  } catch (error) {
    dirs.close();
    throw error;
  }
  /** What is being packed, for a PackTooLargeError. */
  let current = "";
  const packed: PackedPath[] = [];
  const skipped: string[] = [];
  const written = new Set<string>();

  /** Writes the folders above a path (so it unpacks with them), once each. */
  const writeParents = async (path: string, mtime: Date) => {
    const parts = pathParts(path);
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (written.has(parent)) continue;
      written.add(parent);
      await writer.write(tarHeader({ path: parent, type: "directory", size: 0, mode: 0o755, mtime }));
    }
  };

  const packFile = async (parent: OpenDir, name: string, entryPath: string, expected: Stats) => {
    current = entryPath;
    // Never through a link, never waiting on a named pipe swapped in since the lstat, never a
    // hard link to someone else's file: a regular file, checked on the open descriptor.
    const opened = dirs.openFile(parent, name, entryPath);
    if (!opened) throw new WorkspacePathError("missing", `${entryPath} disappeared while it was read`);
    const { fd, stats } = opened;
    try {
      if (stats.ino !== expected.ino || stats.dev !== expected.dev) throw new WorkspacePathError("unsupported", `${entryPath} changed while it was read`);
      const header = tarHeader({ path: entryPath, type: "file", size: stats.size, mode: stats.mode & MODE_BITS, mtime: stats.mtime });
      // Over the limit before a byte of it is read: refused at once.
      writer.reserve(header.length + stats.size + tarPadding(stats.size).length);
      await writer.write(header);
      // Exactly the size in the header: a file that shrinks meanwhile is an error, one that grows is cut there.
      let remaining = stats.size;
      const buffer = new Uint8Array(Math.min(CHUNK, Math.max(remaining, 1)));
      let position = 0;
      while (remaining > 0) {
        const { bytesRead } = await read(fd, buffer, 0, Math.min(buffer.length, remaining), position);
        if (bytesRead === 0) throw new WorkspacePathError("unsupported", `${entryPath} shrank while it was read`);
        await writer.write(buffer.subarray(0, bytesRead));
        remaining -= bytesRead;
        position += bytesRead;
      }
      await writer.write(tarPadding(stats.size));
    } finally {
      closeSync(fd);
    }
  };

  /** A link inside a packed folder: kept as a link, relative, only when it leads to a place inside the workspace. */
  const packLink = async (parent: OpenDir, name: string, entryPath: string, stats: Stats) => {
    const target = readlinkSync(dirs.at(parent, name));
    const resolved = dirs.linkTargetRel(parent.rel, target);
    if (resolved === undefined) throw new WorkspacePathError("outside", `${entryPath} is a symlink leading outside the workspace (to ${target})`);
    // Where it leads must not leave the workspace through another link either.
    dirs.release(dirs.locate(resolved).parent);
    // Stored relative to where the entry is put back, so it means the same place there.
    const linkTarget = posix.relative(posix.dirname(entryPath), resolved) || ".";
    await writer.write(tarHeader({ path: entryPath, type: "symlink", size: 0, mode: 0o777, mtime: stats.mtime, linkTarget }));
  };

  const packFolder = async (folder: OpenDir, entryPath: string, stats: Stats) => {
    current = entryPath;
    if (!written.has(entryPath)) {
      written.add(entryPath);
      await writer.write(tarHeader({ path: entryPath, type: "directory", size: 0, mode: stats.mode & MODE_BITS, mtime: stats.mtime }));
    }
    for (const name of readdirSync(`/proc/self/fd/${folder.fd}`).sort()) {
      const childPath = `${entryPath}/${name}`;
      const child = lstatSync(dirs.at(folder, name), { throwIfNoEntry: false });
      if (!child) continue;
      if (child.isSymbolicLink()) await packLink(folder, name, childPath, child);
      else if (child.isDirectory()) {
        const opened = dirs.openChild(folder, name);
        if (!opened) continue;
        try {
          await packFolder(opened, childPath, child);
        } finally {
          dirs.release(opened);
        }
      } else if (child.isFile()) await packFile(folder, name, childPath, child);
      else throw new WorkspacePathError("unsupported", `${childPath} is ${describeFileType(child)}; only files, folders and symlinks are stored`);
    }
  };

  try {
    for (const asked of paths) {
      const path = normaliseWorkspacePath(asked);
      const found = dirs.locate(path);
      try {
        if (!found.stats) {
          if (options.missing === "skip") {
            skipped.push(path);
            continue;
          }
          throw new WorkspacePathError("missing", `${path} does not exist in the workspace`);
        }
        await writeParents(path, found.stats.mtime);
        if (found.stats.isDirectory()) {
          const folder = found.rel === "" ? dirs.root : dirs.openChild(found.parent, found.name);
          if (!folder) throw new WorkspacePathError("missing", `${path} disappeared while it was read`);
          try {
            await packFolder(folder, path === "" ? "." : path, found.stats);
          } finally {
            dirs.release(folder);
          }
          packed.push({ path, kind: "folder" });
        } else if (found.stats.isFile()) {
          await packFile(found.parent, found.name, path, found.stats);
          packed.push({ path, kind: "file" });
        } else {
          throw new WorkspacePathError("unsupported", `${path} is ${describeFileType(found.stats)}; only files and folders are stored`);
        }
      } finally {
        dirs.release(found.parent);
      }
    }
    const result = await writer.finish();
    return { ...result, packed, skipped };
  } catch (error) {
    await writer.abandon();
    await rm(toFile, { force: true });
    // Named with the path it was packing when it reached the limit.
    if (error instanceof PackTooLargeError && !error.path) throw new PackTooLargeError(error.limit, current);
    throw error;
  } finally {
    dirs.close();
  }
}

/** The sha256 (hex) and size of a file, read as a stream. */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  for await (const chunk of Bun.file(path).stream()) {
    hasher.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hasher.digest("hex") };
}

export interface UnpackOptions {
  /**
   * The sha256 the whole file must have, checked before anything is written (CorruptArchiveError
   * otherwise). Leave it out only for a file already checked while it was copied to a private
   * place (fetchVerified, copyToFile): reading it again would only hash it twice.
   */
  sha256?: string;
  /** Entries must lie at or under one of these workspace paths (the artifact's own); anywhere in the workspace when absent. */
  within?: string[];
  /** Who owns what is written; the workspace folder's owner when absent (so the next task, sandboxed or not, can change it). */
  owner?: { uid: number; gid: number };
}

export interface UnpackResult {
  files: number;
  folders: number;
  symlinks: number;
}

/** An entry's path checked: relative, no "..", inside `within`. Throws CorruptArchiveError otherwise. */
function entryPathOf(raw: string, within: string[] | undefined): string {
  if (raw.includes("\0") || raw.startsWith("/")) throw new CorruptArchiveError(`the archive holds an entry outside the workspace: ${JSON.stringify(raw)}`);
  const parts = pathParts(raw);
  if (parts.some((part) => part === "..")) throw new CorruptArchiveError(`the archive holds an entry leaving the workspace: ${JSON.stringify(raw)}`);
  const path = parts.join("/");
  if (within && !within.some((root) => root === "" || path === root || path.startsWith(`${root}/`) || root.startsWith(`${path}/`))) {
    throw new CorruptArchiveError(`the archive holds ${JSON.stringify(raw)}, outside ${within.join(", ")}`);
  }
  return path;
}

/**
 * Puts an archive made by packWorkspacePaths back into the workspace, its sha256 checked
 * first when `options.sha256` is given (see UnpackOptions). Folders on the way
 * are made (or replace a file or link in their place), files and links replace what is at
 * their path (a link is replaced, never written through), and links must stay inside.
 */
export async function unpackArchive(file: string, workspace: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  if (options.sha256 !== undefined) {
    const actual = await hashFile(file);
    if (actual.sha256 !== options.sha256) throw new CorruptArchiveError(`its sha256 is ${actual.sha256}, not the ${options.sha256} recorded when it was stored`);
  }
  const within = options.within?.map((path) => pathParts(path).join("/"));
  const dirs = new WorkspaceDirs(workspace);
  const rootStats = fstatSync(dirs.root.fd);
  const owner = options.owner ?? { uid: rootStats.uid, gid: rootStats.gid };
  // Only root may give files away; anyone else leaves them its own.
  const chown = process.getuid?.() === 0;
  // A workspace shared with a group (the sandbox user's, which containers join) shares what is put in it too.
  const groupShared = (rootStats.mode & 0o070) === 0o070;
  const counts: UnpackResult = { files: 0, folders: 0, symlinks: 0 };

  const own = (fd: number) => {
    if (chown) fchownSync(fd, owner.uid, owner.gid);
  };

  /** Removes whatever is at `name` in `dir` that is not a folder (a file, a link): never what a link points to. */
  const clear = (dir: OpenDir, name: string, entryPath: string) => {
    try {
      unlinkSync(dirs.at(dir, name));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code === "EISDIR" || code === "EPERM") throw new WorkspacePathError("unsupported", `${entryPath}: a folder is in the way`);
      throw error;
    }
  };

  // The folders of the last entry's path, held open: entries come folder by folder, so the
  // next one mostly shares them, and only one path's worth of folders is ever open.
  const chain: OpenDir[] = [];
  const chainNames: string[] = [];

  /** The folder at `parts`, made where missing; a file or link in the way is replaced. */
  const folderAt = (parts: string[], mode = 0o755): OpenDir => {
    let common = 0;
    while (common < chain.length && common < parts.length && chainNames[common] === parts[common]) common++;
    for (const dir of chain.splice(common)) dirs.release(dir);
    chainNames.length = common;
    let current = common === 0 ? dirs.root : chain[common - 1]!;
    for (const name of parts.slice(common)) {
      const rel = current.rel ? `${current.rel}/${name}` : name;
      let next: OpenDir | undefined;
      try {
        next = dirs.openChild(current, name);
      } catch (error) {
        if (!(error instanceof WorkspacePathError)) throw error;
        clear(current, name, rel);
        next = undefined;
      }
      if (!next) {
        try {
          mkdirSync(dirs.at(current, name), { mode: mode | (groupShared ? 0o2070 : 0) });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        }
        next = dirs.openChild(current, name);
        if (!next) throw new WorkspacePathError("missing", `${rel} could not be made`);
        own(next.fd);
        if (groupShared) fchmodSync(next.fd, (fstatSync(next.fd).mode & 0o7777) | 0o2070);
      }
      chain.push(next);
      chainNames.push(name);
      current = next;
    }
    return current;
  };

  try {
    // The archive is the server's own temp file, in a folder no task reaches.
    for await (const entry of readTar(Bun.file(file).stream(), { symlinks: true })) {
      const path = entryPathOf(entry.path, within);
      const parts = pathParts(path);
      if (entry.type === "directory") {
        folderAt(parts, entry.mode & MODE_BITS);
        counts.folders++;
        continue;
      }
      if (parts.length === 0) throw new CorruptArchiveError(`the archive holds a ${entry.type} at the workspace's own place`);
      const name = parts.at(-1)!;
      const parent = folderAt(parts.slice(0, -1));
      if (entry.type === "symlink") {
        const target = entry.linkTarget ?? "";
        const resolved = posix.isAbsolute(target) ? undefined : posix.normalize(posix.join(posix.dirname(path), target));
        if (resolved === undefined || !staysInside(resolved)) throw new CorruptArchiveError(`the archive holds a symlink ${path} leading outside the workspace (to ${target})`);
        clear(parent, name, path);
        // Its owner is left as it is: a link's owner grants nothing, and a chown by path here
        // could meet something else swapped in since.
        symlinkSync(target, dirs.at(parent, name));
        counts.symlinks++;
        continue;
      }
      // A fresh file: whatever was there (a link, a hard link to a file elsewhere) is removed, not written into.
      clear(parent, name, path);
      const mode = (entry.mode & MODE_BITS) | (groupShared ? 0o060 : 0);
      const fd = openSync(dirs.at(parent, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of entry.read()) {
          let written = 0;
          while (written < chunk.length) written += (await write(fd, chunk, written, chunk.length - written)).bytesWritten;
        }
        own(fd);
        fchmodSync(fd, mode);
        futimesSync(fd, entry.mtime, entry.mtime);
      } finally {
        closeSync(fd);
      }
      counts.files++;
    }
  } catch (error) {
    if (error instanceof TarError) throw new CorruptArchiveError(`it is not a readable archive: ${error.message}`);
    throw error;
  } finally {
    dirs.close();
  }
  return counts;
}
