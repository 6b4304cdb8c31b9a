// The build context of an image build: a folder of the run's workspace, sent to the engine
// as a tar. The workspace is written by pipeline code and the server runs as root, so
// nothing is followed out of it: the context is walked with open folders (WorkspaceDirs, as
// artifacts and caches are packed), each folder opened without following a link and each
// name looked up inside the folder already open, so a folder swapped for a symlink halfway
// is refused instead of listed through. Symlinks inside are sent as symlinks (the engine
// resolves them within the context), files are opened inside their open folder with
// WorkspaceDirs.openFile (O_NOFOLLOW|O_NONBLOCK) and sent only when they are regular files
// (and not hard links to someone else's file). `.dockerignore` is applied as the docker CLI does.
import { closeSync, read as readCallback, type Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { TAR_END, tarHeader, tarPadding } from "../../stores/tar.ts";
import { pathParts, WorkspaceDirs, WorkspacePathError, type OpenDir } from "../../stores/workspace-dirs.ts";
import { workspacePathProblem } from "../../domain/task-files.ts";

interface ContextEntry {
  /** Path in the context, "/"-separated. */
  path: string;
  type: "file" | "directory" | "symlink";
  size: number;
  mode: number;
  mtime: Date;
  linkTarget?: string;
  /** A file's inode when listed: the one sent must be the same file. */
  ino?: number;
}

export interface BuildContext {
  files: number;
  bytes: number;
  /** The Dockerfile's path inside the context. */
  dockerfile: string;
  /** A new stream of the context as a tar (each request reads its own). */
  stream(): Readable;
  /** Why the last stream broke off (a file changed or was swapped for a symlink while it was sent). */
  problem(): string | undefined;
}

/** Why the context cannot be sent: a sentence for the task's reason. */
export class BuildContextError extends Error {
  override name = "BuildContextError";
}

const CHUNK = 1 << 20;
const read = promisify(readCallback);

/** A failure while the context is read or sent, as a sentence. */
function describe(error: unknown): string {
  if (error instanceof WorkspacePathError && error.code === "outside") return `the build context leads out of the workspace: ${error.message}`;
  return (error as Error).message;
}

/**
 * The context folder, opened one part at a time from the workspace and never through a
 * link. Throws BuildContextError with a reason for people.
 */
function openContext(dirs: WorkspaceDirs, context: string): OpenDir {
  let current = dirs.root;
  for (const part of pathParts(context)) {
    let next: OpenDir | undefined;
    try {
      next = dirs.openChild(current, part);
    } catch (error) {
      if (!(error instanceof WorkspacePathError)) throw error;
      if (error.code === "outside") throw new BuildContextError(`build context "${context}" leads out of the workspace: ${error.message}`);
      throw new BuildContextError(`build context "${context}" is not a folder (${error.message})`);
    } finally {
      dirs.release(current);
    }
    if (!next) throw new BuildContextError(`build context "${context}" does not exist in the workspace (an earlier task writes it there?)`);
    current = next;
  }
  return current;
}

/** Opens the folders of `parts` below `from` one at a time (never through a link); undefined when one is missing. The caller releases the folder returned. */
function openFolders(dirs: WorkspaceDirs, from: OpenDir, parts: string[]): OpenDir | undefined {
  let current = from;
  for (const part of parts) {
    let next: OpenDir | undefined;
    try {
      next = dirs.openChild(current, part);
    } finally {
      if (current !== from) dirs.release(current);
    }
    if (!next) return undefined;
    current = next;
  }
  return current;
}

/** The text of the regular file at `path` in the context (its first `limit` bytes), or undefined when there is none. */
async function readText(dirs: WorkspaceDirs, root: OpenDir, path: string, shown: string, limit = Number.POSITIVE_INFINITY): Promise<string | undefined> {
  const parts = pathParts(path);
  const name = parts.pop();
  if (name === undefined) return undefined;
  const folder = openFolders(dirs, root, parts);
  if (!folder) return undefined;
  try {
    // A regular file, opened inside its folder: never through a link, never waiting on a pipe.
    const file = dirs.openFile(folder, name, shown);
    if (!file) return undefined;
    try {
      const bytes = new Uint8Array(Math.min(file.stats.size, limit));
      let at = 0;
      while (at < bytes.length) {
        const { bytesRead } = await read(file.fd, bytes, at, bytes.length - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return new TextDecoder().decode(bytes.subarray(0, at));
    } finally {
      closeSync(file.fd);
    }
  } finally {
    if (folder !== root) dirs.release(folder);
  }
}

/**
 * Lists the context folder `context` (relative to the workspace) and checks its Dockerfile.
 * Throws BuildContextError with a reason for people.
 */
export async function prepareBuildContext(workspace: string, context: string, dockerfile = "Dockerfile"): Promise<BuildContext> {
  const contextProblem = workspacePathProblem(context);
  if (contextProblem) throw new BuildContextError(`build context "${context}" ${contextProblem}`);
  const fileProblem = workspacePathProblem(dockerfile);
  if (fileProblem) throw new BuildContextError(`dockerfile "${dockerfile}" ${fileProblem}`);
  const dockerfilePath = posix.normalize(dockerfile);
  const shown = (path: string) => (pathParts(context).length === 0 ? path : posix.join(context, path));
  let dirs: WorkspaceDirs;
  try {
    dirs = new WorkspaceDirs(workspace);
  } catch (error) {
    throw new BuildContextError(`the build context could not be read: ${(error as Error).message}`);
  }
  try {
    const root = openContext(dirs, context);
    // Only that it is there, a regular file: the engine reads it.
    if ((await readText(dirs, root, dockerfilePath, shown(dockerfilePath), 0)) === undefined) {
      throw new BuildContextError(`there is no ${shown(dockerfilePath)} in the workspace (dockerfile is a path inside the context)`);
    }
    const ignore = dockerignoreMatcher((await readText(dirs, root, ".dockerignore", shown(".dockerignore"))) ?? "");
    // The CLI always sends these two, ignored or not: the engine needs them.
    const always = new Set([dockerfilePath, ".dockerignore"]);
    const entries = await listContext(
      dirs,
      root,
      (path) => !always.has(path) && ignore.excludes(path),
      // An excluded folder is still walked when a "!" pattern or the Dockerfile may be in it.
      (folder) => ignore.hasExceptions || dockerfilePath.startsWith(`${folder}/`),
    );
    let problem: string | undefined;
    return {
      files: entries.filter((entry) => entry.type === "file").length,
      bytes: entries.reduce((total, entry) => total + entry.size, 0),
      dockerfile: dockerfilePath,
      stream() {
        problem = undefined;
        return Readable.from(
          tarStream(workspace, context, entries, (message) => {
            problem = message;
          }),
          { objectMode: false },
        );
      },
      problem: () => problem,
    };
  } catch (error) {
    if (error instanceof BuildContextError) throw error;
    if (error instanceof WorkspacePathError && error.code === "outside") throw new BuildContextError(describe(error));
    throw new BuildContextError(`the build context could not be read: ${(error as Error).message}`);
  } finally {
    dirs.close();
  }
}

/**
 * The context's entries, parents before children, sorted; what `.dockerignore` excludes left
 * out. Each folder is listed through its open descriptor and each name looked at inside it.
 * Asynchronous: a context may hold a node_modules, and the server goes on serving meanwhile.
 */
async function listContext(
  dirs: WorkspaceDirs,
  root: OpenDir,
  excluded: (path: string) => boolean,
  walkExcluded: (folder: string) => boolean,
): Promise<ContextEntry[]> {
  const entries: ContextEntry[] = [];
  const entryOf = (path: string, type: ContextEntry["type"], stats: Stats, linkTarget?: string): ContextEntry => ({
    path,
    type,
    size: type === "file" ? stats.size : 0,
    mode: stats.mode & 0o7777,
    mtime: stats.mtime,
    ...(type === "file" && { ino: stats.ino }),
    ...(linkTarget !== undefined && { linkTarget }),
  });
  const walk = async (folder: OpenDir, relative: string) => {
    const names = (await readdir(`/proc/self/fd/${folder.fd}`)).sort();
    for (const name of names) {
      const path = relative ? `${relative}/${name}` : name;
      const stats = await lstat(dirs.at(folder, name)).catch(() => undefined);
      if (!stats) continue;
      if (stats.isDirectory()) {
        const skip = excluded(path);
        // An excluded folder is left out whole, unless something in it may be taken back.
        if (skip && !walkExcluded(path)) continue;
        // Opened without following a link: one swapped in since the lstat is refused.
        const child = dirs.openChild(folder, name);
        if (!child) continue;
        try {
          if (!skip) entries.push(entryOf(path, "directory", stats));
          await walk(child, path);
        } finally {
          dirs.release(child);
        }
      } else if (excluded(path)) {
        continue;
      } else if (stats.isFile()) {
        entries.push(entryOf(path, "file", stats));
      } else if (stats.isSymbolicLink()) {
        // Sent as a link: it is never followed here, and read inside the open folder.
        entries.push(entryOf(path, "symlink", stats, await readlink(dirs.at(folder, name), "utf8")));
      }
      // Sockets, pipes and devices are not part of a build context.
    }
  };
  await walk(root, "");
  return entries;
}

/**
 * The tar of the entries. The context's folders are opened again, one at a time and never
 * through a link, and each file is opened inside its open folder and read to the size listed:
 * it must still be the regular file listed.
 */
async function* tarStream(workspace: string, context: string, entries: ContextEntry[], broke: (message: string) => void): AsyncGenerator<Uint8Array> {
  let dirs: WorkspaceDirs | undefined;
  try {
    dirs = new WorkspaceDirs(workspace);
    const root = openContext(dirs, context);
    // The folders of the last file's path, held open: entries come folder by folder.
    const chain: OpenDir[] = [];
    const chainNames: string[] = [];
    const folderAt = (parts: string[], path: string): OpenDir => {
      let common = 0;
      while (common < chain.length && common < parts.length && chainNames[common] === parts[common]) common++;
      for (const dir of chain.splice(common)) dirs!.release(dir);
      chainNames.length = common;
      let current = common === 0 ? root : chain[common - 1]!;
      for (const name of parts.slice(common)) {
        const next = dirs!.openChild(current, name);
        if (!next) throw new BuildContextError(`${path} disappeared while the build context was sent`);
        chain.push(next);
        chainNames.push(name);
        current = next;
      }
      return current;
    };
    for (const entry of entries) {
      if (entry.type !== "file") {
        yield tarHeader({ path: entry.path, type: entry.type, size: 0, mode: entry.mode, mtime: entry.mtime, ...(entry.linkTarget !== undefined && { linkTarget: entry.linkTarget }) });
        continue;
      }
      const parts = pathParts(entry.path);
      const name = parts.pop()!;
      // Never through a link, never waiting on a pipe swapped in since it was listed: the regular file listed.
      const file = dirs.openFile(folderAt(parts, entry.path), name, entry.path);
      if (!file) throw new BuildContextError(`${entry.path} disappeared while the build context was sent`);
      try {
        if (file.stats.size !== entry.size || file.stats.ino !== entry.ino) throw new BuildContextError(`${entry.path} changed while the build context was sent`);
        yield tarHeader({ path: entry.path, type: "file", size: entry.size, mode: entry.mode, mtime: entry.mtime });
        let left = entry.size;
        let position = 0;
        while (left > 0) {
          const buffer = new Uint8Array(Math.min(CHUNK, left));
          const { bytesRead } = await read(file.fd, buffer, 0, buffer.length, position);
          if (bytesRead === 0) throw new BuildContextError(`${entry.path} changed while the build context was sent`);
          left -= bytesRead;
          position += bytesRead;
          yield buffer.subarray(0, bytesRead);
        }
        yield tarPadding(entry.size);
      } finally {
        closeSync(file.fd);
      }
    }
    yield TAR_END;
  } catch (error) {
    broke(describe(error));
    throw error;
  } finally {
    dirs?.close();
  }
}

export interface DockerignoreMatcher {
  excludes(path: string): boolean;
  /** It has "!" patterns: an excluded folder may hold something taken back in. */
  hasExceptions: boolean;
}

interface IgnorePattern {
  regex: RegExp;
  exception: boolean;
}

/** `.dockerignore` read as the docker CLI reads it (moby's patternmatcher): last matching pattern wins, a folder's match covers what is in it. */
export function dockerignoreMatcher(text: string): DockerignoreMatcher {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const exception = line.startsWith("!");
    if (exception) line = line.slice(1).trim();
    let pattern = posix.normalize(line).replace(/^\/+/, "").replace(/\/+$/, "");
    if (pattern === "" || pattern === ".") continue;
    if (pattern.startsWith("../")) pattern = pattern.replace(/^(\.\.\/)+/, "");
    patterns.push({ regex: patternRegex(pattern), exception });
  }
  return {
    hasExceptions: patterns.some((pattern) => pattern.exception),
    excludes(path) {
      const parents: string[] = [];
      const parts = path.split("/");
      for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join("/"));
      let matched = false;
      for (const pattern of patterns) {
        // An exception only matters for what is excluded, an exclusion only for what is not.
        if (pattern.exception !== matched) continue;
        if (pattern.regex.test(path) || parents.some((parent) => pattern.regex.test(parent))) matched = !pattern.exception;
      }
      return matched;
    },
  };
}

/** A pattern as a regex: `*` within one segment, `**` across segments, `?` one character, `[...]` a class, `\` escapes. */
function patternRegex(pattern: string): RegExp {
  let source = "^";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") i++;
        source += i + 1 >= pattern.length ? ".*" : "(?:.*/)?";
      } else {
        source += "[^/]*";
      }
    } else if (char === "?") {
      source += "[^/]";
    } else if (char === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end === -1) {
        source += "\\[";
      } else {
        const body = pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
        source += `[${body}]`;
        i = end;
      }
    } else if (char === "\\" && i + 1 < pattern.length) {
      i++;
      source += pattern[i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`${source}$`);
}
