// The git commands a source's sync needs, run against a bare mirror in the data dir. Git runs
// with no system or user config, no prompts, only network transports (never file:// or ext::,
// which would read the server's disk or run a command), and credentials handed over in the
// environment as an HTTP header: never on a command line, never in a stored URL.
import { existsSync, mkdirSync } from "node:fs";
import { GIT_PROTOCOLS, printable, type CommitInfo } from "../../domain/sources.ts";

export interface GitCredentials {
  user: string;
  password: string;
}

export class GitError extends Error {
  override name = "GitError";
}

const DEFAULT_TIMEOUT_MS = 120_000;
/** Most of a command's stderr kept for its error message. */
const MAX_STDERR = 8 * 1024;

/** "user:password", or a bare token (sent as the password of "x-access-token", as GitHub and Gitea take it). */
export function parseCredentials(secret: string): GitCredentials {
  const value = secret.trim();
  const colon = value.indexOf(":");
  if (colon > 0 && !/\s/.test(value.slice(0, colon))) return { user: value.slice(0, colon), password: value.slice(colon + 1) };
  return { user: "x-access-token", password: value };
}

interface GitRun {
  args: string[];
  /** The bare repository the command works in (git -C); none for ls-remote. */
  gitDir?: string;
  credentials?: GitCredentials;
  timeoutMs?: number;
  stdin?: string;
}

/** The environment of every git command: nothing of the server's own environment or config. */
function gitEnv(credentials?: GitCredentials): Record<string, string> {
  const config: [string, string][] = [
    ["gc.auto", "0"],
    ["core.hooksPath", "/dev/null"],
    ["credential.helper", ""],
    ["protocol.version", "2"],
    // What a remote sends is checked as it arrives: no "..", ".git" or malformed objects.
    ["transfer.fsckObjects", "true"],
    // A remote that stalls (under 1 KB/s for a minute) ends the command rather than holding the source's syncs.
    ["http.lowSpeedLimit", "1000"],
    ["http.lowSpeedTime", "60"],
  ];
  if (credentials) {
    const basic = Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64");
    config.push(["http.extraHeader", `Authorization: Basic ${basic}`]);
    // The header goes with every request of the command: never to wherever a redirect points.
    config.push(["http.followRedirects", "false"]);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    // ssh sources use the server user's keys and known hosts; git's own config files are never read.
    HOME: process.env.HOME ?? "/nonexistent",
    XDG_CONFIG_HOME: "/nonexistent",
    LANG: "C",
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "/bin/false",
    SSH_ASKPASS: "/bin/false",
    GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
    GIT_ALLOW_PROTOCOL: GIT_PROTOCOLS.join(":"),
    // A source's folder is a path, never a pattern (":(top)", "*").
    GIT_LITERAL_PATHSPECS: "1",
    GIT_CONFIG_COUNT: String(config.length),
  };
  // How this machine reaches the network: proxies, a private CA, the ssh agent.
  for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "SSH_AUTH_SOCK"]) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  config.forEach(([key, value], index) => {
    env[`GIT_CONFIG_KEY_${index}`] = key;
    env[`GIT_CONFIG_VALUE_${index}`] = value;
  });
  return env;
}

