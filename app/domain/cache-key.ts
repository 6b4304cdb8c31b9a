// A cache key's template, pure: `${VAR}` from the task's environment and
// `${hashFiles('glob', ...)}` from a hash of the workspace's files, which the caller provides
// (the engine reads them without following links; the testing kit reads its own workspace).

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
 * Fills `${VAR}` from the task's environment and `${hashFiles(...)}` by the given hasher of
 * the workspace's files in a key (or a restore key). Throws on a malformed hashFiles call or
 * an over-long key.
 * @example await fillKeyTemplate("deps-${OS}", { env: { OS: "linux" }, hashFiles }) // { key: "deps-linux", notes: [] }
 */
export async function fillKeyTemplate(template: string, context: { env: Readonly<Record<string, string>>; hashFiles: (globs: string[]) => Promise<{ hash: string; files: number }> }): Promise<FilledKey> {
  const notes: string[] = [];
  const hashes = new Map<string, string>();
  for (const match of template.matchAll(HASH_FILES)) {
    if (hashes.has(match[0])) continue;
    const globs = globsOf(match[1]!);
    const { hash, files } = await context.hashFiles(globs);
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
