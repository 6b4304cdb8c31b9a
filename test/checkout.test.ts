// checkout() on a real server, fetching from real git servers on 127.0.0.1: a git daemon, a
// smart-HTTP server (git http-backend behind Bun.serve) that wants a token, and a file://
// repository made by another user. Branches, tags, a sha at depth 1, folders, the default
// from a GitHub delivery, a missing ref, and a token that shows up nowhere but in the header.
// And what an attacker could try through a run variable or the workspace: a ref or repo that
// git would read as an option, a .git planted where the checkout goes, git's environment.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, cpSync, existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { signBody } from "../app/domain/hmac-signature.ts";
import { checkout, secret } from "../app/sdk/index.ts";
import { readLog, startRun, startTestGantry, startWithPipelines, waitFor, waitForPipeline, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, sharedDir, tempDir, writeFile } from "./helpers/temp.ts";
import { freePort } from "./helpers/ports.ts";

setDefaultTimeout(60_000);

const TOKEN = "ghs_checkout_token_5f2c91d04e7a";
const WEBHOOK_SECRET = "checkout-webhook-secret";

/** Runs git as the test user; the folders tasks wrote belong to the sandbox user, which git would call dubious. */
function git(args: string[], cwd?: string): string {
  const out = Bun.spawnSync(["git", "-c", "safe.directory=*", ...args], {
    ...(cwd && { cwd }),
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: "/nonexistent",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_AUTHOR_NAME: "Sample",
      GIT_AUTHOR_EMAIL: "sample@example.com",
      GIT_COMMITTER_NAME: "Sample",
      GIT_COMMITTER_EMAIL: "sample@example.com",
      GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
      GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (out.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${out.stderr.toString()}`);
  return out.stdout.toString().trim();
}

/** The commits of the test repository: main has first (tagged v1.0, annotated) and second; feature adds third. */
const commits = { first: "", second: "", third: "" };

/** Makes acme/app.git (bare) under `root` with the commits above. */
function makeRepository(root: string): string {
  const work = join(root, "work");
  git(["init", "-q", "-b", "main", work]);
  const commit = (file: string, text: string, message: string) => {
    Bun.spawnSync(["sh", "-c", `printf '%s\\n' "$1" > "$2"`, "sh", text, join(work, file)]);
    git(["add", file], work);
    git(["commit", "-q", "-m", message], work);
    return git(["rev-parse", "HEAD"], work);
  };
  commits.first = commit("README.md", "first", "first commit");
  git(["tag", "-a", "v1.0", "-m", "release 1.0"], work);
  commits.second = commit("app.ts", "export const answer = 42;", "second commit");
  git(["checkout", "-q", "-b", "feature"], work);
  commits.third = commit("feature.ts", "export const feature = true;", "third commit");
  git(["checkout", "-q", "main"], work);
  const bare = join(root, "acme", "app.git");
  git(["clone", "-q", "--bare", work, bare]);
  return bare;
}

/** Serves the repositories under `root` over smart HTTP, only to requests carrying `Basic x-access-token:<TOKEN>`. */
function startHttpGitServer(root: string, seen: (string | null)[]) {
  const backend = join(git(["--exec-path"]), "git-http-backend");
  const expected = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString("base64")}`;
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const authorization = request.headers.get("authorization");
      seen.push(authorization);
      if (authorization !== expected) return new Response("no", { status: 401, headers: { "www-authenticate": 'Basic realm="git"' } });
      const url = new URL(request.url);
      const cgi = Bun.spawn([backend], {
        env: {
          GIT_PROJECT_ROOT: root,
          GIT_HTTP_EXPORT_ALL: "1",
          REQUEST_METHOD: request.method,
          PATH_INFO: url.pathname,
          QUERY_STRING: url.search.slice(1),
          CONTENT_TYPE: request.headers.get("content-type") ?? "",
          HTTP_CONTENT_ENCODING: request.headers.get("content-encoding") ?? "",
          GIT_PROTOCOL: request.headers.get("git-protocol") ?? "",
          REMOTE_ADDR: "127.0.0.1",
        },
        stdin: new Uint8Array(await request.arrayBuffer()),
        stdout: "pipe",
      });
      const output = Buffer.from(await new Response(cgi.stdout).arrayBuffer());
      const split = output.indexOf("\r\n\r\n");
      const headers = new Headers();
      let status = 200;
      for (const line of output.subarray(0, split).toString().split("\r\n")) {
        const [name, ...value] = line.split(":");
        if (name!.toLowerCase() === "status") status = Number.parseInt(value.join(":").trim(), 10);
        else headers.set(name!, value.join(":").trim());
      }
      return new Response(output.subarray(split + 4), { status, headers });
    },
  });
}

