// `gantry source ls|get|add|set|rm|sync`: the git repositories pipelines are loaded from —
// their settings, where each one's sync stands and what it loaded — and a sync on demand.
import * as v from "valibot";
import { formatDuration } from "../domain/duration.ts";
import { idSchema } from "../domain/ids.ts";
import { sourceNameSchema } from "../domain/sources.ts";
import { createApiClient } from "./api-client.ts";
import { sourceAnswer, sourceDetailAnswer, sourceListAnswer, sourceSyncAnswer, type CommitJson, type SourceJson, type SyncJson } from "../api-contract/answers.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { ago, formatTime, paint, printJson, table, truncate, type Style, printFacts } from "./output.ts";

/** Clears --auth or --hook-secret on `source set`. */
const NONE = "none";

const settingsOptions = {
  repo: { type: "string" },
  branch: { type: "string", short: "b" },
  path: { type: "string" },
  namespace: { type: "string", short: "n" },
  auth: { type: "string" },
  "hook-secret": { type: "string" },
  poll: { type: "string" },
  sync: { type: "boolean" },
  json: { type: "boolean" },
} as const;

/** A sync answers when done: a first clone of a big repository (git's own limit is 15 minutes). */
const SYNC_TIMEOUT_MS = 16 * 60_000;
const SETTINGS_USAGE = "[--branch main] [--path .gantry] [--namespace NS] [--auth secret:<name>] [--hook-secret secret:<name>] [--poll 1m|off] [--sync] [--json]";

/** Any source by name, "local" (the pipelines folder) included. */
function parseName(text: string): string {
  if (!v.is(idSchema, text)) throw new UsageError(`"${text}" is not a source name (1-64 characters of a-z, 0-9 and -)`);
  return text;
}

/** A git source's name: the local folder's cannot be added or changed. */
function parseGitSourceName(text: string): string {
  const checked = v.safeParse(sourceNameSchema, text);
  if (!checked.success) throw new UsageError(checked.issues[0].message);
  return text;
}

const sourcePath = (name: string) => `/sources/${encodeURIComponent(name)}`;

type SettingsFlags = Partial<Record<"repo" | "branch" | "path" | "namespace" | "auth" | "hook-secret" | "poll", string>>;

/** --poll as the API takes it: "1m", "30s", "off", or 0. */
const pollValue = (text: string): string | number => (text.trim() === "0" ? 0 : text.trim());

/**
 * The PUT body: `current` (a source's settings as the API shows them) with the flags given
 * laid over it. The server checks every field and names each problem.
 */
