// checkout(): a run() task that fetches a git repository into the run's workspace.
// index.ts re-exports this module at its end; the import of index.ts below is a cycle that
// holds because nothing here runs run() before both modules have loaded.
// No node: imports at the top: every run() task loads the SDK.
import { workspacePathProblem } from "../domain/task-files.ts";
import { run, secret, type RunOptions, type RunTask, type SecretRef, type TaskContext } from "./index.ts";
import { GITHUB_TOKEN_SECRET } from "../domain/github-token.ts";

/** Options of {@link checkout}: what to fetch and where, and any option of a `run()` task (needs, timeout, retries, env...). */
export interface CheckoutOptions extends RunOptions {
  /**
   * The repository: `"owner/name"` (GitHub over https), a URL (`https://`, `http://`, `ssh://`,
   * `git://`, `file://`), `user@host:path` or an absolute path. `${VAR}` is replaced by the task's
   * environment (variables, run variables, `GANTRY_*`). By default the repository of the GitHub
   * delivery that started the run (`GANTRY_GITHUB_REPO`). Never put a password in it: use `token`.
   */
  repo?: string;
  /**
   * A branch, a tag, a full ref (`refs/pull/7/head`) or a full commit sha; `${VAR}` as in `repo`
   * (an empty value means the default). By default the delivery's commit (`GANTRY_GITHUB_SHA`)
   * when the repository is the delivery's (no `repo`, `"owner/name"` of it, or a URL ending in
   * `/owner/name[.git]`), else the remote's default branch (HEAD). Anything else (a name
   * `git check-ref-format --allow-onelevel` refuses, or one starting with `-`) fails the task.
   */
  ref?: string;
  /** Fetch only this many commits of history (`1`: the commit alone, fastest). The whole history by default. */
  depth?: number;
  /**
   * The folder in the workspace to check out into, made if missing; `${VAR}` as in `repo`. The
   * workspace itself (`"."`) by default, so later tasks find the project at `GANTRY_WORKSPACE`;
   * files already there stay (a tracked file of the same name is overwritten). A `.git` already
   * there (an earlier task's, an artifact's, a cache's) is replaced by a new one: git uses no
   * settings, hooks or objects the checkout did not make itself.
   */
  into?: string;
  /**
   * An access token for an http(s) repository, e.g. `secret("gh_token")` (a GitHub token works as
   * is). It reaches the task as the secret env variable `CHECKOUT_TOKEN`, so the log masks it, and
   * git's fetch alone gets it as an HTTP header for the repository's host through its environment:
   * it is never on a command line, in the remote URL, in `.git/config` or in the environment of
   * any other git command. Without one, a checkout of the delivery's own repository (https) in
   * a run the github extension started takes the GitHub App's installation token for the run
   * (read-only, for that repository; `secret("github-app-token")`), so private repositories work.
   */
  token?: SecretRef;
}

/** The environment variable the `token` reaches the checkout task in. */
const CHECKOUT_TOKEN_ENV = "CHECKOUT_TOKEN";
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
const GITHUB_NAME = /^[\w.-]+\/[\w.-]+$/;
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const SCP_LIKE = /^[\w.-]+@[\w.-]+:/;
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * What git reads to pick the repository, index, objects and config it works with
 * (`git rev-parse --local-env-vars`, and the `GIT_CONFIG_KEY_<n>`/`_VALUE_<n>` that go with
 * `GIT_CONFIG_COUNT`): left out of git's environment, so that the task's variables (run
 * variables among them) can neither point git elsewhere nor undo the settings below.
 */
