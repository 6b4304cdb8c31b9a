// Pipelines from git repositories, against real git servers on 127.0.0.1: sources added over
// the API, synced by hand, by webhooks and by polling; a version per commit that changed the
// folder; diffs; pinned runs; credentials; unreachable remotes; force-pushes; unsafe trees.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createGitRepo, startGitDaemon, startGitHttpServer, type GitServer } from "./helpers/git-server.ts";
import { startTestGantry, waitFor, type TestGantry } from "./helpers/gantry.ts";
import { tempDir } from "./helpers/temp.ts";
import { signBody } from "../app/domain/hmac-signature.ts";
import { pruneBundles } from "../app/engine/pipelines/bundle-pruning.ts";
import { join } from "node:path";

const pipeline = (id: string, message: string) => `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "${id}", tasks: { say: run(async (ctx) => ctx.log("${message}")) } });
`;

interface SourceJson {
  name: string;
  state: string;
  head?: { sha: string; message: string; author: string };
  error?: string;
  definedIn?: string;
  pipelines: { namespace: string; id: string; error?: unknown }[];
}
interface SyncJson {
  unchanged: boolean;
  head?: { sha: string };
  commits: number;
  loaded: number;
  versions: { pipeline: string; version: number; commit: string }[];
  failures: { file: string; commit: string; issues: { path: string; message: string }[] }[];
  warnings: string[];
}
interface VersionJson {
  version: number;
  commit?: { sha: string; author: string; message: string; source: string; url?: string };
}

let gantry: TestGantry;
let http: GitServer;
let root: string;
let names = 0;