/** Runs git; resolves with its stdout, or throws a GitError whose message never holds the credentials. */
async function git(run: GitRun): Promise<Buffer> {
  const child = Bun.spawn(["git", ...(run.gitDir ? ["-C", run.gitDir] : []), ...run.args], {
    env: gitEnv(run.credentials),
    // Its own process group: a timeout ends git-remote-https and ssh too, which hold its pipes.
    detached: true,
    stdin: run.stdin === undefined ? "ignore" : new TextEncoder().encode(run.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }, run.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).arrayBuffer(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  if (timedOut) throw new GitError(`git ${run.args[0]} took longer than ${Math.round((run.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)}s`);
  if (code !== 0) throw new GitError(explain(run, mask(stderr.slice(-MAX_STDERR), run.credentials), code));
  return Buffer.from(stdout);
}

/** The credentials (and their header form) blanked out of what git said. */
function mask(text: string, credentials?: GitCredentials): string {
  if (!credentials) return text;
  let masked = text;
  const basic = Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64");
  for (const secret of [basic, credentials.password]) if (secret.length >= 4) masked = masked.split(secret).join("***");
  return masked;
}

/** Git's last words, with what a person should do about the common failures. */
function explain(run: GitRun, stderr: string, code: number): string {
  const said = stderr
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("hint:"))
    .slice(-3)
    .join(" ");
  if (/could not read Username|Authentication failed|terminal prompts disabled|401|403/i.test(said)) {
    return run.credentials
      ? `the repository refused the credentials (${said})`
      : `the repository needs credentials: store them in a secret and set auth to secret:<name> (${said})`;
  }
  return said || `git ${run.args[0]} failed (exit code ${code})`;
}

/** The commit a branch of the remote points at, or undefined when it has no such branch. */
export async function remoteHead(url: string, branch: string, credentials?: GitCredentials): Promise<string | undefined> {
  const out = (await git({ args: ["ls-remote", "--heads", "--", url, `refs/heads/${branch}`], ...(credentials && { credentials }), timeoutMs: 60_000 })).toString("utf8");
  for (const line of out.split("\n")) {
    const [sha, ref] = line.split("\t");
    if (ref === `refs/heads/${branch}` && sha && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
  }
  return undefined;
}

/** A bare repository at `gitDir` (made on first use) that only ever fetches. */
export async function ensureMirror(gitDir: string): Promise<void> {
  if (existsSync(`${gitDir}/HEAD`)) return;
  mkdirSync(gitDir, { recursive: true, mode: 0o700 });
  await git({ args: ["init", "--bare", "--quiet", gitDir] });
}

/** The ref a source's branch is fetched into; `seen` refs keep synced commits after a force-push. */
const FETCHED_REF = "refs/gantry/branch";

/** Fetches the branch (and only it) into the mirror; returns the commit it points at. */
export async function fetchBranch(gitDir: string, url: string, branch: string, credentials?: GitCredentials): Promise<string> {
  await git({
    gitDir,
    args: ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--force", "--", url, `+refs/heads/${branch}:${FETCHED_REF}`],
    ...(credentials && { credentials }),
    // A first fetch of a big repository takes a while; a stalled one ends at lowSpeedTime.
    timeoutMs: 15 * 60_000,
  });
  return (await git({ gitDir, args: ["rev-parse", "--verify", `${FETCHED_REF}^{commit}`] })).toString("utf8").trim();
}

/** Keeps a commit reachable in the mirror (a pinned run may need it after a force-push). */
export async function keepCommit(gitDir: string, sha: string): Promise<void> {
  await git({ gitDir, args: ["update-ref", `refs/gantry/seen/${sha}`, sha] });
}

export async function hasCommit(gitDir: string, sha: string): Promise<boolean> {
  try {
    await git({ gitDir, args: ["cat-file", "-e", `${sha}^{commit}`] });
    return true;
  } catch {
    return false;
  }
}

/**
 * Commits reachable from `to` but not from `from` (all of `to`'s history when absent), oldest
 * first, at most `limit` of the newest; `touching` marks those that changed `path`.
 */
export async function commitsBetween(
  gitDir: string,
  range: { from?: string; to: string; path: string; limit: number },
): Promise<{ commits: (CommitInfo & { touching: boolean })[]; more: boolean }> {
  const revs = [range.to, ...(range.from ? [`^${range.from}`] : [])];
  const log = (await git({ gitDir, args: ["log", "--topo-order", `--max-count=${range.limit + 1}`, "--format=%H%x1f%an%x1f%cI%x1f%s%x1e", ...revs, "--"] })).toString("utf8");
  const all = log
    .split("\x1e")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [sha = "", author = "", committedAt = "", subject = ""] = entry.split("\x1f");
      return { sha, author: printable(author.slice(0, 200)), committedAt, message: printable(subject.slice(0, 200)) };
    });
  const more = all.length > range.limit;
  const kept = all.slice(0, range.limit);
  const pathspec = range.path === "." ? [] : [range.path];
  const touched = new Set(
    (await git({ gitDir, args: ["rev-list", "--topo-order", `--max-count=${range.limit}`, ...revs, "--", ...pathspec] }))
      .toString("utf8")
      .split("\n")
      .filter(Boolean),
  );
  return { commits: kept.reverse().map((commit) => ({ ...commit, touching: touched.has(commit.sha) })), more };
}

/** `commit` and its ancestors, newest first, at most `limit`. */
export async function ancestorsOf(gitDir: string, commit: string, limit: number): Promise<string[]> {
  return (await git({ gitDir, args: ["rev-list", "--topo-order", `--max-count=${limit}`, commit, "--"] })).toString("utf8").split("\n").filter(Boolean);
}

/** Whether `ancestor` is in the history of `commit` (a fast-forward from one to the other). */
export async function isAncestor(gitDir: string, ancestor: string, commit: string): Promise<boolean> {
  try {
    await git({ gitDir, args: ["merge-base", "--is-ancestor", ancestor, commit] });
    return true;
  } catch {
    return false;
  }
}

/** One commit's details. */
export async function commitInfo(gitDir: string, sha: string): Promise<CommitInfo> {
  const out = (await git({ gitDir, args: ["log", "-1", "--format=%H%x1f%an%x1f%cI%x1f%s", sha, "--"] })).toString("utf8").trim();
  const [full = sha, author = "", committedAt = "", subject = ""] = out.split("\x1f");
  return { sha: full, author: printable(author.slice(0, 200)), committedAt, message: printable(subject.slice(0, 200)) };
}

export interface TreeEntry {
  /** "100644", "100755", "120000" (a symlink), "160000" (a submodule). */
  mode: string;
  type: "blob" | "tree" | "commit";
  oid: string;
  size: number;
  /** Path from the repository's top. */
  path: string;
}

/** Every file under `path` at a commit (recursively); empty when the folder does not exist there. */
export async function listTree(gitDir: string, sha: string, path: string): Promise<TreeEntry[]> {
  const out = await git({ gitDir, args: ["ls-tree", "-r", "-z", "--long", "--full-tree", sha, "--", ...(path === "." ? [] : [path])] });
  const entries: TreeEntry[] = [];
  for (const record of out.toString("utf8").split("\0")) {
    if (!record) continue;
    const tab = record.indexOf("\t");
    const [mode = "", type = "", oid = "", size = ""] = record.slice(0, tab).split(/\s+/);
    entries.push({ mode, type: type as TreeEntry["type"], oid, size: size === "-" ? 0 : Number(size), path: record.slice(tab + 1) });
  }
  return entries;
}

/** The contents of blobs by object id, read through one `git cat-file --batch`. */
export async function readBlobs(gitDir: string, oids: string[]): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  if (oids.length === 0) return blobs;
  const out = await git({ gitDir, args: ["cat-file", "--batch"], stdin: `${oids.join("\n")}\n` });
  let at = 0;
  while (at < out.length) {
    const newline = out.indexOf(10, at);
    if (newline < 0) break;
    const [oid = "", type = "", size = ""] = out.subarray(at, newline).toString("utf8").split(" ");
    if (type === "missing" || size === "") throw new GitError(`object ${oid} is missing from the mirror`);
    const length = Number(size);
    blobs.set(oid, out.subarray(newline + 1, newline + 1 + length));
    at = newline + 1 + length + 1;
  }
  return blobs;
}
