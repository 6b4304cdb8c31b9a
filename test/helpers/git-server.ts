// Real git servers on 127.0.0.1 for integration tests, and repositories to push to: smart
// HTTP (git http-backend as a CGI behind Bun.serve, optionally behind Basic auth, like a
// private repo) and `git daemon` (git://). Commits are made in a work clone and pushed to the
// bare repository on disk, so what the servers serve is exactly what a push would leave.
// Git never reads the developer's config: every git here gets its own environment.
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, normalize, relative } from "node:path";
import { tempDir } from "./temp.ts";
import { freePort } from "./ports.ts";

export interface GitRepo {
  /** Absolute path of the bare repository (…/<name>.git). */
  bareDir: string;
  /**
   * Commits files on `branch` (default "main") and pushes; `files` maps repo-relative path →
   * content (string) or null to delete, or { symlink: target } to commit a symlink. Returns the
   * new commit sha (40 hex). A branch the bare repo does not have yet starts from main's head
   * (or from nothing when main does not exist either).
   */
  commit(
    files: Record<string, string | null | { symlink: string }>,
    options?: { message?: string; author?: { name: string; email: string }; branch?: string },
  ): Promise<string>;
  /** Force-pushes `branch` to `sha` (e.g. an older commit), like `git push --force`: removes the commits after it from the branch. */
  forcePush(sha: string, branch?: string): Promise<void>;
  /** The sha `branch` points at in the bare repo, or undefined. */
  head(branch?: string): Promise<string | undefined>;
}

export interface GitServer {
  /** Base URL, e.g. http://127.0.0.1:PORT or git://127.0.0.1:PORT; a repo is at `${url}/<name>.git`. */
  url: string;
  /**
   * Number of requests served so far. For http: each HTTP request, refused ones included (with
   * protocol v2, git's default, one ls-remote is two: GET info/refs and POST git-upload-pack).
   * For git daemon: each upload-pack request (one per connection), read from the daemon's log,
   * so it can lag a moment behind the client finishing.
   */
  requests(): number;
  stop(): Promise<void>;
}

const DEFAULT_AUTHOR = { name: "Gantry Test", email: "test@gantry.invalid" };
/** Commit dates start here and step a second per commit, so shas repeat from run to run but never within one repo. */
const EPOCH = Date.parse("2026-01-01T00:00:00Z") / 1000;

let home: string | undefined;
/** An empty HOME for every git started here: no ~/.gitconfig, no credential helpers. */
function gitHome(): string {
  home ??= tempDir("gantry-git-home-");
  return home;
}

/** The whole environment of a git child: nothing inherited (a GIT_DIR from a hook, say), no system or global config. */
function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: gitHome(),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    LC_ALL: "C",
    ...extra,
  };
}

