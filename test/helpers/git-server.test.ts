// The git servers tests fetch from: a repo made with commits, a force-push and a symlink,
// served over smart HTTP (with and without Basic auth) and git://, and checked with the real
// git client: ls-remote, clone, ls-tree.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { processesWith } from "./processes.ts";
import { createGitRepo, startGitDaemon, startGitHttpServer, type GitRepo, type GitServer } from "./git-server.ts";
import { tempDir } from "./temp.ts";

setDefaultTimeout(30_000);

/** Runs the git client as a test would: no config of the developer's, never a password prompt. */
async function git(args: string[], cwd = tempDir("gantry-git-client-")): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(["git", ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

/** `git ls-remote <url>` as a ref → sha map; throws when git fails. */
async function lsRemote(url: string, extra: string[] = []): Promise<Record<string, string>> {
  const result = await git([...extra, "ls-remote", url]);
  if (result.exitCode !== 0) throw new Error(`ls-remote ${url}: ${result.stderr}`);
  const refs: Record<string, string> = {};
  for (const line of result.stdout.trim().split("\n")) {
    const [sha, ref] = line.split("\t");
    if (sha && ref) refs[ref] = sha;
  }
  return refs;
}

/** Clones `url` into a fresh temp folder and returns the work tree. */
async function clone(url: string, extra: string[] = []): Promise<string> {
  const dir = join(tempDir("gantry-git-clone-"), "checkout");
  const result = await git([...extra, "clone", "-q", url, dir]);
  if (result.exitCode !== 0) throw new Error(`clone ${url}: ${result.stderr}`);
  return dir;
}

const USER = "x-access-token";
const PASSWORD = "git-server-test-password";
const basic = (user: string, password: string) => `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

let root: string;
let repo: GitRepo;
let first: string;
let second: string;

beforeAll(async () => {
  root = tempDir("gantry-git-root-");
  repo = await createGitRepo(root, "acme/app");
  first = await repo.commit({ "README.md": "hello\n", "src/app.ts": "export const answer = 42;\n" }, { message: "first" });
  second = await repo.commit(
    { "README.md": null, "link-to-app": { symlink: "src/app.ts" }, "src/more.ts": "export const more = true;\n" },
    { message: "second", author: { name: "Ada", email: "ada@example.com" } },
  );
});

describe("createGitRepo", () => {
  it("pushes each commit to the bare repo and reports its sha", async () => {
    expect(repo.bareDir).toBe(join(root, "acme", "app.git"));
    expect(first).toMatch(/^[0-9a-f]{40}$/);
    expect(second).toMatch(/^[0-9a-f]{40}$/);
    expect(second).not.toBe(first);
    expect(await repo.head()).toBe(second);
    expect(await repo.head("main")).toBe(second);
    expect(await repo.head("nope")).toBeUndefined();

    const log = await git(["--git-dir", repo.bareDir, "log", "--format=%H %P|%an <%ae>|%s", "main"]);
    expect(log.stdout.trim().split("\n")).toEqual([`${second} ${first}|Ada <ada@example.com>|second`, `${first} |Gantry Test <test@gantry.invalid>|first`]);
  });

  it("commits a symlink as mode 120000", async () => {
    const tree = await git(["--git-dir", repo.bareDir, "ls-tree", "-r", second]);
    expect(tree.stdout).toMatch(/^120000 blob [0-9a-f]{40}\tlink-to-app$/m);
    expect(tree.stdout).toMatch(/^100644 blob [0-9a-f]{40}\tsrc\/app\.ts$/m);
    expect(tree.stdout).not.toContain("README.md");
    const target = await git(["--git-dir", repo.bareDir, "cat-file", "-p", `${second}:link-to-app`]);
    expect(target.stdout).toBe("src/app.ts");
  });

  it("force-pushes a branch back to an older commit, and commits after that build on it", async () => {
    const other = await createGitRepo(root, "acme/other");
    const a = await other.commit({ "a.txt": "a\n" });
    const b = await other.commit({ "b.txt": "b\n" });
    const feature = await other.commit({ "f.txt": "f\n" }, { branch: "feature" });
    expect(await other.head("feature")).toBe(feature);
    expect((await git(["--git-dir", other.bareDir, "rev-parse", `${feature}^`])).stdout.trim()).toBe(b);

    await other.forcePush(a);
    expect(await other.head()).toBe(a);
    expect((await git(["--git-dir", other.bareDir, "merge-base", "--is-ancestor", b, "main"])).exitCode).toBe(1);
    // The same change again is still a new commit.
    const again = await other.commit({ "b.txt": "b\n" });
    expect(again).not.toBe(b);
    expect((await git(["--git-dir", other.bareDir, "rev-parse", `${again}^`])).stdout.trim()).toBe(a);
    expect(await other.head("feature")).toBe(feature);
  });
});

describe("startGitHttpServer", () => {
  let server: GitServer;
  beforeAll(async () => {
    server = await startGitHttpServer(root);
  });
  afterAll(() => server?.stop());

  it("serves refs and content over smart HTTP, counting requests", async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const before = server.requests();
    const refs = await lsRemote(`${server.url}/acme/app.git`);
    expect(refs).toEqual({ HEAD: second, "refs/heads/main": second });
    // Protocol v2 (git's default): GET info/refs, then POST git-upload-pack for ls-refs.
    expect(server.requests() - before).toBe(2);

    const dir = await clone(`${server.url}/acme/app.git`);
    expect(readFileSync(join(dir, "src", "app.ts"), "utf8")).toBe("export const answer = 42;\n");
    expect(readFileSync(join(dir, "src", "more.ts"), "utf8")).toBe("export const more = true;\n");
    expect(existsSync(join(dir, "README.md"))).toBe(false);
    expect(lstatSync(join(dir, "link-to-app")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, "link-to-app"))).toBe("src/app.ts");
  });

  it("speaks protocol v0 too, and answers a missing repo with an error", async () => {
    expect(await lsRemote(`${server.url}/acme/app.git`, ["-c", "protocol.version=0"])).toEqual({ HEAD: second, "refs/heads/main": second });
    const missing = await git(["ls-remote", `${server.url}/acme/missing.git`]);
    expect(missing.exitCode).not.toBe(0);
  });

  it("takes a gzipped request body (git gzips POSTs over 1 KiB: here 30 wants)", async () => {
    const many = await createGitRepo(root, "many");
    const heads: Record<string, string> = {};
    for (let i = 0; i < 30; i++) heads[`refs/heads/branch-${i}`] = await many.commit({ [`file-${i}.txt`]: `${i}\n` }, { branch: `branch-${i}` });
    const dir = join(tempDir("gantry-git-mirror-"), "many.git");
    const result = await git(["clone", "-q", "--mirror", `${server.url}/many.git`, dir]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const refs = await lsRemote(dir);
    for (const [ref, sha] of Object.entries(heads)) expect(refs[ref]).toBe(sha);
  });

  it("shows a force-push on the next ls-remote", async () => {
    const moving = await createGitRepo(root, "moving");
    const one = await moving.commit({ "x.txt": "1\n" });
    const two = await moving.commit({ "x.txt": "2\n" });
    expect((await lsRemote(`${server.url}/moving.git`))["refs/heads/main"]).toBe(two);
    await moving.forcePush(one);
    expect((await lsRemote(`${server.url}/moving.git`))["refs/heads/main"]).toBe(one);
    const dir = await clone(`${server.url}/moving.git`);
    expect(readFileSync(join(dir, "x.txt"), "utf8")).toBe("1\n");
  });
});

describe("startGitHttpServer with auth", () => {
  let server: GitServer;
  beforeAll(async () => {
    server = await startGitHttpServer(root, { auth: { user: USER, password: PASSWORD } });
  });
  afterAll(() => server?.stop());

  it("refuses requests without the right credentials", async () => {
    const response = await fetch(`${server.url}/acme/app.git/info/refs?service=git-upload-pack`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Basic /);

    const anonymous = await git(["ls-remote", `${server.url}/acme/app.git`]);
    expect(anonymous.exitCode).not.toBe(0);
    expect(anonymous.stderr).toMatch(/Authentication failed|could not read Username/);

    const wrong = await git(["-c", `http.extraHeader=${basic(USER, "wrong")}`, "ls-remote", `${server.url}/acme/app.git`]);
    expect(wrong.exitCode).not.toBe(0);
  });

  it("serves with Basic auth", async () => {
    const auth = ["-c", `http.extraHeader=${basic(USER, PASSWORD)}`];
    expect(await lsRemote(`${server.url}/acme/app.git`, auth)).toEqual({ HEAD: second, "refs/heads/main": second });
    const dir = await clone(`${server.url}/acme/app.git`, auth);
    expect(readFileSync(join(dir, "src", "app.ts"), "utf8")).toBe("export const answer = 42;\n");
  });
});

describe("startGitDaemon", () => {
  it("serves refs and content over git:// and leaves no process behind", async () => {
    const daemon = await startGitDaemon(root);
    try {
      expect(daemon.url).toMatch(/^git:\/\/127\.0\.0\.1:\d+$/);
      expect(await lsRemote(`${daemon.url}/acme/app.git`)).toEqual({ HEAD: second, "refs/heads/main": second });
      const dir = await clone(`${daemon.url}/acme/app.git`);
      expect(readFileSync(join(dir, "src", "more.ts"), "utf8")).toBe("export const more = true;\n");
      expect(readlinkSync(join(dir, "link-to-app"))).toBe("src/app.ts");
      // One request for ls-remote, one for the clone; read from the daemon's log, so maybe a moment late.
      const deadline = Date.now() + 5_000;
      while (daemon.requests() < 2 && Date.now() < deadline) await Bun.sleep(10);
      expect(daemon.requests()).toBe(2);
      expect(processesWith(`--base-path=${root}`).length).toBe(1);
    } finally {
      await daemon.stop();
    }
    expect(processesWith(`--base-path=${root}`)).toEqual([]);
  });
});
