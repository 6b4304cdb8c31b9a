// A source: a git repository whose branch holds pipeline files (under a folder of it), synced
// into versions labelled with their commits. Pure rules here: what a source may say, how a
// repository URL is read, compared and linked.
import * as v from "valibot";
import { ID_PATTERN } from "./ids.ts";
import { parseDuration } from "./duration.ts";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "./secrets.ts";

/** The local pipelines folder is a source of its own under this name; no git source may take it. */
export const LOCAL_SOURCE = "local";
export const DEFAULT_SOURCE_BRANCH = "main";
export const DEFAULT_SOURCE_PATH = ".gantry";
export const DEFAULT_POLL_MS = 60_000;
/** Polling more often than this would hammer the remote for little. */
export const MIN_POLL_MS = 5_000;

/** What a person or gantry.toml says about a source. */
export interface SourceSettings {
  repo: string;
  branch: string;
  /** The folder of the repository holding pipeline files: relative, normalized, "." for the top. */
  path: string;
  namespace: string;
  /** A global secret holding the credentials ("token" or "user:password"). */
  auth?: string;
  /** A global secret that signs POST /hooks/sources/<name> (X-Gantry-Signature-256). */
  hookSecret?: string;
  /** 0: never polled (webhooks and manual syncs only). */
  pollIntervalMs: number;
}

/** Transports git may use for a source: never file:// or ext:: (a local path or a command). */
export const GIT_PROTOCOLS = ["http", "https", "git", "ssh"] as const;

/**
 * Why a repository URL cannot be a source, or undefined when it can. Credentials in the URL
 * are refused: the URL is stored and shown; credentials go in a secret (--auth secret:<name>).
 */
export function repoUrlProblem(url: string): string | undefined {
  if (url.length > 2048) return "must be at most 2048 characters";
  if (/[\s\u0000-\u001f\u007f]/.test(url)) return "must not contain spaces or control characters";
  if (url.startsWith("-")) return "must not start with -";
  // scp-like ssh: git@host:owner/repo.git (the user part tells it from a scheme)
  if (/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)[^\s]+$/.test(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be a repository URL like "https://host/owner/repo.git" (http, https, git or ssh)';
  }
  const protocol = parsed.protocol.replace(/:$/, "");
  if (!(GIT_PROTOCOLS as readonly string[]).includes(protocol)) {
    return `uses ${protocol}://, which sources may not: use ${GIT_PROTOCOLS.map((name) => `${name}://`).join(", ")}`;
  }
  if (!parsed.hostname) return "must name a host";
  if (parsed.password || (parsed.username && protocol !== "ssh")) {
    return "must not carry credentials: store them as a secret and give it with --auth secret:<name>";
  }
  if (parsed.search || parsed.hash) return "must not have a query or a fragment";
  return undefined;
}

/**
 * A repository URL reduced for comparison: scheme and credentials dropped, host lower-cased,
 * ".git" and trailing slashes gone, so the clone URL and web URL of a push payload match the
 * source configured with either. `git@github.com:o/r.git` → `github.com/o/r`.
 */
export function normalizeRepoUrl(url: string): string {
  const trimmed = url.trim();
  const scp = /^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!\/\/)(.+)$/.exec(trimmed);
  let host: string;
  let path: string;
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    host = scp[1]!;
    path = scp[2]!;
  } else {
    try {
      const parsed = new URL(trimmed);
      host = parsed.hostname + (parsed.port && !["80", "443", "22", "9418"].includes(parsed.port) ? `:${parsed.port}` : "");
      path = decodeURIComponent(parsed.pathname);
    } catch {
      return trimmed.toLowerCase();
    }
  }
  path = path.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/, "");
  return `${host.toLowerCase()}/${path}`;
}

/**
 * Where a commit can be looked at in a browser: `<repo without .git>/commit/<sha>` for http(s)
 * repositories (GitHub, GitLab, Gitea and Forgejo all answer there), none for other transports.
 */