interface GitResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function runGit(args: string[], cwd: string, env: Record<string, string> = {}): Promise<GitResult> {
  const proc = Bun.spawn(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false", "-c", "core.symlinks=true", ...args], {
    cwd,
    env: gitEnv(env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout: stdout.trim(), stderr };
}

/** Runs git and returns its trimmed stdout; throws with git's stderr when it fails. */
async function git(args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const result = await runGit(args, cwd, env);
  if (result.exitCode !== 0) throw new Error(`git ${args.join(" ")} (in ${cwd}) exited ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

/** Where a repo-relative path lands in the work clone; refuses paths that would leave it or touch .git. */
function workPath(work: string, path: string): string {
  const target = normalize(join(work, path));
  const inside = relative(work, target);
  if (isAbsolute(path) || inside === "" || inside.startsWith("..") || inside.split("/")[0] === ".git") {
    throw new Error(`not a repo-relative path: ${path}`);
  }
  return target;
}

/** Creates an empty bare repo `<root>/<name>.git` (default branch main) with a work clone beside it used by commit(). */
export async function createGitRepo(root: string, name: string): Promise<GitRepo> {
  const bareDir = join(root, `${name}.git`);
  const work = join(root, `${name}.work`);
  mkdirSync(dirname(bareDir), { recursive: true });
  await git(["init", "-q", "--bare", "-b", "main", bareDir], root);
  await git(["init", "-q", "-b", "main", work], root);
  await git(["remote", "add", "origin", bareDir], work);

  let commits = 0;
  // commit() and forcePush() share the work clone: one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(step: () => Promise<T>): Promise<T> => {
    const next = queue.then(step, step);
    queue = next.catch(() => undefined);
    return next;
  };

  const head = async (branch = "main"): Promise<string | undefined> => {
    const result = await runGit(["--git-dir", bareDir, "rev-parse", "--verify", "-q", `refs/heads/${branch}^{commit}`], root);
    return result.exitCode === 0 && result.stdout ? result.stdout : undefined;
  };

  return {
    bareDir,
    head,
    commit: (files, options = {}) =>
      serially(async () => {
        const branch = options.branch ?? "main";
        const author = options.author ?? DEFAULT_AUTHOR;
        // Start from what the bare repo has now (a force-push or another branch may have moved it).
        const start = (await head(branch)) ?? (await head("main"));
        await git(["fetch", "-q", "origin"], work);
        if (start) await git(["checkout", "-q", "-f", "-B", branch, start], work);
        else {
          await git(["checkout", "-q", "-f", "--orphan", branch], work);
          await git(["rm", "-q", "-r", "-f", "--cached", "--ignore-unmatch", "."], work);
        }
        await git(["clean", "-q", "-f", "-d", "-x"], work);

        for (const [path, content] of Object.entries(files)) {
          const target = workPath(work, path);
          rmSync(target, { recursive: true, force: true });
          if (content === null) continue;
          mkdirSync(dirname(target), { recursive: true });
          if (typeof content === "string") writeFileSync(target, content);
          else symlinkSync(content.symlink, target);
        }
        await git(["add", "-A"], work);

        const date = `@${EPOCH + commits++} +0000`;
        await git(["commit", "-q", "--allow-empty", "-m", options.message ?? `commit ${commits}`], work, {
          GIT_AUTHOR_NAME: author.name,
          GIT_AUTHOR_EMAIL: author.email,
          GIT_AUTHOR_DATE: date,
          GIT_COMMITTER_NAME: author.name,
          GIT_COMMITTER_EMAIL: author.email,
          GIT_COMMITTER_DATE: date,
        });
        await git(["push", "-q", "origin", `HEAD:refs/heads/${branch}`], work);
        return git(["rev-parse", "HEAD"], work);
      }),
    forcePush: (sha, branch = "main") =>
      serially(async () => {
        // The sha may have been pushed by someone else: fetch what the bare repo has first.
        await git(["fetch", "-q", "origin"], work);
        await git(["push", "-q", "--force", "origin", `${sha}:refs/heads/${branch}`], work);
      }),
  };
}

/** Where git keeps git-http-backend and git-daemon (/usr/lib/git-core on Debian). */
async function gitExecPath(): Promise<string> {
  return git(["--exec-path"], "/");
}

/** Splits CGI output into its header block and the bytes after it; undefined until the blank line has arrived. */
function splitCgiHeaders(buffer: Uint8Array): { head: string; rest: Uint8Array } | undefined {
  for (let i = 0; i < buffer.length - 1; i++) {
    if (buffer[i] !== 10) continue;
    // The header block ends at an empty line: "\n\n" or "\n\r\n" (git writes CRLF).
    if (buffer[i + 1] === 10) return { head: new TextDecoder().decode(buffer.subarray(0, i)), rest: buffer.subarray(i + 2) };
    if (buffer[i + 1] === 13 && buffer[i + 2] === 10) return { head: new TextDecoder().decode(buffer.subarray(0, i)), rest: buffer.subarray(i + 3) };
  }
  return undefined;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** Turns a CGI's stdout into a Response: Status: and the other headers first, then the rest streamed as the body. */
async function cgiResponse(stdout: ReadableStream<Uint8Array>): Promise<Response> {
  const reader = stdout.getReader();
  let buffer: Uint8Array = new Uint8Array(0);
  let split: ReturnType<typeof splitCgiHeaders>;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return new Response("git-http-backend ended before its headers", { status: 502 });
    buffer = concat(buffer, value);
    split = splitCgiHeaders(buffer);
    if (split) break;
  }
  let status = 200;
  const headers = new Headers();
  for (const line of split.head.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 1) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
    // The body is streamed (chunked); a length the CGI gave is not ours to promise.
    else if (name.toLowerCase() !== "content-length") headers.append(name, value);
  }
  const first = split.rest;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.length > 0) controller.enqueue(first);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return new Response(status === 204 || status === 304 ? null : body, { status, headers });
}

/** Smart HTTP (git http-backend as CGI behind Bun.serve on 127.0.0.1, random port) serving every repo under `root`. With `auth`, every request needs HTTP Basic auth with that user and password (401 + WWW-Authenticate otherwise), like a private repo. */
export async function startGitHttpServer(root: string, options: { auth?: { user: string; password: string } } = {}): Promise<GitServer> {
  const backend = join(await gitExecPath(), "git-http-backend");
  const projectRoot = realpathSync(root);
  const running = new Set<Bun.Subprocess>();
  let requests = 0;

  /** The user a request authenticated as; undefined when auth is wanted and the request lacks it. */
  const authenticate = (request: Request): string | undefined => {
    if (!options.auth) return "";
    const header = request.headers.get("authorization") ?? "";
    const match = /^Basic\s+(\S+)$/i.exec(header);
    if (!match?.[1]) return undefined;
    const decoded = Buffer.from(match[1], "base64").toString("utf8");
    return decoded === `${options.auth.user}:${options.auth.password}` ? options.auth.user : undefined;
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // A big clone may go quiet while upload-pack counts objects.
    idleTimeout: 60,
    async fetch(request, server) {
      requests++;
      const user = authenticate(request);
      if (user === undefined) {
        return new Response("authentication required\n", { status: 401, headers: { "www-authenticate": 'Basic realm="gantry-test-git"' } });
      }
      const url = new URL(request.url);
      const body = request.method === "GET" || request.method === "HEAD" ? undefined : new Uint8Array(await request.arrayBuffer());
      const env = gitEnv({
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: "1",
        GATEWAY_INTERFACE: "CGI/1.1",
        SERVER_PROTOCOL: "HTTP/1.1",
        REQUEST_METHOD: request.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REMOTE_ADDR: server.requestIP(request)?.address ?? "127.0.0.1",
      });
      if (user) env.REMOTE_USER = user;
      const contentType = request.headers.get("content-type");
      if (contentType) env.CONTENT_TYPE = contentType;
      // http-backend reads exactly CONTENT_LENGTH bytes when given, else to EOF; the body is the
      // bytes as sent (gzip included), which it inflates itself when told the encoding.
      if (body) env.CONTENT_LENGTH = String(body.length);
      const encoding = request.headers.get("content-encoding");
      if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
      const protocol = request.headers.get("git-protocol");
      if (protocol) env.GIT_PROTOCOL = protocol;

      const cgi = Bun.spawn([backend], { env, cwd: projectRoot, stdin: body ?? "ignore", stdout: "pipe", stderr: "ignore" });
      running.add(cgi);
      void cgi.exited.then(() => running.delete(cgi));
      return cgiResponse(cgi.stdout);
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    requests: () => requests,
    async stop() {
      await server.stop(true);
      const left = [...running];
      for (const cgi of left) cgi.kill();
      await Promise.all(left.map((cgi) => cgi.exited));
    },
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function accepts(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

/** The pids whose parent is `pid`, read from /proc (the daemon's per-connection children). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesised command name (which may hold spaces): state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** The process and all its descendants, parents first. */
function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...childrenOf(tree[i]!));
  return tree;
}

/** `git daemon` on 127.0.0.1 (a free port), exporting every repo under `root` read-only; requests() may return 0 if not countable. */
export async function startGitDaemon(root: string): Promise<GitServer> {
  // git-daemon itself rather than `git daemon`, whose `git` would sit in between as a parent.
  const daemon = join(await gitExecPath(), "git-daemon");
  const base = realpathSync(root);
  let requests = 0;
  let log = "";

  for (let attempt = 0; ; attempt++) {
    const port = freePort();
    const proc = Bun.spawn([daemon, "--reuseaddr", "--export-all", "--verbose", `--base-path=${base}`, "--listen=127.0.0.1", `--port=${port}`, base], {
      cwd: base,
      env: gitEnv(),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    // --verbose logs "[pid] Request upload-pack for '/x.git'" once per request served.
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr) {
        log += decoder.decode(chunk, { stream: true });
        const lines = log.split("\n");
        log = lines.pop() ?? "";
        for (const line of lines) if (/\] Request \S+ for /.test(line)) requests++;
      }
    })();

    const deadline = Date.now() + 10_000;
    while (proc.exitCode === null && Date.now() < deadline && !(await accepts(port))) await Bun.sleep(25);
    if (proc.exitCode === null && Date.now() < deadline) {
      return {
        url: `git://127.0.0.1:${port}`,
        requests: () => requests,
        async stop() {
          // The daemon forks a child per connection (which runs upload-pack): end those too.
          const tree = processTree(proc.pid);
          for (const pid of tree) {
            try {
              process.kill(pid, "SIGTERM");
            } catch {
              // already gone
            }
          }
          await proc.exited;
          await reading;
          const stopDeadline = Date.now() + 5_000;
          for (const pid of tree.slice(1)) {
            while (existsSync(`/proc/${pid}`) && Date.now() < stopDeadline) await Bun.sleep(10);
          }
        },
      };
    }
    // Another process took the port between freePort() and the daemon's bind: try another one.
    proc.kill();
    await proc.exited;
    await reading;
    if (attempt >= 2) throw new Error(`git daemon did not start on 127.0.0.1:${port}: ${log}`);
  }
}
