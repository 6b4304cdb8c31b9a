// Built-in "github" extension: a GitHub App's webhook at POST /hooks/github. Checks
// X-Hub-Signature-256, starts runs of pipelines whose github({ repo, events, branches })
// matches a push, pull_request or release, hands the event's fields to tasks as
// GANTRY_GITHUB_* variables, reports each run's result back as a check run, and gives its
// runs' tasks a fresh installation token for the delivery's repository (secret("github-app-token")).
// GitHub's own libraries do the App's part: @octokit/auth-app (the App's JWT, installation
// tokens and their cache), @octokit/request (its API) and @octokit/webhooks-methods (signatures).
import { createAppAuth } from "@octokit/auth-app";
import { request as octokitRequest } from "@octokit/request";
import { verify } from "@octokit/webhooks-methods";
import * as v from "valibot";
import { defineExtension, GITHUB_TOKEN_SECRET, githubTriggerMatches, readGithubEvent, type ExtensionApi, type FinishedRun, type HookResponse, type StartedRun, type TokenRequest } from "gantry";

const MAX_DELIVERY_ID_LENGTH = 256;
const SIGNATURE_HEADER = "x-hub-signature-256";
const EVENT_HEADER = "x-github-event";
const DELIVERY_HEADER = "x-github-delivery";
const CONCLUSIONS: Record<FinishedRun["state"], string> = { successful: "success", failed: "failure", cancelled: "cancelled" };
/**
 * A task's token is reused only while this much of its hour is left: a task may run a while
 * after it gets one (a clone, a fetch of submodules), unlike a check run posted at once.
 */
const TASK_TOKEN_MARGIN_MS = 15 * 60_000;
/** What a task's token may do: read the repository's contents (clone, fetch), nothing else. */
const TASK_TOKEN_PERMISSIONS = { contents: "read" };

const configSchema = v.pipe(
  v.object({
    appId: v.pipe(v.union([v.string(), v.number()]), v.transform(String), v.minLength(1)),
    /** The App's private key (PEM, PKCS#1 as GitHub hands it out, or PKCS#8). */
    privateKey: v.optional(v.pipe(v.string(), v.minLength(1))),
    privateKeyFile: v.optional(v.pipe(v.string(), v.minLength(1))),
    webhookSecret: v.pipe(v.string(), v.minLength(1)),
    apiUrl: v.optional(v.pipe(v.string(), v.url(), v.transform((url) => url.replace(/\/+$/, ""))), "https://api.github.com"),
  }),
  v.check((config) => config.privateKey !== undefined || config.privateKeyFile !== undefined, "privateKey or privateKeyFile is required"),
);

const paramsSchema = v.object({
  repo: v.pipe(v.string(), v.regex(/^[\w.-]+\/[\w.-]+$/, 'must be "owner/name"')),
  events: v.pipe(
    v.array(v.pipe(v.string(), v.regex(/^(push|pull_request|release)(\.[a-z_]+)?$/, 'must be push, pull_request or release, optionally with an action ("pull_request.opened")'))),
    v.minLength(1),
  ),
  branches: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
});

type Config = v.InferOutput<typeof configSchema>;
type Params = v.InferOutput<typeof paramsSchema>;
type Api = ExtensionApi<Config, Params>;

/** Where a run's check run is; kept in extension state under the run's key. */
interface CheckTarget {
  repo: string;
  sha: string;
  installation: number;
  /** The check run made (in progress) when the run started; absent when making it failed. */
  checkRun?: number;
}

const answer = (status: number, code: string, message: string): HookResponse => ({ status, body: { error: { code, message } } });

/** Tokens being minted, by installation (and repository): tasks starting together share one request. */
const minting = new Map<string, Promise<string>>();
/** Runs started here with where their check run goes (also in state, for a restarted worker). */
const checks = new Map<string, CheckTarget>();
/** Check runs being made for runs that just started: the end's report waits for its start's. */
const checkStarts = new Map<string, Promise<void>>();
const runKey = (run: { namespace: string; pipeline: string; run: number }) => `check:${run.namespace}/${run.pipeline}#${run.run}`;