/** Every file under a folder, .git included, as one text (to look for a leaked token). */
function allText(dir: string): string {
  let text = "";
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) text += allText(path);
    else if (stat.isFile()) text += readFileSync(path, "latin1");
  }
  return text;
}

// Every input comes from run variables, so one pipeline covers the cases (and `${VAR}` with them);
// a second task copies the workspace out for the test to look at with git.
const pipeline = (id: string, extra: string, triggers = "") => `
import { checkout, definePipeline, github, run, secret } from "gantry";
export default definePipeline({
  id: "${id}",
  variables: { REPO: "", REF: "", INTO: ".", OUT: "" },
  ${triggers}
  tasks: {
    checkout: checkout({ repo: "\${REPO}", ref: "\${REF}", into: "\${INTO}"${extra} }),
    copy: run(async (ctx) => {
      if (ctx.env.OUT) await ctx.$\`cp -R \${ctx.workspace}/. \${ctx.env.OUT}\`;
    }, { needs: { checkout: "success" } }),
  },
});
`;

// A task before the checkout runs a shell script (PLANT) in the workspace: it leaves a .git in
// the checkout's folder, as an earlier task, an artifact or a cache could.
const plantedPipeline = `
import { checkout, definePipeline, run } from "gantry";
export default definePipeline({
  id: "planted",
  variables: { REPO: "", REF: "", INTO: ".", OUT: "", PLANT: "" },
  tasks: {
    plant: run(async (ctx) => {
      await ctx.$\`sh \${ctx.env.PLANT}\`.cwd(ctx.workspace);
    }),
    checkout: checkout({ repo: "\${REPO}", ref: "\${REF}", into: "\${INTO}", needs: { plant: "success" } }),
    copy: run(async (ctx) => {
      await ctx.$\`cp -R \${ctx.workspace}/. \${ctx.env.OUT}\`;
    }, { needs: { checkout: "success" } }),
  },
});
`;

let gantry: TestGantry;
let daemon: Bun.Subprocess;
let httpServer: ReturnType<typeof Bun.serve>;
let root: string;
let daemonUrl: string;
let httpUrl: string;
let fileUrl: string;
let deliveryOut: string;
/** Where the token test's git wrapper goes; the wrapped pipeline puts it first on its PATH. */
let wrapperBin: string;
const authorizations: (string | null)[] = [];

