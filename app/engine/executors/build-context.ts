// The build context of an image build: a folder of the run's workspace, sent to the engine
// as a tar. The workspace is written by pipeline code and the server runs as root, so
// nothing is followed out of it: the folder may not be reached through a symlink, symlinks
// inside are sent as symlinks (the engine resolves them within the context), and each file
// is opened without following links. `.dockerignore` is applied as the docker CLI does.
import { lstatSync, type Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { assertContained, openContained, OutsideRootError } from "../../stores/contained-path.ts";
import { TAR_END, tarHeader, tarPadding } from "../../stores/tar.ts";
import { workspacePathProblem } from "../../domain/task-files.ts";

interface ContextEntry {
  /** Path in the context, "/"-separated. */
  path: string;
  type: "file" | "directory" | "symlink";
  size: number;
  mode: number;
  mtime: Date;
  linkTarget?: string;
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
  const root = posix.join(workspace, context);
  const shown = (path: string) => (context === "." ? path : posix.join(context, path));
  try {
    if (root !== workspace && root !== `${workspace}/`) assertContained(workspace, root);
  } catch (error) {
    throw new BuildContextError(`build context "${context}" leads out of the workspace: ${(error as Error).message}`);
  }
  const stats = lstatSync(root, { throwIfNoEntry: false });
  if (!stats) throw new BuildContextError(`build context "${context}" does not exist in the workspace (an earlier task writes it there?)`);
  if (!stats.isDirectory()) throw new BuildContextError(`build context "${context}" is not a folder`);

  const readText = async (path: string): Promise<string | undefined> => {
    const file = await openContained(workspace, posix.join(root, path));
    if (!file) return undefined;
    try {
      return await file.handle.readFile("utf8");
    } finally {
      await file.handle.close();
    }
  };
  try {
    if ((await readText(dockerfilePath)) === undefined) {
      throw new BuildContextError(`there is no ${shown(dockerfilePath)} in the workspace (dockerfile is a path inside the context)`);
    }
    const ignore = dockerignoreMatcher((await readText(".dockerignore")) ?? "");
    // The CLI always sends these two, ignored or not: the engine needs them.
    const always = new Set([dockerfilePath, ".dockerignore"]);
    const entries = await listContext(
      workspace,
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
          tarStream(workspace, root, entries, (message) => {
            problem = message;
          }),
          { objectMode: false },
        );
      },
      problem: () => problem,
    };
  } catch (error) {
    if (error instanceof BuildContextError) throw error;
    if (error instanceof OutsideRootError) throw new BuildContextError(`the build context leads out of the workspace: ${error.message}`);
    throw new BuildContextError(`the build context could not be read: ${(error as Error).message}`);
  }
}

/**
 * The context's entries, parents before children, sorted; what `.dockerignore` excludes left
 * out. Asynchronous: a context may hold a node_modules, and the server goes on serving meanwhile.
 */
async function listContext(
  workspace: string,
  root: string,
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
    ...(linkTarget !== undefined && { linkTarget }),
  });
  const walk = async (relative: string) => {
    const folder = relative ? posix.join(root, relative) : root;
    // Checked again just before listing: a folder swapped for a symlink is not listed through.
    if (relative) assertContained(workspace, folder);
    const names = (await readdir(folder)).sort();
    for (const name of names) {
      const path = relative ? `${relative}/${name}` : name;
      const full = posix.join(root, path);
      const stats = await lstat(full).catch(() => undefined);
      if (!stats) continue;
      if (stats.isDirectory()) {
        const skip = excluded(path);
        if (!skip) entries.push(entryOf(path, "directory", stats));
        // An excluded folder is left out whole, unless something in it may be taken back.
        if (!skip || walkExcluded(path)) await walk(path);
      } else if (excluded(path)) {
        continue;
      } else if (stats.isFile()) {
        entries.push(entryOf(path, "file", stats));
      } else if (stats.isSymbolicLink()) {
        // Sent as a link: it is never followed here.
        entries.push(entryOf(path, "symlink", stats, await readlink(full, "utf8")));
      }
      // Sockets, pipes and devices are not part of a build context.
    }
  };
  await walk("");
  return entries;
}

/** The tar of the entries; each file opened without following links and read to the size listed. */
async function* tarStream(workspace: string, root: string, entries: ContextEntry[], broke: (message: string) => void): AsyncGenerator<Uint8Array> {
  try {
    for (const entry of entries) {
      if (entry.type !== "file") {
        yield tarHeader({ path: entry.path, type: entry.type, size: 0, mode: entry.mode, mtime: entry.mtime, ...(entry.linkTarget !== undefined && { linkTarget: entry.linkTarget }) });
        continue;
      }
      const file = await openContained(workspace, posix.join(root, entry.path));
      if (!file) throw new BuildContextError(`${entry.path} disappeared while the build context was sent`);
      try {
        if (file.size !== entry.size) throw new BuildContextError(`${entry.path} changed while the build context was sent`);
        yield tarHeader({ path: entry.path, type: "file", size: entry.size, mode: entry.mode, mtime: entry.mtime });
        let left = entry.size;
        let position = 0;
        while (left > 0) {
          const buffer = new Uint8Array(Math.min(CHUNK, left));
          const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, position);
          if (bytesRead === 0) throw new BuildContextError(`${entry.path} changed while the build context was sent`);
          left -= bytesRead;
          position += bytesRead;
          yield buffer.subarray(0, bytesRead);
        }
        yield tarPadding(entry.size);
      } finally {
        await file.handle.close();
      }
    }
    yield TAR_END;
  } catch (error) {
    const message = error instanceof OutsideRootError ? `the build context leads out of the workspace: ${error.message}` : (error as Error).message;
    broke(message);
    throw error;
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