const GIT_REPOSITORY_ENV = new Set([
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_CONFIG",
  "GIT_CONFIG_PARAMETERS",
  "GIT_CONFIG_COUNT",
  "GIT_CONFIG_GLOBAL",
  "GIT_OBJECT_DIRECTORY",
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_IMPLICIT_WORK_TREE",
  "GIT_GRAFT_FILE",
  "GIT_INDEX_FILE",
  "GIT_NO_REPLACE_OBJECTS",
  "GIT_REPLACE_REF_BASE",
  "GIT_PREFIX",
  "GIT_INTERNAL_SUPER_PREFIX",
  "GIT_SHALLOW_FILE",
  "GIT_COMMON_DIR",
  "GIT_TEMPLATE_DIR",
]);
const GIT_CONFIG_ENTRY = /^GIT_CONFIG_(?:KEY|VALUE)_\d+$/;

/**
 * Settings every git command of a checkout runs with, as `GIT_CONFIG_*` (they win over any
 * config file): no hooks, no fsmonitor command, and only the transports a `repo` may name
 * (no `ext::` command, no other remote helper).
 */
const SAFE_GIT_CONFIG: [string, string][] = [
  ["core.hooksPath", "/dev/null"],
  ["core.fsmonitor", "false"],
  ["protocol.allow", "never"],
  ["protocol.ext.allow", "never"],
  ...["file", "git", "http", "https", "ssh"].map((protocol): [string, string] => [`protocol.${protocol}.allow`, "always"]),
];

/**
 * A task that fetches a git repository into the run's workspace, at a branch, tag or commit,
 * and logs the repository, the ref and the commit it checked out. Later tasks (containers or
 * `run()`) find the files in the workspace. A ref that does not exist fails the task with
 * git's error and the ref named. git runs in the task's sandbox (the network is on unless
 * `network: "none"`); a `file://` repository must be in the workspace or in a path the admin
 * binds into sandboxes (`GANTRY_RUN_SANDBOX_PATHS`).
 *
 * @example
 * ```ts
 * // The commit a GitHub push or pull request started the run for (github trigger), into the workspace.
 * source: checkout(),
 * // A private repository, shallow: the token is masked in the log and never written to .git/config.
 * api: checkout({ repo: "acme/api", ref: "main", depth: 1, token: secret("gh_token") }),
 * // A tag, into a folder, after another task.
 * lib: checkout({ repo: "https://git.example.com/acme/lib.git", ref: "v2.1.0", into: "vendor/lib", needs: { source: "success" } }),
 * // From a generic webhook: webhook({ secret: secret("hook"), variables: { REPO: "repository.clone_url", SHA: "after" } })
 * hooked: checkout({ repo: "${REPO}", ref: "${SHA}", timeout: "5m", retries: 2 }),
 * ```
 */
export function checkout(options: CheckoutOptions = {}): RunTask {
  const { repo, ref, depth, into, token, ...taskOptions } = options;
  // What can be checked without the run's environment is checked here: a mistake is a load
  // error of the pipeline file, not a failed run.
  if (depth !== undefined && (!Number.isInteger(depth) || depth < 1)) {
    throw checkoutError(`checkout: depth must be a whole number of commits, 1 or more (got ${String(depth)})`);
  }
  if (into !== undefined && !into.includes("${")) checkoutFolderProblem(into);
  if (repo !== undefined && !repo.includes("${")) repositoryUrl(repo);
  if (ref !== undefined && ref !== "" && !ref.includes("${")) checkRef(ref, ref);
  if (token !== undefined) {
    if (typeof token !== "object" || token === null || token.__gantry !== "secret") {
      throw checkoutError('checkout: token must be secret("name"): the value stays in the secret store and is masked in the log');
    }
    if (taskOptions.env?.[CHECKOUT_TOKEN_ENV] !== undefined) throw checkoutError(`checkout: env.${CHECKOUT_TOKEN_ENV} is where the token goes; set one or the other`);
    if (repo !== undefined && !repo.includes("${")) tokenProblem(repositoryUrl(repo));
  }
  const spec: CheckoutSpec = { repo, ref, depth, into, withToken: token !== undefined };
  // Without a token of its own, a checkout of the delivery's repository takes the GitHub App's
  // installation token for the run ("" when the run has none: a public clone then).
  const appToken = token === undefined && taskOptions.env?.[CHECKOUT_TOKEN_ENV] === undefined ? secret(GITHUB_TOKEN_SECRET) : undefined;
  const env = token !== undefined ? { ...taskOptions.env, [CHECKOUT_TOKEN_ENV]: token } : appToken ? { ...taskOptions.env, [CHECKOUT_TOKEN_ENV]: appToken } : taskOptions.env;
  return run((ctx) => runCheckout(ctx, spec), { ...taskOptions, ...(env !== undefined && { env }) });
}