function settingsBody(flags: SettingsFlags, current: Partial<SourceJson> = {}): Record<string, unknown> {
  const secret = (flag: string | undefined, was: string | undefined) => (flag === NONE ? undefined : (flag ?? was));
  const body: Record<string, unknown> = {
    repo: flags.repo ?? current.repo,
    branch: flags.branch ?? current.branch,
    path: flags.path ?? current.path,
    namespace: flags.namespace ?? current.namespace,
    auth: secret(flags.auth, current.auth),
    hookSecret: secret(flags["hook-secret"], current.hookSecret),
    pollInterval: flags.poll === undefined ? current.pollInterval : pollValue(flags.poll),
  };
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

const add: Subcommand = {
  usage: `gantry source add <name> --repo <url> ${SETTINGS_USAGE}`,
  async run(args) {
    const { values, positionals } = parseArguments(args, settingsOptions);
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseGitSourceName(nameText!);
    if (values.repo === undefined) throw new UsageError("--repo is required: the repository's URL, e.g. https://github.com/team/app.git");
    return save(name, settingsBody(values), values);
  },
};

const set: Subcommand = {
  usage: `gantry source set <name> [--repo <url>] ${SETTINGS_USAGE}   (--auth none, --hook-secret none: drop them)`,
  async run(args) {
    const { values, positionals } = parseArguments(args, settingsOptions);
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseGitSourceName(nameText!);
    const changes = (["repo", "branch", "path", "namespace", "auth", "hook-secret", "poll"] as const).filter((flag) => values[flag] !== undefined);
    if (changes.length === 0) throw new UsageError("nothing to change: give at least one of --repo, --branch, --path, --namespace, --auth, --hook-secret, --poll");
    const { data } = await createApiClient().json("GET", sourcePath(name), sourceAnswer);
    return save(name, settingsBody(values, data.source), values);
  },
};

/** PUTs the settings, says what the source is now, and with --sync waits for a sync. */
async function save(name: string, body: Record<string, unknown>, options: { sync?: boolean; json?: boolean }): Promise<number> {
  const client = createApiClient();
  const saved = await client.json("PUT", sourcePath(name), sourceAnswer, body);
  if (!options.json) {
    // Said before the sync: a sync that fails (exit 2) leaves the source saved all the same.
    console.log(`${saved.status === 201 ? "created" : "updated"} source ${name}`);
    printFacts(settingsFacts(saved.data.source));
  }
  if (!options.sync) {
    if (options.json) printJson(saved.raw);
    else console.log(`it syncs in the background: gantry source sync ${name} waits for it, gantry source get ${name} shows how it went`);
    return 0;
  }
  const synced = await client.json("POST", `${sourcePath(name)}/sync`, sourceSyncAnswer, undefined, { timeoutMs: SYNC_TIMEOUT_MS });
  if (options.json) {
    printJson(synced.raw);
    return 0;
  }
  console.log();
  const outcome = synced.data.sync;
  // Saving starts a sync in the background and the one asked for here joins after it, so
  // "nothing new" only means the first sync already loaded the head: tell what that one did.
  const last = synced.data.source.lastSync;
  if (outcome?.unchanged && last) printSync(synced.data.source, { ...last, unchanged: false, ...(outcome.head && { head: outcome.head }) });
  else printSync(synced.data.source, outcome);
  printPipelines(synced.data.source);
  return 0;
}

const ls: Subcommand = {
  usage: "gantry source ls [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    takePositionals(positionals, []);
    const { data, raw } = await createApiClient().json("GET", "/sources", sourceListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.sources.length === 0) {
      console.log("no sources you may read");
      return 0;
    }
    const now = Date.now();
    const rows = data.sources.map((source) => [
      source.name,
      source.namespace ?? "-",
      source.branch ?? "-",
      paintSourceState(source.state),
      source.head ? `${shortSha(source.head.sha)} ${truncate(source.head.message, 50)}` : "-",
      source.kind === "git" ? ago(source.lastSyncAt, now) || "never" : "-",
      source.error ? paint("red", source.error) : "",
    ]);
    console.log(table(["NAME", "NAMESPACE", "BRANCH", "STATE", "HEAD", "LAST SYNC", "ERROR"], rows));
    return 0;
  },
};

const get: Subcommand = {
  usage: "gantry source get <name> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    const { data, raw } = await createApiClient().json("GET", sourcePath(name), sourceDetailAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    const { source, commits } = data;
    console.log(`${paint("bold", `source ${source.name}`)}  ${paintSourceState(source.state)}`);
    const facts = settingsFacts(source);
    if (source.head) facts.push(["head", `${describeCommit(source.head)}, ${formatTime(source.head.committedAt)}${source.head.url ? `  ${source.head.url}` : ""}`]);
    if (source.lastSyncAt) facts.push(["last sync", `${formatTime(source.lastSyncAt)} (${ago(source.lastSyncAt)})`]);
    if (source.lastCheckedAt) facts.push(["last check", `${formatTime(source.lastCheckedAt)} (${ago(source.lastCheckedAt)})`]);
    if (source.error) facts.push(["error", paint("red", source.error)]);
    printFacts(facts);
    // The last sync's failures and warnings stay visible until the next sync.
    if (source.lastSync && (source.lastSync.failures.length > 0 || source.lastSync.warnings.length > 0)) {
      console.log();
      console.log(paint("dim", `the last sync (${formatTime(source.lastSync.at)}):`));
      printSync(source, { ...source.lastSync, unchanged: false, ...(source.head && { head: source.head }) });
    }
    printPipelines(source);
    if (commits.length) {
      console.log();
      const rows = commits.map((commit) => [
        shortSha(commit.sha),
        commit.loaded ? paint("green", "✓") : "",
        commit.author,
        formatTime(commit.committedAt),
        commit.message,
      ]);
      console.log(table(["COMMIT", "LOADED", "AUTHOR", "DATE", "MESSAGE"], rows));
    }
    return 0;
  },
};

const rm: Subcommand = {
  usage: "gantry source rm <name>",
  async run(args) {
    const { positionals } = parseArguments(args, {});
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    // 204, no body: read as bytes, which asks nothing of the answer but an ok status.
    await createApiClient().bytes("DELETE", sourcePath(name));
    console.log(`deleted source ${name}: its pipelines are retired (their runs and versions stay readable)`);
    return 0;
  },
};