beforeAll(async () => {
  // Made by the test's user, in the shared folder sandboxes see: to the sandbox user a file://
  // repository owned by someone else.
  root = sharedDir("gantry-git-");
  const bare = makeRepository(root);
  fileUrl = `file://${bare}`;

  const port = freePort();
  daemon = Bun.spawn(["git", "daemon", "--export-all", `--base-path=${root}`, `--port=${port}`, "--listen=127.0.0.1", "--reuseaddr"], {
    stdout: "ignore",
    stderr: "ignore",
  });
  daemonUrl = `git://127.0.0.1:${port}/acme/app.git`;
  await waitFor(() => Bun.spawnSync(["git", "ls-remote", daemonUrl], { stdout: "ignore", stderr: "ignore" }).exitCode === 0, 10_000, "git daemon");

  httpServer = startHttpGitServer(root, authorizations);
  httpUrl = `http://127.0.0.1:${httpServer.port}/acme/app.git`;

  deliveryOut = sharedDir("gantry-delivery-");
  wrapperBin = sharedDir("gantry-bin-");
  gantry = await startWithPipelines(
    {
      "co.ts": pipeline("co", ""),
      "shallow.ts": pipeline("shallow", ", depth: 1"),
      "private.ts": pipeline("private", ', token: secret("gh_token")'),
      "wrapped.ts": pipeline("wrapped", ', token: secret("gh_token")').replace(
        'variables: { REPO: "", REF: "", INTO: ".", OUT: "" }',
        `variables: { REPO: "", REF: "", INTO: ".", OUT: "", PATH: "${wrapperBin}:${process.env.PATH ?? "/usr/bin:/bin"}" }`,
      ),
      "planted.ts": plantedPipeline,
      "unset.ts": pipeline("unset", "").replace('repo: "\${REPO}"', 'repo: "\${NOT_SET}"'),
      "delivered.ts": pipeline("delivered", "", 'triggers: [github({ repo: "acme/app", events: ["push"] })],').replace(
        // Started by a delivery, the run has no run variables: the repository and folder are fixed here.
        'variables: { REPO: "", REF: "", INTO: ".", OUT: "" }',
        `variables: { REPO: "${daemonUrl}", REF: "", INTO: "src", OUT: "${deliveryOut}" }`,
      ),
    },
    {
      env: {
        // No installation id in the test's deliveries: the extension never calls GitHub.
        GANTRY_EXTENSIONS_CONFIG: JSON.stringify({ github: { appId: 1, privateKey: "unused", webhookSecret: WEBHOOK_SECRET } }),
      },
    },
  );
  for (const id of ["private", "wrapped"]) {
    const stored = await gantry.api(`/pipelines/default/${id}/secrets/gh_token`, { method: "PUT", body: JSON.stringify({ value: TOKEN }) });
    expect(stored.status).toBe(201);
  }
});

afterAll(async () => {
  await gantry?.stop();
  httpServer?.stop(true);
  daemon?.kill();
  await daemon?.exited;
});

/** Runs a pipeline with variables, waits for it, and returns the run, the checkout's log and the copied workspace. */
async function checkoutRun(id: string, variables: Record<string, string>): Promise<{ run: RunJson; log: string; out: string }> {
  const out = sharedDir("gantry-checkout-");
  const started = await startRun(gantry.api, `default/${id}`, { ...variables, OUT: out });
  const run = await waitForRun(gantry.api, `default/${id}`, started.id, 30_000);
  const log = await readLog(gantry.api, `default/${id}`, run.id, "checkout");
  return { run, log, out };
}

const taskOf = (run: RunJson, id: string) => run.tasks.find((task) => task.id === id)!;