/** The App: its auth (the JWT, installation tokens, their cache) and requests to GitHub's API, made once for the worker's config. */
let app: Promise<{ auth: ReturnType<typeof createAppAuth>; request: typeof octokitRequest }> | undefined;

function appOf(config: Config) {
  app ??= (async () => {
    const privateKey = config.privateKey ?? (await Bun.file(config.privateKeyFile!).text());
    const request = octokitRequest.defaults({ baseUrl: config.apiUrl, headers: { "user-agent": "gantry", "x-github-api-version": "2022-11-28" } });
    return { auth: createAppAuth({ appId: config.appId, privateKey, request }), request };
  })().catch((error: unknown) => {
    app = undefined;
    throw error;
  });
  return app;
}

/** GitHub's refusal as "<METHOD> <path>: <status> <message>", what the task or the log shows. */
function describeGithubError(error: unknown): Error {
  const failed = error as { status?: number; message?: string; request?: { method?: string; url?: string } };
  if (typeof failed.status !== "number" || !failed.request?.url) return error instanceof Error ? error : new Error(String(error));
  const path = new URL(failed.request.url).pathname;
  return new Error(`${failed.request.method ?? "GET"} ${path}: ${failed.status} ${failed.message ?? ""}`.trim(), { cause: error });
}

/** A call to GitHub's API with an installation token. */
async function github(config: Config, route: string, token: string, parameters: Record<string, unknown>): Promise<unknown> {
  const { request } = await appOf(config);
  try {
    return (await request(route, { ...parameters, headers: { authorization: `Bearer ${token}` } })).data;
  } catch (error) {
    throw describeGithubError(error);
  }
}

/**
 * An installation token. With `repo` ("owner/name") it is limited to that repository with
 * contents: read (auth-app caches it apart from the full one), and a cached one is used only
 * while `marginMs` of it is left.
 */
async function installationToken(config: Config, installation: number, scope?: { repo: string; marginMs: number }): Promise<string> {
  const key = scope ? `${installation} ${scope.repo.toLowerCase()}` : String(installation);
  const inFlight = minting.get(key);
  if (inFlight) return inFlight;
  const mint = (async () => {
    const { auth } = await appOf(config);
    const options = {
      type: "installation" as const,
      installationId: installation,
      // GitHub takes repository names without the owner: the installation's account owns them.
      ...(scope && { repositoryNames: [scope.repo.slice(scope.repo.indexOf("/") + 1)], permissions: TASK_TOKEN_PERMISSIONS }),
    };
    try {
      let minted = await auth(options);
      if (scope && Date.parse(minted.expiresAt) - scope.marginMs <= Date.now()) minted = await auth({ ...options, refresh: true });
      return minted.token;
    } catch (error) {
      throw describeGithubError(error);
    }
  })();
  minting.set(key, mint);
  try {
    return await mint;
  } finally {
    minting.delete(key);
  }
}

/**
 * A task's token: for the run's installation, limited to the delivery's repository (read-only);
 * none for a run without an installation (or not started by a delivery).
 */
async function taskToken(config: Config, request: TokenRequest): Promise<string | undefined> {
  if (request.secret !== GITHUB_TOKEN_SECRET) return undefined;
  const installation = Number(request.variables.GANTRY_GITHUB_INSTALLATION);
  const repo = request.variables.GANTRY_GITHUB_REPO;
  if (!Number.isSafeInteger(installation) || installation <= 0 || !repo || !/^[\w.-]+\/[\w.-]+$/.test(repo)) return undefined;
  return installationToken(config, installation, { repo, marginMs: TASK_TOKEN_MARGIN_MS });
}