const sync: Subcommand = {
  usage: "gantry source sync <name> [--json]   (exit 0 when the sync ran, files that failed to load included)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    // An unreachable repository is the server's 502 with its reason: exit 2, like every failed request.
    const { data, raw } = await createApiClient().json("POST", `${sourcePath(name)}/sync`, sourceSyncAnswer, undefined, { timeoutMs: SYNC_TIMEOUT_MS });
    if (values.json) {
      printJson(raw);
      return 0;
    }
    printSync(data.source, data.sync);
    return 0;
  },
};

export function sourceCommand(args: string[]): Promise<number> {
  return dispatch("source", args, { ls, get, add, set, rm, sync }, { list: "ls", show: "get", delete: "rm", remove: "rm" });
}

/**
 * "synced ops to 1a2b3c4 "message" (author): 3 new commits, 2 loaded", then the versions it
 * made, the files that failed to load (in red: they keep their last good version) and warnings.
 */
function printSync(source: SourceJson, outcome: SyncJson | undefined): void {
  if (!outcome) {
    const count = source.pipelines.length;
    console.log(`rescanned the local pipelines folder ${source.path}: ${count} pipeline${count === 1 ? "" : "s"}`);
    return;
  }
  const at = outcome.head ? ` ${describeCommit(outcome.head)}` : "";
  if (outcome.unchanged) {
    console.log(`${source.name} is up to date at${at || " no commit"}: nothing new on the remote`);
  } else {
    const commits = `${outcome.commits} new commit${outcome.commits === 1 ? "" : "s"}, ${outcome.loaded} loaded`;
    console.log(`synced ${source.name} to${at || " no commit"}: ${commits}`);
  }
  if (outcome.versions.length) {
    console.log(`versions: ${outcome.versions.map((made) => `${made.pipeline} v${made.version} (${shortSha(made.commit)})`).join(", ")}`);
  } else if (!outcome.unchanged) {
    console.log("versions: none new");
  }
  if (outcome.failures.length) {
    console.log(paint("red", `failures (${outcome.failures.length}; their pipelines keep their last good version):`));
    for (const failure of outcome.failures) {
      for (const issue of failure.issues) {
        console.log(`  ${failure.file} at ${shortSha(failure.commit)}: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
      }
    }
  }
  if (outcome.warnings.length) {
    console.log(paint("yellow", "warnings:"));
    for (const warning of outcome.warnings) console.log(`  ${warning}`);
  }
}

/** The pipelines a source defines now, with the load error of each that has one. */
function printPipelines(source: SourceJson): void {
  console.log();
  if (source.pipelines.length === 0) {
    console.log(source.kind === "git" && source.state !== "ok" ? "no pipelines loaded yet" : `no pipelines in ${source.path}`);
    return;
  }
  const issueText = (issue: { path: string; message: string }) => `${issue.path ? `${issue.path}: ` : ""}${issue.message}`;
  const rows = source.pipelines.map((pipeline) => [
    `${pipeline.namespace}/${pipeline.id}`,
    pipeline.file,
    pipeline.error ? paint("red", `load error: ${pipeline.error.issues.map(issueText).join("; ")}`) : paint("green", "ok"),
  ]);
  console.log(table(["PIPELINE", "FILE", "STATUS"], rows));
}

/** What a source is set to, as label/value pairs. */
function settingsFacts(source: SourceJson): [string, string][] {
  if (source.kind !== "git") return [["folder", source.path]];
  const facts: [string, string][] = [
    ["repo", source.repo ?? ""],
    ["branch", source.branch ?? ""],
    ["path", source.path],
    ["namespace", source.namespace ?? ""],
  ];
  if (source.auth) facts.push(["auth", source.auth]);
  if (source.hookSecret) {
    facts.push(["hook secret", `${source.hookSecret} (POST /hooks/sources/${source.name} on the hooks listener, signed with X-Gantry-Signature-256)`]);
  }
  if (source.pollInterval !== undefined) {
    facts.push(["polling", source.pollInterval === 0 ? "off (webhooks and manual syncs only)" : `every ${formatDuration(source.pollInterval)}`]);
  }
  if (source.definedIn === "config") facts.push(["defined in", "gantry.toml (change or remove it there)"]);
  return facts;
}

/** `1a2b3c4 "message" (author)`; pipeline versions and runs name their commits the same way. */
export function describeCommit(commit: CommitJson): string {
  return `${shortSha(commit.sha)} "${commit.message}" (${commit.author})`;
}

export const shortSha = (sha: string) => sha.slice(0, 7);

const SOURCE_STATE_STYLE: Record<string, Style> = { new: "dim", syncing: "cyan", ok: "green", error: "red" };

function paintSourceState(state: string): string {
  const style = SOURCE_STATE_STYLE[state];
  return style ? paint(style, state) : state;
}