interface CheckoutSpec {
  repo?: string;
  ref?: string;
  depth?: number;
  into?: string;
  withToken: boolean;
}

/** What the checkout asks the remote for, and how the log names it. */
interface WantedRef {
  fetch: string;
  shown: string;
  /** Where `fetch` came from when it is not what `ref` said: the variable a delivery set. */
  from?: string;
  /** The local branch to leave checked out (the delivery's branch); otherwise found from what was fetched. */
  branch?: string;
}

async function runCheckout(ctx: TaskContext, spec: CheckoutSpec): Promise<void> {
  const env = ctx.env;
  const source = (spec.repo !== undefined ? expandVariables(spec.repo, env, "repo") : "") || env.GANTRY_GITHUB_REPO;
  if (!source) {
    throw checkoutError('checkout: no repository to fetch: name one (repo: "owner/name" or a URL), or start the run from a GitHub delivery (GANTRY_GITHUB_REPO)');
  }
  const url = repositoryUrl(source);
  const askedRef = spec.ref !== undefined ? expandVariables(spec.ref, env, "ref") : "";
  const wanted = wantedRef(askedRef, source, env);
  // A ref often comes from a run or webhook variable: it must be a ref, never an option of git.
  if (wanted.fetch !== "HEAD") checkRef(wanted.fetch, askedRef ? spec.ref! : wanted.from!);
  if (wanted.branch !== undefined) checkRef(wanted.branch, "GANTRY_GITHUB_REF");
  const into = spec.into !== undefined ? expandVariables(spec.into, env, "into") || "." : ".";
  checkoutFolderProblem(into);
  const target = into === "." || into === "./" ? ctx.workspace : `${ctx.workspace}/${into.replace(/\/+$/, "")}`;
  if (spec.withToken) tokenProblem(url);
  // The App's token goes only to the delivery's own repository over http(s), never elsewhere.
  const delivery = env.GANTRY_GITHUB_REPO;
  const appToken = !spec.withToken && delivery && isDeliveryRepository(source, delivery) && /^https:\/\//i.test(url) ? env[CHECKOUT_TOKEN_ENV] : undefined;
  const token = spec.withToken ? env[CHECKOUT_TOKEN_ENV] : appToken || undefined;
  if (spec.withToken && !token) throw checkoutError(`checkout: the token's secret is empty`);
  if (appToken) ctx.log("checkout: with the GitHub App's installation token for this run");

  // git's settings for these commands alone: a config file of their own stands in for
  // ~/.gitconfig (HOME may be missing or read-only), and the rest travels in GIT_CONFIG_*
  // variables, which git reads as `-c` options without a command line anyone can see.
  const configFile = `${env.TMPDIR || "/tmp"}/gantry-checkout-${crypto.randomUUID()}.gitconfig`;
  // safe.directory: a file:// repository or a workspace made by another user (the test's, a
  // container's root) is one the pipeline named itself; git would refuse it as "dubious". The
  // .git in the target is always one this checkout made (below), so it trusts nothing planted.
  await Bun.write(configFile, "[safe]\n\tdirectory = *\n[advice]\n\tdetachedHead = false\n[init]\n\tdefaultBranch = main\n");
  const gitEnv = gitEnvironment(env, configFile, SAFE_GIT_CONFIG);
  // The token goes to the fetch alone, scoped to the repository's host: nothing else git might
  // be sent to gets it, and no other git command has it in its environment.
  const fetchEnv = token
    ? gitEnvironment(env, configFile, [
        ...SAFE_GIT_CONFIG,
        [`http.${new URL(url).origin}/.extraHeader`, `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`],
      ])
    : gitEnv;
  const git = async (args: string[], cwd = target, environment = gitEnv) => {
    const out = await ctx.$`git ${args}`.cwd(cwd).env(environment).quiet().nothrow();
    return { ok: out.exitCode === 0, stdout: out.stdout.toString().trim(), stderr: out.stderr.toString().trim() || `git exited with code ${out.exitCode}` };
  };
  const must = async (args: string[], what: string) => {
    const result = await git(args);
    if (!result.ok) throw checkoutError(`checkout: ${what}: ${result.stderr}`);
    return result.stdout;
  };

  try {
    // git's own word on the ref too (checkRef above is its rules, for a clear message early).
    if (wanted.fetch !== "HEAD" && !FULL_SHA.test(wanted.fetch)) {
      const format = await git(["check-ref-format", "--allow-onelevel", wanted.fetch], ctx.workspace);
      if (!format.ok) throw checkoutError(refError(askedRef ? spec.ref! : wanted.from!, wanted.fetch, "is not a valid ref name (git check-ref-format)"));
    }
    ctx.log(`checkout: ${url} at ${wanted.shown} into ${into}${spec.depth ? ` (depth ${spec.depth})` : ""}`);
    // A .git already in the folder (an earlier task's, an artifact's, a cache's) could carry
    // hooks, an fsmonitor or upload-pack command, filters, a gitfile pointing elsewhere or
    // replaced objects: it goes, and git starts from a repository of its own.
    const { lstat, rm } = await import("node:fs/promises");
    if (await lstat(`${target}/.git`).then(() => true, () => false)) {
      ctx.log(`checkout: replacing the .git already in ${into}`);
      await rm(`${target}/.git`, { recursive: true, force: true }).catch((error: Error) => {
        throw checkoutError(`checkout: could not remove the .git already in ${into}: ${error.message}`);
      });
    }
    // init + fetch rather than clone: it works in a folder that is not empty (the workspace
    // holds other tasks' files) and again on a retry, and fetches just the one ref. No
    // template: nothing but what git needs (and GIT_TEMPLATE_DIR cannot add a config).
    const init = await git(["init", "-q", "--template=", "--end-of-options", target], ctx.workspace);
    if (!init.ok) throw checkoutError(`checkout: could not make a repository in ${into}: ${init.stderr}`);
    await must(["config", "--end-of-options", "remote.origin.url", url], "could not set the remote");
    await must(["config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"], "could not set the remote");
    // --end-of-options: whatever the ref, git reads it as a ref (checkRef refused a leading "-" already).
    const fetch = ["fetch", "--no-tags", ...(spec.depth ? [`--depth=${spec.depth}`] : []), "--end-of-options", "origin", wanted.fetch];
    ctx.log(`$ git ${fetch.join(" ")}`);
    const fetched = await git(fetch, target, fetchEnv);
    if (!fetched.ok) throw checkoutError(fetchError(wanted, url, fetched.stderr));
    // FETCH_HEAD says what the name was: "<sha>\t\tbranch 'main' of <url>" (or tag '...').
    const fetchHead = (await Bun.file(await must(["rev-parse", "--path-format=absolute", "--git-path", "FETCH_HEAD"], "could not read FETCH_HEAD")).text()).split("\n")[0] ?? "";
    const fetchedAs = /\t(branch|tag) '(.+)' of /.exec(fetchHead);
    const branch = wanted.branch ?? (fetchedAs?.[1] === "branch" ? fetchedAs[2] : undefined);
    if (fetchedAs?.[1] === "tag") await must(["update-ref", "--end-of-options", `refs/tags/${fetchedAs[2]}`, "FETCH_HEAD"], "could not keep the tag");
    // (git 2.39's checkout mistakes --end-of-options for a path: the branch is -B's value, never an option.)
    await must(["checkout", "-q", "--force", ...(branch ? ["-B", branch] : ["--detach"]), "FETCH_HEAD"], `could not check out ${wanted.shown}`);
    const [sha, ...subject] = (await must(["log", "-1", "--format=%H %s"], "could not read the commit")).split(" ");
    ctx.log(`checked out ${sha}${branch ? ` on branch ${branch}` : fetchedAs?.[1] === "tag" ? ` (tag ${fetchedAs[2]})` : ""}: ${subject.join(" ")}`);
  } finally {
    await Bun.file(configFile)
      .delete()
      .catch(() => {});
  }
}

