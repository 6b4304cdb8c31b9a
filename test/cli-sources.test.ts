// `gantry source`, `gantry pipeline versions|diff` and `gantry run start --commit` against a
// real server syncing a real git repository served over smart HTTP on 127.0.0.1: each command
// runs as a subprocess and is judged by its exit code, stdout and stderr.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { createGitRepo, startGitHttpServer, type GitRepo, type GitServer } from "./helpers/git-server.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { runCli, startedRun } from "./helpers/cli.ts";
import { tempDir } from "./helpers/temp.ts";

// Servers, git and CLI processes need more than bun test's 5 s default.
setDefaultTimeout(60_000);

const pipeline = (message: string) => `import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "hello",
  tasks: { say: run(async (ctx) => ctx.log("${message}")) },
});
`;

const ADA = { name: "Ada", email: "ada@example.com" };

let gantry: TestGantry;
let server: GitServer;
let repo: GitRepo;
let repoUrl: string;
let first: string;
let second: string;

const cli = (args: string[]) => runCli(args, { server: gantry, env: { NO_COLOR: "1" } });

beforeAll(async () => {
  const root = tempDir("gantry-cli-git-");
  repo = await createGitRepo(root, "team/app");
  server = await startGitHttpServer(root);
  repoUrl = `${server.url}/team/app.git`;
  first = await repo.commit({ ".gantry/hello.ts": pipeline("one"), "README.md": "app" }, { message: "Add hello", author: ADA });
  gantry = await startTestGantry();
});

afterAll(async () => {
  await gantry?.stop();
  await server?.stop();
});