export function commitWebUrl(repo: string, sha: string): string | undefined {
  if (!/^https?:\/\//.test(repo)) return undefined;
  return `${repo.replace(/\/+$/, "").replace(/\.git$/, "")}/commit/${sha}`;
}

/** A branch name git accepts (git check-ref-format's rules, the ones that matter for a refspec). */
export function branchProblem(branch: string): string | undefined {
  if (branch.length === 0 || branch.length > 255) return "must be 1-255 characters";
  if (branch.startsWith("-") || branch.startsWith("/") || branch.endsWith("/") || branch.endsWith(".") || branch.endsWith(".lock")) {
    return "is not a valid branch name";
  }
  if (/\.\.|@\{|\/\/|\/\.|^\.|[\s~^:?*[\\\u0000-\u001f\u007f]/.test(branch) || branch === "@") return "is not a valid branch name";
  return undefined;
}

/**
 * The source folder as a normalized relative path ("." for the repository's top), or the
 * problem: nothing absolute, no "..", no ".git", so the folder is always inside the clone.
 */
export function sourcePath(path: string): { path: string } | { problem: string } {
  const parts = path.replace(/\\/g, "/").split("/").filter((part) => part !== "" && part !== ".");
  if (path.startsWith("/")) return { problem: "must be a folder inside the repository, not an absolute path" };
  if (parts.includes("..")) return { problem: 'must stay inside the repository (no "..")' };
  if (parts.some((part) => part.toLowerCase() === ".git")) return { problem: "must not be inside .git" };
  if (parts.some((part) => /[\u0000-\u001f\u007f]/.test(part))) return { problem: "must not contain control characters" };
  if (path.length > 500) return { problem: "must be at most 500 characters" };
  return { path: parts.length === 0 ? "." : parts.join("/") };
}

/** "secret:<name>" → the secret's name: the prefix says it names a secret, not holds one. */
const secretReference = (what: string) =>
  v.pipe(
    v.string(`${what} must be secret:<name>`),
    v.startsWith("secret:", `${what} must be secret:<name>, naming a global secret (never the credentials themselves)`),
    v.transform((value) => value.slice("secret:".length)),
    v.regex(SECRET_NAME_PATTERN, `${what} must be secret:<name>, the name ${SECRET_NAME_RULE}`),
  );

const pollInterval = v.pipe(
  v.union([v.number(), v.string()], 'pollInterval must be a duration like "1m" (0 or "off": never poll)'),
  v.transform((value) => (value === "off" ? 0 : parseDuration(value))),
  v.check((value) => value !== undefined, 'pollInterval must be a duration like "1m" (0 or "off": never poll)'),
  v.check((value) => value === 0 || value! >= MIN_POLL_MS, `pollInterval must be 0 (never) or at least ${MIN_POLL_MS / 1000}s`),
  v.transform((value) => value!),
);

/** A source's name: it names its folder, its hook URL and (by default) its namespace. */
export const sourceNameSchema = v.pipe(
  v.string(),
  v.regex(ID_PATTERN, "a source name must be 1-64 characters of a-z, 0-9 and -"),
  v.check((name) => name !== LOCAL_SOURCE, `"${LOCAL_SOURCE}" is the local pipelines folder's name`),
);

/**
 * A source as given over the API or in gantry.toml ([sources.<name>], snake_case keys there
 * are mapped before): every field checked with a message naming it, defaults filled in.
 */
export function sourceSettingsSchema(name: string) {
  return v.pipe(
    v.strictObject(
      {
        repo: v.pipe(
          v.string("repo must be a repository URL"),
          v.check((url) => repoUrlProblem(url) === undefined, (issue) => `repo ${repoUrlProblem(String(issue.input))}`),
        ),
        branch: v.optional(
          v.pipe(
            v.string("branch must be a branch name"),
            v.check((branch) => branchProblem(branch) === undefined, (issue) => `branch "${String(issue.input)}" ${branchProblem(String(issue.input))}`),
          ),
          DEFAULT_SOURCE_BRANCH,
        ),
        path: v.optional(
          v.pipe(
            v.string("path must be a folder of the repository"),
            v.check((path) => !("problem" in sourcePath(path)), (issue) => {
              const checked = sourcePath(String(issue.input));
              return `path ${"problem" in checked ? checked.problem : ""}`;
            }),
            v.transform((path) => (sourcePath(path) as { path: string }).path),
          ),
          DEFAULT_SOURCE_PATH,
        ),
        namespace: v.optional(v.pipe(v.string(), v.regex(ID_PATTERN, "namespace must be 1-64 characters of a-z, 0-9 and -")), name),
        auth: v.optional(secretReference("auth")),
        hookSecret: v.optional(secretReference("hookSecret")),
        pollInterval: v.optional(pollInterval, DEFAULT_POLL_MS),
      },
      (issue) => `unknown field ${issue.expected === "never" ? `"${String(issue.received).replace(/^"|"$/g, "")}"` : ""}: a source takes repo, branch, path, namespace, auth, hookSecret and pollInterval`,
    ),
    v.transform(
      (input): SourceSettings => ({
        repo: input.repo,
        branch: input.branch,
        path: input.path,
        namespace: input.namespace,
        ...(input.auth !== undefined && { auth: input.auth }),
        ...(input.hookSecret !== undefined && { hookSecret: input.hookSecret }),
        pollIntervalMs: input.pollInterval,
      }),
    ),
    v.check((settings) => credentialsProblem(settings) === undefined, (issue) => credentialsProblem(issue.input as SourceSettings) ?? ""),
  );
}

/** Loopback hosts, where plain http never leaves the machine. */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Why the credentials cannot go to this repository: over plain http they would cross the network
 * readable (only this machine's loopback is spared), and git:// carries none.
 */
export function credentialsProblem(settings: Pick<SourceSettings, "repo" | "auth">): string | undefined {
  if (settings.auth === undefined) return undefined;
  if (settings.repo.startsWith("git://")) return "auth: git:// carries no credentials; use https:// or ssh://";
  if (settings.repo.startsWith("http://")) {
    const host = /^http:\/\/([^/:]+|\[[^\]]+\])/.exec(settings.repo)?.[1] ?? "";
    if (!LOOPBACK.test(host)) return "auth: credentials are sent only over https:// (or to this machine's loopback), never in the clear";
  }
  return undefined;
}

/** The settings of a source, or every problem with them in one sentence. */
export function parseSourceSettings(name: string, input: unknown): { ok: true; settings: SourceSettings } | { ok: false; message: string } {
  const parsed = v.safeParse(sourceSettingsSchema(name), input);
  if (parsed.success) return { ok: true, settings: parsed.output };
  return { ok: false, message: parsed.issues.map((issue) => issue.message).join("; ") };
}

/** A commit as a version is labelled with it. */
export interface CommitInfo {
  sha: string;
  author: string;
  /** The first line of the message (the subject), at most 200 characters. */
  message: string;
  committedAt: string;
}

/** Where a version came from: the source and the commit that produced it. */
export interface VersionOrigin extends CommitInfo {
  source: string;
}

/**
 * Text from a repository (an author, a subject, a file name, a link's target) made safe to show
 * anywhere: control characters (a terminal's escape sequences, newlines) become "?".
 */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, "?");
}

/** A commit sha as a person may type it: 7 to 40 hex digits. */
export const COMMIT_PATTERN = /^[0-9a-f]{7,40}$/;

/**
 * Whether new settings point a source elsewhere (another repository, branch, folder or
 * namespace): its mirror and what was loaded from it start over.
 */
export function sourceMoved(before: SourceSettings, after: SourceSettings): boolean {
  return before.repo !== after.repo || before.branch !== after.branch || before.path !== after.path || before.namespace !== after.namespace;
}