/**
 * git's environment: the task's, without the token and the variables that would point git at
 * another repository or config (GIT_REPOSITORY_ENV), with its own global config file and
 * `config` as the GIT_CONFIG_* settings.
 */
function gitEnvironment(env: Readonly<Record<string, string>>, configFile: string, config: [string, string][]): Record<string, string> {
  const gitEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name === CHECKOUT_TOKEN_ENV || GIT_REPOSITORY_ENV.has(name) || GIT_CONFIG_ENTRY.test(name)) continue;
    gitEnv[name] = value;
  }
  gitEnv.GIT_CONFIG_GLOBAL = configFile;
  // Nobody can answer a password prompt here: fail at once instead.
  gitEnv.GIT_TERMINAL_PROMPT = "0";
  // English messages, so a missing ref is recognised below.
  gitEnv.LC_ALL = "C";
  config.forEach(([key, value], index) => {
    gitEnv[`GIT_CONFIG_KEY_${index}`] = key;
    gitEnv[`GIT_CONFIG_VALUE_${index}`] = value;
  });
  gitEnv.GIT_CONFIG_COUNT = String(config.length);
  return gitEnv;
}

/**
 * An error that reads as its message alone: the task log shows a thrown error's stack, and
 * the SDK's own frames would tell a pipeline's author nothing.
 */