describe("gantry source", () => {
  it("adds a source and, with --sync, waits for it to load the branch's pipelines", async () => {
    const added = await cli(["source", "add", "app", "--repo", repoUrl, "--poll", "off", "--sync"]);
    expect(added.stderr).toBe("");
    expect(added.exitCode).toBe(0);
    expect(added.stdout).toContain("created source app");
    expect(added.stdout).toContain(repoUrl);
    expect(added.stdout).toMatch(/polling\s+off/);
    expect(added.stdout).toContain(`synced app to ${first.slice(0, 7)} "Add hello" (Ada)`);
    expect(added.stdout).toMatch(/app\/hello\s+hello\.ts|app\/hello\s+\.gantry\/hello\.ts/);
  });

  it("lists it beside the local folder, with its state and head", async () => {
    const listed = await cli(["source", "ls"]);
    expect(listed.exitCode).toBe(0);
    const lines = listed.stdout.split("\n");
    expect(lines[0]).toMatch(/^NAME\s+NAMESPACE\s+BRANCH\s+STATE\s+HEAD\s+LAST SYNC\s+ERROR$/);
    expect(lines.find((line) => line.startsWith("local "))).toBeDefined();
    const app = lines.find((line) => line.startsWith("app "));
    expect(app).toMatch(new RegExp(`^app\\s+app\\s+main\\s+ok\\s+${first.slice(0, 7)} Add hello\\s+\\S+ ago`));

    const json = await cli(["source", "ls", "--json"]);
    expect(json.exitCode).toBe(0);
    const body = JSON.parse(json.stdout) as { sources: { name: string; head?: { sha: string } }[] };
    expect(body.sources.find((source) => source.name === "app")?.head?.sha).toBe(first);
  });

  it("shows one source's settings, pipelines and synced commits, loaded ones ticked", async () => {
    const shown = await cli(["source", "get", "app"]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain("source app  ok");
    expect(shown.stdout).toMatch(new RegExp(`repo\\s+${repoUrl.replace(/[.]/g, "\\.")}`));
    expect(shown.stdout).toMatch(/branch\s+main/);
    expect(shown.stdout).toMatch(/path\s+\.gantry/);
    expect(shown.stdout).toMatch(new RegExp(`head\\s+${first.slice(0, 7)} "Add hello" \\(Ada\\)`));
    expect(shown.stdout).toMatch(/app\/hello\s+\S*hello\.ts\s+ok/);
    expect(shown.stdout).toMatch(new RegExp(`${first.slice(0, 7)}\\s+✓\\s+Ada\\s+.*Add hello`));
  });

  it("reports the new commit and the version it made on the next sync", async () => {
    second = await repo.commit({ ".gantry/hello.ts": pipeline("two") }, { message: "Say two", author: ADA });
    const synced = await cli(["source", "sync", "app"]);
    expect(synced.stderr).toBe("");
    expect(synced.exitCode).toBe(0);
    expect(synced.stdout).toContain(`synced app to ${second.slice(0, 7)} "Say two" (Ada): 1 new commit, 1 loaded`);
    expect(synced.stdout).toContain(`versions: app/hello v2 (${second.slice(0, 7)})`);

    const again = await cli(["source", "sync", "app", "--json"]);
    expect(again.exitCode).toBe(0);
    const body = JSON.parse(again.stdout) as { sync: { unchanged: boolean; head: { sha: string } } };
    expect(body.sync).toMatchObject({ unchanged: true, head: { sha: second } });
  });

  it("syncs a file that fails to load (exit 0), naming the file and its problem", async () => {
    const file = `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "broken", tasks: { a: run(() => {}, { needs: { missing: "success" } }) } });
`;
    const broken = await repo.commit({ ".gantry/broken.ts": file }, { message: "Add a broken pipeline", author: ADA });
    const synced = await cli(["source", "sync", "app"]);
    expect(synced.exitCode).toBe(0);
    expect(synced.stdout).toContain(`synced app to ${broken.slice(0, 7)}`);
    expect(synced.stdout).toContain("failures (1; their pipelines keep their last good version):");
    expect(synced.stdout).toMatch(new RegExp(`\\.gantry/broken\\.ts at ${broken.slice(0, 7)}: .*missing`));
  });

  it("lists a file that never loaded among the source's pipelines, with its load error", async () => {
    const shown = await cli(["source", "get", "app"]);
    expect(shown.stdout).toMatch(/app\/broken\s+\.gantry\/broken\.ts\s+load error: .*missing/);
  });

  it("forgets the failure once the file is removed", async () => {
    await repo.commit({ ".gantry/broken.ts": null }, { message: "Drop broken", author: ADA });
    const synced = await cli(["source", "sync", "app"]);
    expect(synced.exitCode).toBe(0);
    expect(synced.stdout).toContain("1 new commit, 1 loaded");
    expect(synced.stdout).not.toContain("failures");
    const shown = await cli(["source", "get", "app"]);
    expect(shown.stdout).not.toContain("app/broken");
    expect(shown.stdout).toMatch(/app\/hello\s+\S*hello\.ts\s+ok/);
  });

  it("changes only the settings given with set, keeping the rest", async () => {
    const changed = await cli(["source", "set", "app", "--poll", "5m"]);
    expect(changed.stderr).toBe("");
    expect(changed.exitCode).toBe(0);
    expect(changed.stdout).toContain("updated source app");
    expect(changed.stdout).toMatch(/polling\s+every 5m/);
    expect(changed.stdout).toContain(repoUrl);

    const nothing = await cli(["source", "set", "app"]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain("nothing to change");

    const missing = await cli(["source", "set", "nope", "--branch", "dev"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("source nope not found");
  });
});

describe("gantry pipeline versions and diff", () => {
  it("lists a source pipeline's versions with their commits", async () => {
    const listed = await cli(["pipeline", "versions", "app/hello"]);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toMatch(/^VERSION\s+CREATED\s+TASKS\s+COMMIT\s+AUTHOR/);
    expect(listed.stdout).toMatch(new RegExp(`v2 \\(current\\)\\s+.*${second.slice(0, 7)} Say two\\s+Ada`));
    expect(listed.stdout).toMatch(new RegExp(`v1\\s+.*${first.slice(0, 7)} Add hello\\s+Ada`));

    const shown = await cli(["pipeline", "get", "app/hello"]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`version\\s+v2 \\(${second.slice(0, 7)} "Say two" \\(Ada\\)\\)`));
    expect(shown.stdout).toMatch(/source\s+app/);
  });

  it("prints what changed in the current version as a unified diff", async () => {
    const diff = await cli(["pipeline", "diff", "app/hello"]);
    expect(diff.stderr).toBe("");
    expect(diff.exitCode).toBe(0);
    expect(diff.stdout).toContain("v2 of app/hello against v1: 1 file changed");
    expect(diff.stdout).toMatch(/changed \S*hello\.ts {2}\+1 -1/);
    expect(diff.stdout).toContain(`-  tasks: { say: run(async (ctx) => ctx.log("one")) },`);
    expect(diff.stdout).toContain(`+  tasks: { say: run(async (ctx) => ctx.log("two")) },`);
    expect(diff.stdout).toContain("@@");

    const explicit = await cli(["pipeline", "diff", "app/hello", "v1", "2", "--json"]);
    expect(explicit.exitCode).toBe(0);
    const body = JSON.parse(explicit.stdout) as { from: number; to: number; files: { status: string; added: number; removed: number }[] };
    expect(body).toMatchObject({ from: 2, to: 1, files: [{ status: "changed", added: 1, removed: 1 }] });

    const firstVersion = await cli(["pipeline", "diff", "app/hello", "1"]);
    expect(firstVersion.exitCode).toBe(0);
    expect(firstVersion.stdout).toContain("v1 of app/hello (its first version)");
    expect(firstVersion.stdout).toMatch(/added \S*hello\.ts/);

    const badVersion = await cli(["pipeline", "diff", "app/hello", "latest"]);
    expect(badVersion.exitCode).toBe(2);
    expect(badVersion.stderr).toContain('"latest" is not a version');

    const noSuch = await cli(["pipeline", "diff", "app/hello", "9"]);
    expect(noSuch.exitCode).toBe(2);
    expect(noSuch.stderr).toContain("version 9 of app/hello not found");
  });
});

describe("gantry run start --commit", () => {
  it("runs the version an older commit left current, and shows that commit", async () => {
    const started = await cli(["run", "start", "app/hello", "--commit", first.slice(0, 10).toUpperCase(), "--wait"]);
    expect(started.stderr).toBe("");
    expect(started.exitCode).toBe(0);
    expect(started.stdout).toContain(`at commit ${first.slice(0, 12)} (v1)`);
    const run = startedRun(started.stdout);

    const shown = await cli(["run", "get", "app/hello", String(run)]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(/version\s+v1/);
    expect(shown.stdout).toMatch(new RegExp(`commit\\s+${first}`));

    const log = await cli(["logs", "app/hello", String(run), "say"]);
    expect(log.exitCode).toBe(0);
    expect(log.stdout).toContain("one");
    expect(log.stdout).not.toContain("two");
  });

  it("refuses a commit that is no sha, or one the source never synced", async () => {
    const typo = await cli(["run", "start", "app/hello", "--commit", "main"]);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toContain('--commit "main" is not a commit sha');

    const unknown = await cli(["run", "start", "app/hello", "--commit", "0000000"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("commit 0000000 is not a synced commit of source app");
  });
});

describe("gantry source, refused", () => {
  it("exits 2 with the server's reason for settings it refuses", async () => {
    const local = await cli(["source", "add", "x", "--repo", "file:///etc"]);
    expect(local.exitCode).toBe(2);
    expect(local.stderr).toContain("gantry: repo uses file://, which sources may not");

    const poll = await cli(["source", "add", "x", "--repo", repoUrl, "--poll", "1s"]);
    expect(poll.exitCode).toBe(2);
    expect(poll.stderr).toContain("pollInterval must be 0 (never) or at least 5s");

    const noRepo = await cli(["source", "add", "x"]);
    expect(noRepo.exitCode).toBe(2);
    expect(noRepo.stderr).toContain("--repo is required");

    const reserved = await cli(["source", "add", "local", "--repo", repoUrl]);
    expect(reserved.exitCode).toBe(2);
    expect(reserved.stderr).toContain(`"local" is the local pipelines folder's name`);
  });

  it("exits 2 with the reason when the repository cannot be reached", async () => {
    const added = await cli(["source", "add", "gone", "--repo", `${server.url}/team/missing.git`, "--poll", "off"]);
    expect(added.exitCode).toBe(0);
    const synced = await cli(["source", "sync", "gone"]);
    expect(synced.exitCode).toBe(2);
    expect(synced.stderr).toMatch(/^gantry: .+/);
    expect(synced.stdout).toBe("");

    const shown = await cli(["source", "get", "gone"]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain("source gone  error");
    expect(shown.stdout).toMatch(/error\s+\S+/);
    expect((await cli(["source", "rm", "gone"])).exitCode).toBe(0);
  });
});

describe("gantry source rm", () => {
  it("deletes a source: it leaves the list and its pipelines are retired", async () => {
    const removed = await cli(["source", "rm", "app"]);
    expect(removed.stderr).toBe("");
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain("deleted source app");

    const listed = await cli(["source", "ls"]);
    expect(listed.stdout).not.toMatch(/^app /m);
    const gone = await cli(["source", "get", "app"]);
    expect(gone.exitCode).toBe(2);
    expect(gone.stderr).toContain("source app not found");
    const again = await cli(["source", "rm", "app"]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain("source app not found");
  });
});