describe("checkout", () => {
  it("checks out a branch from a git daemon into a folder, on that branch, and logs what it did", async () => {
    const { run, log, out } = await checkoutRun("co", { REPO: daemonUrl, REF: "feature", INTO: "src" });
    expect(run.state).toBe("successful");
    const src = join(out, "src");
    expect(git(["rev-parse", "HEAD"], src)).toBe(commits.third);
    expect(git(["branch", "--show-current"], src)).toBe("feature");
    expect(readFileSync(join(src, "feature.ts"), "utf8")).toContain("feature = true");
    expect(git(["config", "remote.origin.url"], src)).toBe(daemonUrl);
    expect(log).toContain(`checkout: ${daemonUrl} at feature into src`);
    expect(log).toContain(`checked out ${commits.third} on branch feature: third commit`);
  });

  it("checks out an annotated tag, detached, keeping the tag", async () => {
    const { run, log, out } = await checkoutRun("co", { REPO: daemonUrl, REF: "v1.0" });
    expect(run.state).toBe("successful");
    expect(git(["rev-parse", "HEAD"], out)).toBe(commits.first);
    expect(git(["describe", "--tags"], out)).toBe("v1.0");
    expect(git(["branch", "--show-current"], out)).toBe("");
    expect(log).toContain(`checked out ${commits.first} (tag v1.0): first commit`);
  });

  it("checks out a commit that is no branch's tip by its sha at depth 1", async () => {
    const { run, log, out } = await checkoutRun("shallow", { REPO: daemonUrl, REF: commits.first });
    expect(run.state).toBe("successful");
    expect(git(["rev-parse", "HEAD"], out)).toBe(commits.first);
    expect(git(["rev-parse", "--is-shallow-repository"], out)).toBe("true");
    expect(git(["rev-list", "--count", "HEAD"], out)).toBe("1");
    expect(log).toContain("(depth 1)");
    expect(log).toContain(`$ git fetch --no-tags --depth=1 --end-of-options origin ${commits.first}`);
  });

  it("takes the remote's default branch, with its history, when no ref is given", async () => {
    const { run, log, out } = await checkoutRun("co", { REPO: daemonUrl });
    expect(run.state).toBe("successful");
    expect(git(["rev-parse", "HEAD"], out)).toBe(commits.second);
    expect(git(["rev-list", "--count", "HEAD"], out)).toBe("2");
    expect(log).toContain("at the default branch (HEAD)");
  });

  it("fetches a file:// repository another user owns", async () => {
    const { run, out } = await checkoutRun("co", { REPO: fileUrl, REF: "main", INTO: "app" });
    expect(run.state).toBe("successful");
    expect(git(["rev-parse", "HEAD"], join(out, "app"))).toBe(commits.second);
    expect(git(["branch", "--show-current"], join(out, "app"))).toBe("main");
  });

  it("fails on a ref that does not exist with git's error and the ref named", async () => {
    const { run } = await checkoutRun("co", { REPO: daemonUrl, REF: "v9.9" });
    expect(run.state).toBe("failed");
    const task = taskOf(run, "checkout");
    expect(task.state).toBe("failed");
    expect(task.reason).toContain(`ref v9.9 not found in ${daemonUrl}: fatal: couldn't find remote ref v9.9`);
    expect(taskOf(run, "copy").state).toBe("skipped");

    const missingSha = "0".repeat(40);
    const shaRun = await checkoutRun("shallow", { REPO: daemonUrl, REF: missingSha });
    expect(taskOf(shaRun.run, "checkout").reason).toContain(`ref ${missingSha} not found in ${daemonUrl}:`);
    expect(taskOf(shaRun.run, "checkout").reason).toContain("not our ref");
  });

  it("says which variable is missing and which repository could not be read", async () => {
    const unset = await checkoutRun("unset", {});
    expect(taskOf(unset.run, "checkout").reason).toContain('checkout: repo "${NOT_SET}" uses ${NOT_SET}, which is not set in the task\'s environment');
    const none = await checkoutRun("co", {});
    expect(taskOf(none.run, "checkout").reason).toContain("no repository to fetch");
    const gone = await checkoutRun("co", { REPO: daemonUrl.replace("app.git", "gone.git") });
    expect(taskOf(gone.run, "checkout").reason).toContain(`could not fetch the default branch (HEAD) from ${daemonUrl.replace("app.git", "gone.git")}`);
  });

  it("sends the token as a header only: masked, not in the log, the reason or .git/config", async () => {
    authorizations.length = 0;
    const { run, log, out } = await checkoutRun("private", { REPO: httpUrl, REF: "main" });
    expect(run.state).toBe("successful");
    expect(git(["rev-parse", "HEAD"], out)).toBe(commits.second);
    // The server saw it on every request git made.
    expect(authorizations.length).toBeGreaterThan(0);
    expect(authorizations.every((header) => header === `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString("base64")}`)).toBe(true);
    const encoded = Buffer.from(`x-access-token:${TOKEN}`).toString("base64");
    for (const text of [log, JSON.stringify(run), allText(out)]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(encoded);
    }
    expect(git(["config", "--list", "--local"], out)).not.toContain("extraheader");
  });

  it("fails at once, without a prompt, when the http repository wants a token it was not given", async () => {
    const { run } = await checkoutRun("co", { REPO: httpUrl, REF: "main" });
    const reason = taskOf(run, "checkout").reason ?? "";
    expect(reason).toContain(`checkout: could not fetch main from ${httpUrl}`);
    expect(reason).toContain("terminal prompts disabled");
  });

  it("defaults to the commit and branch of the GitHub delivery that started the run", async () => {
    // A push to main whose head is the first commit (the branch has moved on since).
    const body = JSON.stringify({ ref: "refs/heads/main", after: commits.first, repository: { full_name: "acme/app" }, sender: { login: "octocat" } });
    const hooked = await fetch(`${gantry.hooksUrl}/hooks/github`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": signBody(WEBHOOK_SECRET, body) },
      body,
    });
    expect(hooked.status).toBe(202);
    const { runs } = (await hooked.json()) as { runs: { id: number }[] };
    const run = await waitForRun(gantry.api, "default/delivered", runs[0]!.id, 30_000);
    expect(run.state).toBe("successful");
    const src = join(deliveryOut, "src");
    expect(git(["rev-parse", "HEAD"], src)).toBe(commits.first);
    expect(git(["branch", "--show-current"], src)).toBe("main");
    const log = await readLog(gantry.api, "default/delivered", run.id, "checkout");
    expect(log).toContain(`at ${commits.first} (refs/heads/main) into src`);
  });
});