/** Tells Gantry of a push, by every URL the repository goes by; answers the sources that sync. */
async function syncSources(api: Api, payload: unknown, branch: string): Promise<string[]> {
  const repository = (payload as { repository?: Record<string, unknown> } | null)?.repository;
  const urls = ["clone_url", "html_url", "ssh_url", "git_url", "url"].map((name) => repository?.[name]).filter((url): url is string => typeof url === "string" && url !== "");
  if (urls.length === 0) return [];
  try {
    return (await api.pushed({ repoUrls: [...new Set(urls)].slice(0, 10), branch })).sources;
  } catch (error) {
    api.log(`could not tell the sources of a push: ${(error as Error).message}`);
    return [];
  }
}

/** "owner/name" as the owner and repo parameters of GitHub's routes. */
const ownerAndName = (repo: string) => ({ owner: repo.slice(0, repo.indexOf("/")), repo: repo.slice(repo.indexOf("/") + 1) });

/** GitHub shows a check run's details link only for an absolute http(s) URL (without GANTRY_PUBLIC_URL a run's link may be a path). */
const detailsUrl = (url: string) => (/^https?:\/\//.test(url) ? { details_url: url } : {});
const checkName = (run: { namespace: string; pipeline: string }) => `gantry/${run.namespace}/${run.pipeline}`;

/** Makes the run's check run, in progress, linking to the run; the end's report completes it. */
async function startCheck(api: Api, started: StartedRun, target: CheckTarget): Promise<void> {
  const key = runKey(started);
  checks.set(key, target);
  // Kept before GitHub is asked: a worker restarted meanwhile still reports the run's end.
  const keep = () => api.setState(key, JSON.stringify(target)).catch((error: Error) => api.log(`could not keep the check run target: ${error.message}`));
  await keep();
  try {
    const token = await installationToken(api.config, target.installation);
    const body = (await github(api.config, "POST /repos/{owner}/{repo}/check-runs", token, {
      ...ownerAndName(target.repo),
      name: checkName(started),
      head_sha: target.sha,
      status: "in_progress",
      started_at: new Date().toISOString(),
      external_id: `${started.namespace}/${started.pipeline}#${started.run}`,
      ...detailsUrl(started.url),
      output: { title: `Run ${started.run}: running`, summary: `Gantry run ${started.namespace}/${started.pipeline}#${started.run} is running.` },
    })) as { id?: unknown };
    if (typeof body.id === "number") target.checkRun = body.id;
  } catch (error) {
    // The end's report makes a completed one instead.
    api.log(`${started.namespace}/${started.pipeline}#${started.run}: could not start the check run: ${(error as Error).message}`);
    return;
  }
  if (target.checkRun !== undefined) await keep();
}

/** At most this many tasks are listed in a check run's summary (GitHub caps it at 65,535 characters). */
const SUMMARY_TASKS = 20;
const SUMMARY_REASON = 300;

/**
 * A reason as plain text in Markdown: one line, at most SUMMARY_REASON characters, with
 * Markdown's characters escaped (a task's error may come from a fork's code: no links or images).
 */
function plainText(reason: string): string {
  const line = reason.replaceAll(/\s+/g, " ");
  const cut = line.length > SUMMARY_REASON ? `${line.slice(0, SUMMARY_REASON)}…` : line;
  return cut.replaceAll(/[\\`*_{}[\]()<>#+!|~-]/g, (character) => `\\${character}`);
}

/** A run's end as a check run's title and Markdown summary: failed tasks with why, findings, the link. */
export function checkOutput(run: FinishedRun): { title: string; summary: string } {
  const failed = run.tasks.filter((task) => task.state === "failed");
  const title = `Run ${run.run}: ${run.state}${failed.length > 0 ? ` (${failed.length} of ${run.tasks.length} tasks failed)` : ""}`;
  const lines = [`Gantry run ${run.namespace}/${run.pipeline}#${run.run} ended **${run.state}**${run.reason ? `: ${plainText(run.reason)}` : ""}.`];
  if (failed.length > 0) {
    lines.push("", "Failed tasks:");
    for (const task of failed.slice(0, SUMMARY_TASKS)) lines.push(`- \`${task.id}\`${task.reason ? `: ${plainText(task.reason)}` : ""}`);
    if (failed.length > SUMMARY_TASKS) lines.push(`- … and ${failed.length - SUMMARY_TASKS} more`);
  }
  const { error, warning, note } = run.findings;
  if (error + warning + note > 0) {
    const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;
    lines.push("", `Findings: ${plural(error, "error")}, ${plural(warning, "warning")}, ${plural(note, "note")}${run.findings.new > 0 ? ` (${run.findings.new} new)` : ""}.`);
  }
  if (/^https?:\/\//.test(run.url)) lines.push("", `[The run in Gantry](${run.url})`);
  return { title, summary: lines.join("\n") };
}

/** How often completing a check run is tried, and the waits between (GitHub answering 5xx, a token that could not be minted). */
const REPORT_WAITS_MS = [1_000, 5_000];
/** How long a run's end waits for its check run's id when another server is still making it (several servers, one database). */
const START_WAIT_MS = 5_000;

/** Completes the run's check run with its conclusion (or makes a completed one when starting it failed). */
async function reportCheck(api: Api, run: FinishedRun): Promise<void> {
  const key = runKey(run);
  try {
    await checkStarts.get(key);
    let target = checks.get(key);
    if (!target) {
      // Started through another server: its check run's id may not be stored yet.
      const deadline = Date.now() + START_WAIT_MS;
      for (;;) {
        const stored = await api.getState(key);
        target = stored ? (JSON.parse(stored) as CheckTarget) : undefined;
        if (!target || target.checkRun !== undefined || Date.now() >= deadline) break;
        await Bun.sleep(250);
      }
    }
    if (!target) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await completeCheck(api, run, target);
        break;
      } catch (error) {
        if (attempt >= REPORT_WAITS_MS.length) throw error;
        api.log(`${run.namespace}/${run.pipeline}#${run.run}: completing the check run failed (${(error as Error).message}); trying again`);
        await Bun.sleep(REPORT_WAITS_MS[attempt]!);
      }
    }
    await api.setState(key, "");
  } finally {
    checks.delete(key);
    checkStarts.delete(key);
  }
}

async function completeCheck(api: Api, run: FinishedRun, target: CheckTarget): Promise<void> {
  const token = await installationToken(api.config, target.installation);
  const completed = {
    status: "completed",
    conclusion: CONCLUSIONS[run.state],
    completed_at: new Date().toISOString(),
    ...detailsUrl(run.url),
    output: checkOutput(run),
  };
  if (target.checkRun !== undefined) {
    await github(api.config, "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", token, { ...ownerAndName(target.repo), check_run_id: target.checkRun, ...completed });
  } else {
    await github(api.config, "POST /repos/{owner}/{repo}/check-runs", token, {
      ...ownerAndName(target.repo),
      name: checkName(run),
      head_sha: target.sha,
      external_id: `${run.namespace}/${run.pipeline}#${run.run}`,
      ...completed,
    });
  }
}

/**
 * Whether GitHub signed these bytes with the App's webhook secret. GitHub signs UTF-8 JSON:
 * bytes that are not UTF-8 (or no body, or no signature) were not signed by it.
 */
async function signedByGithub(secret: string, body: Uint8Array, signature: string | undefined): Promise<boolean> {
  if (!signature || body.length === 0) return false;
  let payload: string;
  try {
    payload = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return false;
  }
  return verify(secret, payload, signature);
}

export default defineExtension<Config, Params>({
  id: "github",
  description: 'A GitHub App\'s webhook (POST /hooks/github): github({ repo: "owner/name", events: ["push"], branches: ["main"] }).',
  config: configSchema,
  params: paramsSchema,
  async onHook(request, api) {
    if (request.path !== "" && request.path !== "/") return answer(404, "not_found", "GitHub deliveries go to POST /hooks/github");
    const delivery = request.headers[DELIVERY_HEADER] || undefined;
    const reject = async (status: number, code: string, message: string, reason: string) => {
      const data = { reason, status, ...(delivery !== undefined && { delivery: delivery.slice(0, MAX_DELIVERY_ID_LENGTH) }) };
      await api.event("delivery.rejected", data).catch((error: Error) => api.log(`could not record a rejected delivery: ${error.message}`));
      return answer(status, code, message);
    };
    // The signature is checked before anything of the body is looked at.
    const signature = request.headers[SIGNATURE_HEADER];
    if (!(await signedByGithub(api.config.webhookSecret, request.body, signature))) {
      return reject(401, "unauthorized", `missing or invalid ${SIGNATURE_HEADER}`, signature === undefined ? "missing signature" : "bad signature");
    }
    if (delivery !== undefined && delivery.length > MAX_DELIVERY_ID_LENGTH) {
      return reject(400, "invalid", `${DELIVERY_HEADER} is longer than ${MAX_DELIVERY_ID_LENGTH} characters`, "delivery id too long");
    }
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(request.body));
    } catch (error) {
      return reject(400, "invalid", `the body is not valid JSON: ${(error as Error).message}`, "invalid JSON");
    }
    const found = readGithubEvent(request.headers[EVENT_HEADER] ?? "", payload, delivery);
    // A push to a branch that git sources load pipelines from syncs them (pull requests never do).
    const pushed = found?.event === "push" && found.branch !== undefined ? await syncSources(api, payload, found.branch) : [];
    const subscriptions = found ? api.subscriptions().filter((subscription) => githubTriggerMatches(subscription.params, found)) : [];
    if (!found || subscriptions.length === 0) return { status: 200, body: { runs: [], ...(pushed.length > 0 && { sources: pushed }) } };

    const runs: { namespace: string; pipeline: string; id: number; duplicate: boolean }[] = [];
    const failures: string[] = [];
    for (const subscription of subscriptions) {
      try {
        const started = await api.startRun(subscription.id, {
          systemVariables: found.variables,
          by: delivery ? `github delivery ${delivery}` : "github",
          ...(found.fromFork && { noSecrets: true }),
          ...(delivery !== undefined && { deliveryId: delivery }),
        });
        runs.push({ namespace: started.namespace, pipeline: started.pipeline, id: started.run, duplicate: started.duplicate });
        if (!started.duplicate && found.sha && found.installation !== undefined) {
          // Not awaited: the delivery is answered without waiting for GitHub; the end's report waits for it.
          const target: CheckTarget = { repo: found.repo, sha: found.sha, installation: found.installation };
          checkStarts.set(runKey(started), startCheck(api, started, target));
        }
      } catch (error) {
        api.log(`${subscription.namespace}/${subscription.pipeline}: could not start a run: ${(error as Error).message}`);
        failures.push(`${subscription.namespace}/${subscription.pipeline}: ${(error as Error).message}`);
      }
    }
    // The delivery id makes a retry start only what is missing.
    if (failures.length > 0) return { status: 503, body: { runs, ...(pushed.length > 0 && { sources: pushed }), error: { code: "unavailable", message: `could not start a run: ${failures.join("; ")}` } } };
    return { status: 202, body: { runs, ...(pushed.length > 0 && { sources: pushed }) } };
  },
  // No App configured means the extension does not start, and the host answers "no token" itself.
  provideToken: (request, api) => taskToken(api.config, request),
  async onRunFinished(run, api) {
    await reportCheck(api, run).catch((error: Error) => api.log(`${run.namespace}/${run.pipeline}#${run.run}: could not report the check run: ${error.message}`));
  },
});