const json = async <T>(response: Response): Promise<T> => {
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON (${response.status}): ${text}`);
  }
};

/**
 * A new repo served over `server` with a first commit of `files`, and a source following it
 * (not polled unless asked), once the sync that adding it starts has ended.
 */
async function newSource(
  files: Record<string, string | null | { symlink: string }>,
  settings: Record<string, unknown> = {},
  options: { server?: GitServer; message?: string; author?: { name: string; email: string } } = {},
) {
  const name = `src${++names}`;
  const repo = await createGitRepo(root, name);
  const first = await repo.commit(files, { ...(options.message && { message: options.message }), ...(options.author && { author: options.author }) });
  const put = await gantry.api(`/sources/${name}`, { method: "PUT", body: JSON.stringify({ repo: `${(options.server ?? http).url}/${name}.git`, pollInterval: 0, ...settings }) });
  expect(put.status).toBe(201);
  await waitFor(async () => (["ok", "error"].includes((await sourceOf(name)).source.state) ? true : undefined), 30_000);
  return { name, repo, first };
}

async function sync(name: string): Promise<{ status: number; sync: SyncJson; source: SourceJson; error?: { message: string } }> {
  const response = await gantry.api(`/sources/${name}/sync`, { method: "POST" });
  return { status: response.status, ...(await json<{ sync: SyncJson; source: SourceJson; error?: { message: string } }>(response)) };
}

const versionsOf = async (pipeline: string) => (await json<{ versions: VersionJson[] }>(await gantry.api(`/pipelines/${pipeline}/versions`))).versions;
const sourceOf = async (name: string) => json<{ source: SourceJson; commits: { sha: string; loaded: boolean }[] }>(await gantry.api(`/sources/${name}`));

async function runAndLog(pipeline: string, body: Record<string, unknown> = {}): Promise<{ run: { id: number; version: number; commit?: string; state: string }; log: string }> {
  const started = await gantry.api(`/pipelines/${pipeline}/runs`, { method: "POST", body: JSON.stringify(body) });
  const created = await json<{ run: { id: number }; error?: { message: string } }>(started);
  if (started.status !== 201) throw new Error(`run start answered ${started.status}: ${JSON.stringify(created)}`);
  const run = await waitFor(async () => {
    const { run } = await json<{ run: { id: number; version: number; commit?: string; state: string } }>(await gantry.api(`/pipelines/${pipeline}/runs/${created.run.id}`));
    return ["successful", "failed", "cancelled"].includes(run.state) ? run : undefined;
  }, 30_000);
  const log = await (await gantry.api(`/pipelines/${pipeline}/runs/${run.id}/tasks/say/logs`)).text();
  return { run, log };
}

beforeAll(async () => {
  root = tempDir("gantry-git-");
  http = await startGitHttpServer(root);
  gantry = await startTestGantry({ env: { GANTRY_SECRET_KEY: "" } });
});

afterAll(async () => {
  await gantry?.stop();
  await http?.stop();
});

describe("a git source", () => {
  it("makes a version per commit that changed its folder, labelled with the commit, keeping the last good one through a broken file", async () => {
    const { name, repo, first } = await newSource({ ".gantry/hello.ts": pipeline("hello", "one"), "README.md": "x" }, {}, { message: "Add hello", author: { name: "Ada", email: "ada@example.com" } });
    expect((await sourceOf(name)).source).toMatchObject({ state: "ok", head: { sha: first, message: "Add hello", author: "Ada" } });
    expect((await versionsOf(`${name}/hello`))[0]!.commit).toMatchObject({ sha: first, author: "Ada", message: "Add hello", source: name });
    expect((await runAndLog(`${name}/hello`)).log).toContain("one");

    // Several pushes between two syncs: each commit that changed the folder is loaded in order.
    const second = await repo.commit({ ".gantry/hello.ts": pipeline("hello", "two") }, { message: "Say two" });
    const readme = await repo.commit({ "README.md": "only the readme" }, { message: "Docs" });
    const third = await repo.commit({ ".gantry/build.ts": pipeline("build", "building") }, { message: "Add build" });
    const broken = await repo.commit({ ".gantry/hello.ts": "export default definePipeline({ id: " }, { message: "Break hello" });
    const next = await sync(name);
    expect(next.status).toBe(200);
    expect(next.sync.commits).toBe(4);
    expect(next.sync.loaded).toBe(3);
    expect(next.sync.versions).toEqual([
      { pipeline: `${name}/hello`, version: 2, commit: second },
      { pipeline: `${name}/build`, version: 1, commit: third },
    ]);
    expect(next.sync.failures.map((failure) => [failure.file, failure.commit])).toEqual([[".gantry/hello.ts", broken]]);
    const { source, commits } = await sourceOf(name);
    expect(source).toMatchObject({ state: "ok", head: { sha: broken, message: "Break hello" } });
    expect(commits.map((commit) => [commit.sha, commit.loaded])).toEqual([
      [broken, true],
      [third, true],
      [readme, false],
      [second, true],
      [first, true],
    ]);
    // The broken file leaves version 2 current, with its error shown.
    const hello = await json<{ pipeline: { version: number; source: string; error?: { issues: { message: string }[] } } }>(await gantry.api(`/pipelines/${name}/hello`));
    expect(hello.pipeline).toMatchObject({ version: 2, source: name });
    expect(hello.pipeline.error?.issues[0]?.message).toBeTruthy();
    expect((await runAndLog(`${name}/hello`)).log).toContain("two");

    // The diff between versions shows what the commit changed.
    const diff = await json<{ from: number; to: number; files: { path: string; status: string; patch: string }[] }>(await gantry.api(`/pipelines/${name}/hello/versions/2/diff`));
    expect(diff).toMatchObject({ from: 1, to: 2, files: [{ path: "hello.ts", status: "changed" }] });
    expect(diff.files[0]!.patch).toContain('-export default definePipeline({ id: "hello", tasks: { say: run(async (ctx) => ctx.log("one")) } });');
    expect(diff.files[0]!.patch).toContain('+export default definePipeline({ id: "hello", tasks: { say: run(async (ctx) => ctx.log("two")) } });');

    // A run pinned to an older commit runs that commit's version and records the commit.
    const pinned = await runAndLog(`${name}/hello`, { commit: first.slice(0, 10) });
    expect(pinned.run).toMatchObject({ version: 1, commit: first, state: "successful" });
    expect(pinned.log).toContain("one");
    // A commit that only touched the README runs the version current then.
    expect((await runAndLog(`${name}/hello`, { commit: readme })).run).toMatchObject({ version: 2, commit: readme });
    // build did not exist at the first commit; an unknown commit is named.
    const before = await gantry.api(`/pipelines/${name}/build/runs`, { method: "POST", body: JSON.stringify({ commit: first }) });
    expect(before.status).toBe(409);
    expect((await json<{ error: { message: string } }>(before)).error.message).toContain(`pipeline ${name}/build did not exist at commit ${first.slice(0, 12)}`);
    const unknown = await gantry.api(`/pipelines/${name}/hello/runs`, { method: "POST", body: JSON.stringify({ commit: "abcdef1234" }) });
    expect(unknown.status).toBe(404);
    expect((await json<{ error: { message: string } }>(unknown)).error.message).toContain(`commit abcdef1234 is not a synced commit of source ${name}`);

    // A file that never loaded is listed with its error, as in the local folder.
    await repo.commit({ ".gantry/never.ts": "export default 42;" }, { message: "Add a broken file" });
    // (hello.ts, still broken, is loaded again with it: any file of the folder may be its helper.)
    expect((await sync(name)).sync.failures.map((failure) => failure.file)).toEqual([".gantry/hello.ts", ".gantry/never.ts"]);
    const never = await json<{ pipeline: { version: number | null; error: { issues: { message: string }[] } } }>(await gantry.api(`/pipelines/${name}/never`));
    expect(never.pipeline.version).toBeNull();
    expect(never.pipeline.error.issues.length).toBeGreaterThan(0);
    expect((await sourceOf(name)).source.pipelines.map((p) => p.id)).toEqual(["build", "hello", "never"]);
    // Deleting a file retires its pipeline; its runs stay readable.
    await repo.commit({ ".gantry/build.ts": null, ".gantry/never.ts": null, ".gantry/hello.ts": pipeline("hello", "three") }, { message: "Drop build" });
    expect((await sync(name)).sync.versions).toEqual([{ pipeline: `${name}/hello`, version: 3, commit: expect.any(String) }]);
    expect((await gantry.api(`/pipelines/${name}/build`)).status).toBe(404);
    expect((await sourceOf(name)).source.pipelines.map((p) => p.id)).toEqual(["hello"]);

    // Nothing new on the remote: the sync only asks where the branch is.
    const requests = http.requests();
    expect((await sync(name)).sync.unchanged).toBe(true);
    // ls-remote over protocol v2 is two HTTP requests (refs advertisement, then ls-refs).
    expect(http.requests() - requests).toBe(2);
  });

  it("starts from the branch's head: its history before is not loaded, and no warning says otherwise", async () => {
    const name = `src${++names}`;
    const repo = await createGitRepo(root, name);
    await repo.commit({ ".gantry/hello.ts": pipeline("hello", "old") });
    const head = await repo.commit({ ".gantry/hello.ts": pipeline("hello", "new") });
    expect((await gantry.api(`/sources/${name}`, { method: "PUT", body: JSON.stringify({ repo: `${http.url}/${name}.git`, pollInterval: 0 }) })).status).toBe(201);
    await waitFor(async () => ((await sourceOf(name)).source.state === "ok" ? true : undefined), 30_000);
    const { source, commits } = await json<{ source: { lastSync: { warnings: string[]; commits: number } }; commits: { sha: string }[] }>(await gantry.api(`/sources/${name}`));
    expect(source.lastSync).toMatchObject({ warnings: [], commits: 1 });
    expect(commits.map((commit) => commit.sha)).toEqual([head]);
    expect((await runAndLog(`${name}/hello`)).log).toContain("new");
  });

  it("loads only its branch: a push to another branch changes nothing", async () => {
    const { name, repo } = await newSource({ ".gantry/hello.ts": pipeline("hello", "main") });
    await repo.commit({ ".gantry/hello.ts": pipeline("hello", "feature") }, { branch: "feature" });
    const again = await sync(name);
    expect(again.sync.unchanged).toBe(true);
    expect((await versionsOf(`${name}/hello`)).length).toBe(1);
  });

  it("keeps every version through a force-push, and runs the older state again", async () => {
    const { name, repo, first: a } = await newSource({ ".gantry/hello.ts": pipeline("hello", "a") });
    const b = await repo.commit({ ".gantry/hello.ts": pipeline("hello", "b") });
    await sync(name);
    await repo.forcePush(a);
    const after = await sync(name);
    expect(after.status).toBe(200);
    expect(after.sync.head?.sha).toBe(a);
    expect((await versionsOf(`${name}/hello`)).map((version) => version.commit?.sha)).toEqual([b, a]);
    // The content of a is version 1 again.
    expect((await json<{ pipeline: { version: number } }>(await gantry.api(`/pipelines/${name}/hello`))).pipeline.version).toBe(1);
    // The removed commit can still be run, also after the janitor pruned bundles a day later.
    await pruneBundles(gantry.deps.db, join(gantry.dataDir, "bundles"), new Date(Date.now() + 86_400_000));
    expect((await runAndLog(`${name}/hello`, { commit: b })).log).toContain("b");
  });

  it("keeps the last good versions running and shows the error when the repository cannot be reached", async () => {
    const server = await startGitHttpServer(root);
    const { name } = await newSource({ ".gantry/hello.ts": pipeline("hello", "still here") }, {}, { server });
    await server.stop();
    const failed = await sync(name);
    expect(failed.status).toBe(502);
    expect(failed.error?.message).toBeTruthy();
    const { source } = await sourceOf(name);
    expect(source.state).toBe("error");
    expect(source.error).toBe(failed.error!.message);
    expect((await runAndLog(`${name}/hello`)).log).toContain("still here");
  });

  it("clones a private repository with credentials from the secret store, never showing them", async () => {
    const password = "s3cret-token-value-xyz";
    const privateRoot = tempDir("gantry-git-private-");
    const server = await startGitHttpServer(privateRoot, { auth: { user: "robot", password } });
    try {
      const repo = await createGitRepo(privateRoot, "private");
      await repo.commit({ ".gantry/hello.ts": pipeline("hello", "private") });
      const put = await gantry.api("/sources/private", { method: "PUT", body: JSON.stringify({ repo: `${server.url}/private.git`, pollInterval: 0, auth: "secret:git-robot" }) });
      expect(put.status).toBe(201);
      const unset = await sync("private");
      expect(unset.status).toBe(502);
      expect(unset.error?.message).toContain('the secret "git-robot" named by auth is not set');
      expect((await gantry.api("/secrets/git-robot", { method: "PUT", body: JSON.stringify({ value: "robot:wrong-password-123" }) })).status).toBe(201);
      const refused = await sync("private");
      expect(refused.status).toBe(502);
      expect(refused.error?.message).toContain("refused the credentials");
      expect((await gantry.api("/secrets/git-robot", { method: "PUT", body: JSON.stringify({ value: `robot:${password}` }) })).status).toBe(200);
      const ok = await sync("private");
      expect(ok.status).toBe(200);
      expect((await runAndLog("private/hello")).log).toContain("private");
      const everything = JSON.stringify([await sourceOf("private"), await json(await gantry.api("/events?limit=500")), await json(await gantry.api("/sources"))]);
      expect(everything).not.toContain(password);
      expect(everything).not.toContain(Buffer.from(`robot:${password}`).toString("base64"));
    } finally {
      await server.stop();
    }
  });

  it("also clones over git://", async () => {
    const daemon = await startGitDaemon(root);
    try {
      const { name } = await newSource({ "pipes/hello.ts": pipeline("hello", "daemon") }, { path: "pipes" }, { server: daemon });
      expect((await versionsOf(`${name}/hello`)).length).toBe(1);
      expect((await runAndLog(`${name}/hello`)).log).toContain("daemon");
    } finally {
      await daemon.stop();
    }
  });

  it("installs the folder's packages from its lockfile before importing, and reports an install failure", async () => {
    const { name, repo } = await newSource({ "README.md": "packages next" });
    const packageJson = JSON.stringify({ name: "pipes", private: true, dependencies: { shout: "file:./vendor/helper" } });
    const lock = `{
  "lockfileVersion": 2,
  "configVersion": 1,
  "workspaces": {
    "": {
      "name": "pipes",
      "dependencies": {
        "shout": "file:./vendor/helper",
      },
    },
  },
  "packages": {
    "shout": ["shout@file:vendor/helper", {}],
  }
}
`;
    await repo.commit({
      ".gantry/package.json": packageJson,
      ".gantry/bun.lock": lock,
      ".gantry/vendor/helper/package.json": JSON.stringify({ name: "shout", version: "1.0.0", main: "index.js" }),
      ".gantry/vendor/helper/index.js": 'module.exports = (s) => s.toUpperCase() + "!";',
      ".gantry/hello.ts": `import { definePipeline, run } from "gantry";
import shout from "shout";
export default definePipeline({ id: "hello", tasks: { say: run(async (ctx) => ctx.log(shout("packaged"))) } });
`,
    });
    const synced = await sync(name);
    expect(synced.sync.failures).toEqual([]);
    expect((await runAndLog(`${name}/hello`)).log).toContain("PACKAGED!");
    // A package.json the lockfile does not match: the installer's own words are the load error.
    await repo.commit({ ".gantry/package.json": JSON.stringify({ name: "pipes", private: true, dependencies: { shout: "file:./vendor/helper", other: "file:./vendor/other" } }) });
    const failed = await sync(name);
    expect(failed.sync.failures[0]?.issues[0]?.message).toContain("bun install --frozen-lockfile failed");
    expect((await runAndLog(`${name}/hello`)).log).toContain("PACKAGED!");
  });

  it("leaves out symlinks that lead out of the folder, and follows those to a file in it", async () => {
    const { name, repo } = await newSource({ "README.md": "links next" });
    await repo.commit({
      "outside.ts": pipeline("outside", "outside"),
      ".gantry/_shared.ts": 'export const word = "linked";',
      ".gantry/hello.ts": `import { definePipeline, run } from "gantry";
import { word } from "./_alias.ts";
export default definePipeline({ id: "hello", tasks: { say: run(async (ctx) => ctx.log(word)) } });
`,
      ".gantry/_alias.ts": { symlink: "_shared.ts" },
      ".gantry/escape.ts": { symlink: "../outside.ts" },
      ".gantry/passwd.ts": { symlink: "/etc/passwd" },
    });
    const synced = await sync(name);
    expect(synced.sync.warnings.join("\n")).toContain('.gantry/escape.ts is a symlink to "../outside.ts", which is not a file inside the source folder: left out');
    expect(synced.sync.warnings.join("\n")).toContain('.gantry/passwd.ts is a symlink to "/etc/passwd"');
    expect((await sourceOf(name)).source.pipelines.map((p) => p.id)).toEqual(["hello"]);
    expect((await runAndLog(`${name}/hello`)).log).toContain("linked");
  });

  it("refuses settings that would leave the repository or leak credentials, naming each problem", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ repo: "file:///etc" }, "uses file://"],
      [{ repo: "/srv/repo.git" }, "must be a repository URL"],
      [{ repo: "https://robot:token@example.com/x.git" }, "must not carry credentials"],
      [{ repo: "https://example.com/x.git", path: "../up" }, 'path must stay inside the repository (no "..")'],
      [{ repo: "https://example.com/x.git", path: "/etc" }, "not an absolute path"],
      [{ repo: "https://example.com/x.git", branch: "a..b" }, 'branch "a..b" is not a valid branch name'],
      [{ repo: "https://example.com/x.git", pollInterval: "1s" }, "pollInterval must be 0 (never) or at least 5s"],
      [{ repo: "https://example.com/x.git", auth: "token" }, "auth must be secret:<name>"],
      [{ repo: "https://example.com/x.git", colour: "blue" }, 'unknown field "colour"'],
      [{ repo: "http://git.example.com/x.git", auth: "secret:git-robot" }, "credentials are sent only over https://"],
      [{ repo: "git://git.example.com/x.git", auth: "secret:git-robot" }, "git:// carries no credentials"],
    ];
    for (const [body, message] of cases) {
      const response = await gantry.api("/sources/bad", { method: "PUT", body: JSON.stringify(body) });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await json<{ error: { message: string } }>(response)).error.message).toContain(message);
    }
    expect((await gantry.api("/sources/local", { method: "PUT", body: JSON.stringify({ repo: "https://example.com/x.git" }) })).status).toBe(400);
    expect((await gantry.api("/sources/bad")).status).toBe(404);
  });

  it("syncs on a signed push to /hooks/sources/<name>, and refuses unsigned ones", async () => {
    expect((await gantry.api("/secrets/hook-key", { method: "PUT", body: JSON.stringify({ value: "hook-signing-key-1" }) })).status).toBe(201);
    const { name, repo } = await newSource({ ".gantry/hello.ts": pipeline("hello", "first") }, { hookSecret: "secret:hook-key" });
    const pushed = await repo.commit({ ".gantry/hello.ts": pipeline("hello", "hooked") });
    const body = JSON.stringify({ ref: "refs/heads/main", after: pushed });
    const unsigned = await fetch(`${gantry.hooksUrl}/hooks/sources/${name}`, { method: "POST", body });
    expect(unsigned.status).toBe(401);
    const other = await fetch(`${gantry.hooksUrl}/hooks/sources/${name}`, {
      method: "POST",
      body: JSON.stringify({ ref: "refs/heads/feature" }),
      headers: { "x-gantry-signature-256": signBody("hook-signing-key-1", JSON.stringify({ ref: "refs/heads/feature" })) },
    });
    expect(await other.json()).toMatchObject({ sync: false });
    const signed = await fetch(`${gantry.hooksUrl}/hooks/sources/${name}`, { method: "POST", body, headers: { "x-gantry-signature-256": signBody("hook-signing-key-1", body) } });
    expect(signed.status).toBe(202);
    await waitFor(async () => (await sourceOf(name)).source.head?.sha === pushed || undefined, 20_000);
    expect((await runAndLog(`${name}/hello`)).log).toContain("hooked");
    // No hook secret, or no such source: the same 404.
    const none = await fetch(`${gantry.hooksUrl}/hooks/sources/nope`, { method: "POST", body, headers: { "x-gantry-signature-256": signBody("hook-signing-key-1", body) } });
    expect(none.status).toBe(404);
  });

  it("polls the branch and picks up a push by itself", async () => {
    const { name, repo } = await newSource({ ".gantry/hello.ts": pipeline("hello", "polled") }, { pollInterval: "5s" });
    const later = await repo.commit({ ".gantry/hello.ts": pipeline("hello", "polled again") });
    await waitFor(async () => (await sourceOf(name)).source.head?.sha === later || undefined, 20_000);
    expect((await versionsOf(`${name}/hello`)).length).toBe(2);
  }, 30_000);

  it("takes the right to write every pipeline of its namespace, not only sources:write", async () => {
    const role = async (id: string, permissions: unknown[]) => expect((await gantry.api(`/roles/${id}`, { method: "PUT", body: JSON.stringify({ permissions }) })).status).toBeOneOf([200, 201]);
    await role("source-only", [{ resource: "sources", target: ".*", actions: ["read", "write"] }]);
    await role("team-a", [
      { resource: "sources", target: ".*", actions: ["read", "write"] },
      { resource: "pipelines", target: "team-a/.*", actions: ["read", "write"] },
    ]);
    const tokenOf = async (roles: string[]) => json<{ secret: string }>(await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: `t-${roles[0]}`, roles }) }));
    const put = async (token: string, namespace: string) =>
      fetch(`${gantry.url}/api/v1/sources/rights-${namespace}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ repo: "https://git.example.com/x.git", namespace, pollInterval: 0, auth: "secret:git-robot" }),
      });
    const only = await put((await tokenOf(["source-only"])).secret, "team-a");
    expect(only.status).toBe(403);
    expect((await json<{ error: { message: string } }>(only)).error.message).toContain("lacks permission pipelines:write on team-a/*");
    const team = (await tokenOf(["team-a"])).secret;
    expect((await put(team, "prod")).status).toBe(403);
    expect((await put(team, "team-a")).status).toBe(201);
    expect((await gantry.api("/sources/rights-team-a", { method: "DELETE" })).status).toBe(204);
  });

  it("skips a commit whose folder is too large without blocking the ones after it, and refuses to pin past a skipped change", async () => {
    const { name, repo, first } = await newSource({ ".gantry/hello.ts": pipeline("hello", "small") });
    const many: Record<string, string> = {};
    for (let index = 0; index <= 5_000; index++) many[`.gantry/data/${index}.txt`] = "";
    const huge = await repo.commit(many, { message: "Too many files" });
    const fixed = await repo.commit({ ...Object.fromEntries(Object.keys(many).map((path) => [path, null])), ".gantry/hello.ts": pipeline("hello", "fixed") }, { message: "Fix" });
    const synced = await sync(name);
    expect(synced.status).toBe(200);
    expect(synced.sync.failures).toEqual([{ file: ".gantry", commit: huge, issues: [{ path: "", message: expect.stringContaining("more than 5000") }] }]);
    expect(synced.sync.head?.sha).toBe(fixed);
    expect((await runAndLog(`${name}/hello`)).log).toContain("fixed");
    // The skipped commit changed the folder: it cannot be run as of, unlike the first.
    const pinned = await gantry.api(`/pipelines/${name}/hello/runs`, { method: "POST", body: JSON.stringify({ commit: huge }) });
    expect(pinned.status).toBe(409);
    expect((await json<{ error: { message: string } }>(pinned)).error.message).toContain("was not loaded itself");
    expect((await runAndLog(`${name}/hello`, { commit: first })).log).toContain("small");
  }, 60_000);

  it("is deleted with its pipelines retired, their runs kept", async () => {
    const { name } = await newSource({ ".gantry/hello.ts": pipeline("hello", "bye") });
    const { run } = await runAndLog(`${name}/hello`);
    expect((await gantry.api(`/sources/${name}`, { method: "DELETE" })).status).toBe(204);
    expect((await gantry.api(`/sources/${name}`)).status).toBe(404);
    expect((await gantry.api(`/pipelines/${name}/hello`)).status).toBe(404);
    expect((await gantry.api(`/pipelines/${name}/hello/runs/${run.id}`)).status).toBe(200);
  });
});