describe("checkout against an attacker", () => {
  it("refuses a ref from a variable that git would read as an option, and runs nothing", async () => {
    const marks = sharedDir("gantry-marks-");
    const pwned = join(marks, `pwned-${crypto.randomUUID()}`);
    const ref = `--upload-pack=touch ${pwned}`;
    // file:// and git:// alike: on a file:// or ssh remote git would run the "upload-pack".
    for (const repo of [fileUrl, daemonUrl]) {
      const { run } = await checkoutRun("co", { REPO: repo, REF: ref });
      const task = taskOf(run, "checkout");
      expect(task.state).toBe("failed");
      expect(task.reason).toContain(`checkout: ref "${ref}" (from "\${REF}") starts with "-", so git would read it as an option`);
      expect(task.reason).toContain("name a branch, a tag, a full ref (refs/...) or a full commit sha");
      expect(taskOf(run, "copy").state).toBe("skipped");
    }
    // Nor the same thing as a refspec or any other name git's check-ref-format refuses.
    for (const bad of ["main:refs/heads/evil", "a..b", "feature with space", "@{-1}"]) {
      const { run } = await checkoutRun("co", { REPO: fileUrl, REF: bad });
      expect(taskOf(run, "checkout").reason).toContain(`checkout: ref "${bad}" (from "\${REF}") is not a valid ref name (git check-ref-format)`);
    }
    expect(existsSync(pwned)).toBe(false);
    expect(readdirSync(marks)).toEqual([]);
  });

  it("refuses a repository from a variable that starts with -", async () => {
    const marks = sharedDir("gantry-marks-");
    // The second passed as user@host:path before, and reached `git config` as its option -f.
    for (const repo of [`--upload-pack=touch ${join(marks, "pwned")}@127.0.0.1:acme/app.git`, "-f@127.0.0.1:acme/app.git"]) {
      const { run } = await checkoutRun("co", { REPO: repo, REF: "main" });
      expect(taskOf(run, "checkout").reason).toContain(`checkout: repo "${repo}" starts with "-", so git would read it as an option`);
    }
    expect(readdirSync(marks)).toEqual([]);
  });

  it("replaces a .git planted in the folder: its hooks, fsmonitor and upload-pack never run", async () => {
    const marks = sharedDir("gantry-marks-");
    const scripts = sharedDir("gantry-plant-");
    // Each of these would leave a file in marks if git ran it.
    const script = (name: string, exit = 0) => {
      const path = writeFile(join(scripts, name), `#!/bin/sh\ntouch ${join(marks, name)}\nexit ${exit}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    const hooks = ["post-checkout", "reference-transaction", "pre-auto-gc", "post-index-change"];
    for (const hook of hooks) script(hook);
    const fsmonitor = script("fsmonitor", 1);
    // core.fsmonitor and an upload-pack command in .git/config, as a cache could bring them.
    const config = writeFile(join(scripts, "config"), `[core]\n\tfsmonitor = ${fsmonitor}\n[remote "origin"]\n\tuploadpack = \"touch ${join(marks, "upload-pack")}; git upload-pack\"\n`);
    const plant = writeFile(
      join(scripts, "plant.sh"),
      ["set -e", 'git init -q "$INTO"', ...hooks.map((hook) => `cp -p ${join(scripts, hook)} "$INTO/.git/hooks/${hook}"`), `cat ${config} >> "$INTO/.git/config"`, ""].join("\n"),
    );
    const out = sharedDir("gantry-checkout-");
    const started = await startRun(gantry.api, "default/planted", { REPO: fileUrl, REF: "main", INTO: "src", OUT: out, PLANT: plant });
    const run = await waitForRun(gantry.api, "default/planted", started.id, 30_000);
    expect(run.tasks.map((task) => `${task.id} ${task.state}${task.reason ? ` (${task.reason})` : ""}`).sort()).toEqual([
      "checkout successful",
      "copy successful",
      "plant successful",
    ]);
    // Nothing git might have run from the planted .git left its mark.
    expect(readdirSync(marks)).toEqual([]);
    const log = await readLog(gantry.api, "default/planted", run.id, "checkout");
    expect(log).toContain("checkout: replacing the .git already in src");
    const src = join(out, "src");
    expect(git(["rev-parse", "HEAD"], src)).toBe(commits.second);
    const localConfig = git(["config", "--list", "--local"], src);
    expect(localConfig).not.toContain("fsmonitor");
    expect(localConfig).not.toContain("uploadpack");
    expect(readdirSync(join(src, ".git"))).not.toContain("hooks");
  });

  it("gives the token to git's fetch alone: no git command has CHECKOUT_TOKEN in its environment", async () => {
    // A git first on the PATH (a run variable can set PATH) that notes what each command got.
    const bin = wrapperBin;
    const notes = join(sharedDir("gantry-notes-"), "git.log");
    const realGit = Bun.which("git")!;
    const wrapper = writeFile(
      join(bin, "git"),
      [
        "#!/bin/sh",
        'sub=""; for arg in "$@"; do case "$arg" in -*) ;; *) sub="$arg"; break ;; esac; done',
        'token=no; [ -n "${CHECKOUT_TOKEN+set}" ] && token=yes',
        "header=no; env | grep -q '^GIT_CONFIG_VALUE_[0-9]*=Authorization:' && header=yes",
        "hooks=no; env | grep -q '^GIT_CONFIG_KEY_[0-9]*=core.hooksPath$' && hooks=yes",
        `echo "$sub token=$token header=$header hooks=$hooks" >> ${notes}`,
        `exec ${realGit} "$@"`,
        "",
      ].join("\n"),
    );
    chmodSync(wrapper, 0o755);
    authorizations.length = 0;
    // PATH is the pipeline's own variable: a run may not set it.
    const { run } = await checkoutRun("wrapped", { REPO: httpUrl, REF: "main" });
    expect(run.state).toBe("successful");
    const lines = readFileSync(notes, "utf8").trim().split("\n");
    expect(lines).toContain("fetch token=no header=yes hooks=yes");
    for (const line of lines) {
      expect(line).toMatch(/token=no/);
      expect(line).toMatch(/hooks=yes/);
      if (!line.startsWith("fetch ")) expect(line).toMatch(/header=no/);
    }
    expect(lines.map((line) => line.split(" ")[0])).toEqual(["check-ref-format", "init", "config", "config", "fetch", "rev-parse", "checkout", "log"]);
  });
});

describe("checkout options", () => {
  it("refuses at load what can never work, so the file shows the error", () => {
    expect(() => checkout({ depth: 0 })).toThrow("depth must be a whole number of commits, 1 or more");
    expect(() => checkout({ into: "../elsewhere" })).toThrow('checkout: into "../elsewhere" must stay inside the workspace');
    expect(() => checkout({ into: "/etc" })).toThrow("must be a path inside the workspace");
    expect(() => checkout({ repo: "https://me:hunter2@example.com/a/b.git" })).toThrow("carries credentials");
    expect(() => checkout({ repo: "https://me:hunter2@example.com/a/b.git" })).not.toThrow("hunter2");
    expect(() => checkout({ repo: "not a repo" })).toThrow('repo "not a repo" is neither');
    expect(() => checkout({ repo: "git://127.0.0.1/a.git", token: secret("t") })).toThrow("a token is sent to http(s) repositories only");
    expect(() => checkout({ token: secret("t"), env: { CHECKOUT_TOKEN: "x" } })).toThrow("env.CHECKOUT_TOKEN is where the token goes");
    const pwned = `/tmp/pwned-${crypto.randomUUID()}`;
    expect(() => checkout({ ref: `--upload-pack=touch ${pwned}` })).toThrow(`checkout: ref "--upload-pack=touch ${pwned}" starts with "-", so git would read it as an option`);
    expect(() => checkout({ ref: "main:refs/heads/evil" })).toThrow('checkout: ref "main:refs/heads/evil" is not a valid ref name (git check-ref-format)');
    expect(() => checkout({ repo: "-oProxyCommand=touch@host:path" })).toThrow('checkout: repo "-oProxyCommand=touch@host:path" starts with "-"');
    expect(() => checkout({ repo: "--upload-pack@host:path" })).toThrow('checkout: repo "--upload-pack@host:path" starts with "-"');
    expect(existsSync(pwned)).toBe(false);
    // Every form of a ref: branch, branch with a slash, tag, full ref, sha (40 and 64), and a variable filled in later.
    for (const ref of ["main", "feature/x", "v1.0", "refs/pull/7/head", "refs/tags/v1.0", "a".repeat(40), "b".repeat(64), "${SHA}", "release/${VERSION}", ""]) {
      expect(() => checkout({ ref })).not.toThrow();
    }
  });

  it("is a run() task with the task options and the token as a secret in its env", () => {
    const task = checkout({ repo: "acme/api", token: secret("gh_token"), needs: { build: "success" }, timeout: "5m", retries: 2, env: { A: "b" } });
    expect(task.kind).toBe("run");
    expect(task).toMatchObject({ needs: { build: "success" }, timeout: "5m", retries: 2, env: { A: "b", CHECKOUT_TOKEN: { __gantry: "secret", name: "gh_token" } } });
    expect(Object.keys(task).sort()).toEqual(["env", "fn", "kind", "needs", "retries", "timeout"]);
  });
});

describe("the example pipeline (pipelines/examples/ci-checkout.ts)", () => {
  it("publishes the shipped sample app, checks it out, tests and builds it", async () => {
    // The example's files alone, in the namespace they ship in.
    const pipelinesDir = tempDir("gantry-pipelines-");
    const examples = join(REPO_ROOT, "pipelines", "examples");
    for (const name of ["ci-checkout.ts", "_read-folder.ts", "_sample-repo.ts", "sample-app"]) cpSync(join(examples, name), join(pipelinesDir, "examples", name), { recursive: true });
    const server = await startTestGantry({ pipelinesDir });
    try {
      await waitForPipeline(server.api, "examples/ci-checkout");
      const runs: RunJson[] = [];
      for (const variables of [undefined, { BRANCH: "v1.0.0" }]) {
        const started = await startRun(server.api, "examples/ci-checkout", variables);
        runs.push(await waitForRun(server.api, "examples/ci-checkout", started.id, 60_000));
      }
      for (const run of runs) {
        expect(run.tasks.map((task) => `${task.id} ${task.state}${task.reason ? ` (${task.reason})` : ""}`).sort()).toEqual([
          "build successful",
          "checkout successful",
          "publish successful",
          "test successful",
        ]);
      }
      const log = (run: RunJson, task: string) => readLog(server.api, "examples/ci-checkout", run.id, task);
      // A fixed author and date: the same commit every run, whatever the branch or tag asked for.
      const published = /main and v1\.0\.0 at ([0-9a-f]{40})/.exec(await log(runs[0]!, "publish"))![1]!;
      expect(await log(runs[1]!, "publish")).toContain(published);
      expect(await log(runs[0]!, "checkout")).toContain(`checked out ${published} on branch main: Sample app`);
      expect(await log(runs[1]!, "checkout")).toContain(`checked out ${published} (tag v1.0.0): Sample app`);
      expect(await log(runs[0]!, "test")).toContain("2 pass");
      expect(await log(runs[0]!, "build")).toMatch(/built app\/dist\/app\.js \(\d+ bytes\)/);
    } finally {
      await server.stop();
    }
  });
});