function checkoutError(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  return error;
}

/** `${NAME}` replaced by the task's environment; an unset one is an error naming it. */
function expandVariables(text: string, env: Readonly<Record<string, string>>, what: string): string {
  return text.replace(VARIABLE, (_, name: string) => {
    const value = env[name];
    if (value === undefined) throw checkoutError(`checkout: ${what} "${text}" uses \${${name}}, which is not set in the task's environment`);
    return value;
  });
}

/** Throws unless `into` is a folder inside the workspace. */
function checkoutFolderProblem(into: string): void {
  const problem = workspacePathProblem(into);
  if (problem) throw checkoutError(`checkout: into "${into}" ${problem}`);
}

/**
 * Throws unless `ref` (what `written`, a `ref` option or a variable's name, came to) is a full
 * commit sha or a name `git check-ref-format --allow-onelevel` takes, not starting with `-`:
 * git would read "--upload-pack=..." as an option, and run it.
 */
function checkRef(ref: string, written: string): void {
  if (FULL_SHA.test(ref)) return;
  if (ref.startsWith("-")) throw checkoutError(refError(written, ref, 'starts with "-", so git would read it as an option'));
  if (!isRefName(ref)) throw checkoutError(refError(written, ref, "is not a valid ref name (git check-ref-format)"));
}

function refError(written: string, ref: string, problem: string): string {
  const named = written === ref ? `ref "${ref}"` : `ref "${ref}" (from ${written.startsWith("GANTRY_") ? written : `"${written}"`})`;
  return `checkout: ${named} ${problem}: name a branch, a tag, a full ref (refs/...) or a full commit sha`;
}

/** git's rules for a ref name (`git check-ref-format --allow-onelevel`). */
function isRefName(ref: string): boolean {
  if (ref === "" || ref === "@" || ref.startsWith("/") || ref.endsWith("/") || ref.endsWith(".")) return false;
  // Control characters, space, ~ ^ : ? * [ \, "..", "@{", "//".
  if (/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\//.test(ref)) return false;
  return ref.split("/").every((part) => !part.startsWith(".") && !part.endsWith(".lock"));
}

/** The URL git fetches from; refuses credentials written into it (they would end up in .git/config). */
function repositoryUrl(repo: string): string {
  if (repo.startsWith("-")) throw checkoutError(`checkout: repo "${repo}" starts with "-", so git would read it as an option`);
  if (GITHUB_NAME.test(repo) && !repo.startsWith(".")) return `https://github.com/${repo.replace(/\.git$/, "")}.git`;
  if (URL_SCHEME.test(repo)) {
    let parsed: URL;
    try {
      parsed = new URL(repo);
    } catch {
      throw checkoutError(`checkout: repo "${repo}" is not a valid URL`);
    }
    const http = parsed.protocol === "http:" || parsed.protocol === "https:";
    if (parsed.password || (http && parsed.username)) {
      throw checkoutError(`checkout: repo ${parsed.protocol}//${parsed.host}${parsed.pathname} carries credentials; give them as token: secret("...") so they are masked and stay out of .git/config`);
    }
    return repo;
  }
  if (repo.startsWith("/") || SCP_LIKE.test(repo)) return repo;
  throw checkoutError(`checkout: repo "${repo}" is neither "owner/name", a URL (https://, ssh://, git://, file://), user@host:path nor an absolute path`);
}

/** Throws when a token cannot be used with this repository: only http(s) sends the header. */
function tokenProblem(url: string): void {
  if (!/^https?:\/\//i.test(url)) throw checkoutError(`checkout: a token is sent to http(s) repositories only; ${url} is not one`);
}

/** Whether a repository (as written in `repo`) is the delivery's `owner/name`. */
function isDeliveryRepository(repo: string, delivery: string): boolean {
  const name = delivery.toLowerCase();
  const written = repo.toLowerCase().replace(/\/+$/, "").replace(/\.git$/, "");
  return written === name || written.endsWith(`/${name}`) || written.endsWith(`:${name}`);
}

/** The ref asked for; else the delivery's commit when this is its repository; else the remote's default branch. */
function wantedRef(asked: string, repo: string, env: Readonly<Record<string, string>>): WantedRef {
  if (asked) return { fetch: FULL_SHA.test(asked) ? asked.toLowerCase() : asked, shown: asked };
  const delivery = env.GANTRY_GITHUB_REPO;
  if (delivery && isDeliveryRepository(repo, delivery)) {
    const sha = env.GANTRY_GITHUB_SHA;
    const ref = env.GANTRY_GITHUB_REF;
    const branch = ref?.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined;
    if (sha) return { fetch: sha, shown: `${sha}${ref ? ` (${ref})` : ""}`, from: "GANTRY_GITHUB_SHA", ...(branch && { branch }) };
    // A release delivery names its tag, not a commit.
    if (ref) return { fetch: ref, shown: ref, from: "GANTRY_GITHUB_REF" };
  }
  return { fetch: "HEAD", shown: "the default branch (HEAD)" };
}

/** The task's error when a fetch fails: a missing ref is named as such, anything else as git says it. */
function fetchError(wanted: WantedRef, url: string, stderr: string): string {
  const missing = /couldn't find remote ref|not our ref|unadvertised object|no such ref|invalid refspec|is not a valid ref/i.test(stderr);
  if (!missing) return `checkout: could not fetch ${wanted.shown} from ${url}: ${stderr}`;
  const hint = /^[0-9a-f]{4,39}$/i.test(wanted.fetch) ? " (a commit is fetched by its full sha)" : "";
  return `ref ${wanted.shown} not found in ${url}${hint}: ${stderr}`;
}
