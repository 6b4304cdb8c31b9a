// What triggers tell a run, shared by the built-in extensions that read deliveries and by
// gantry/testing, which starts test runs as those triggers would: a webhook body's values at
// the dotted paths a pipeline maps to variables, and a GitHub delivery's GANTRY_GITHUB_*.

/** Longer variable values from a delivery are cut here: run variables end up in a task's environment. */
export const MAX_TRIGGER_VARIABLE_LENGTH = 4096;

/** The GitHub events that start runs. */
export const GITHUB_EVENTS = ["push", "pull_request", "release"] as const;

/**
 * The value at a dotted path ("pusher.name", "commits.0.id"), own properties only; missing
 * and null are undefined, strings stay as they are, anything else becomes its JSON text.
 * @example valueAtPath({ pusher: { name: "ada" } }, "pusher.name") // "ada"
 */
export function valueAtPath(data: unknown, path: string): string | undefined {
  let current: unknown = data;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  if (current === undefined || current === null) return undefined;
  return typeof current === "string" ? current : JSON.stringify(current);
}

/**
 * A value cut to MAX_TRIGGER_VARIABLE_LENGTH without splitting a surrogate pair.
 * @example capTriggerValue("x".repeat(5000)).length // 4096
 */
export function capTriggerValue(value: string): string {
  if (value.length <= MAX_TRIGGER_VARIABLE_LENGTH) return value;
  const cut = value.slice(0, MAX_TRIGGER_VARIABLE_LENGTH);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/**
 * A webhook trigger's run variables: each name's value at its dotted path of the body, cut to
 * MAX_TRIGGER_VARIABLE_LENGTH (names whose path is missing are left out), or why the body
 * cannot give them (a value with a NUL character, which no environment can hold).
 * @example webhookVariables({ ref: "refs/heads/main" }, { REF: "ref" }) // { ok: true, variables: { REF: "refs/heads/main" } }
 */
export function webhookVariables(body: unknown, paths: Readonly<Record<string, string>>): { ok: true; variables: Record<string, string> } | { ok: false; problem: string } {
  const variables: Record<string, string> = {};
  for (const [name, path] of Object.entries(paths)) {
    const value = valueAtPath(body, path);
    if (value === undefined) continue;
    // No honest branch name or title has a NUL.
    if (value.includes("\u0000")) return { ok: false, problem: `the value at "${path}" (variable ${name}) contains a NUL character` };
    variables[name] = capTriggerValue(value);
  }
  return { ok: true, variables };
}

/** What of a delivery decides which pipelines run, and what their tasks are told. */
export interface GithubEvent {
  event: (typeof GITHUB_EVENTS)[number];
  action?: string;
  repo: string;
  /** The branch the branch filter looks at: pushed to, or a pull request's base; none for releases. */
  branch?: string;
  sha?: string;
  installation?: number;
  fromFork: boolean;
  variables: Record<string, string>;
}

/** An environment value: no NUL (no honest title has one), cut to the cap without splitting a surrogate pair. */
function triggerValue(value: string): string {
  return capTriggerValue(value.replaceAll("\u0000", ""));
}

const text = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : typeof value === "number" ? String(value) : undefined);
const field = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((current, key) => (current !== null && typeof current === "object" ? (current as Record<string, unknown>)[key] : undefined), value);

/**
 * The parts of a GitHub push, pull_request or release delivery Gantry uses (which pipelines
 * it starts, and the GANTRY_GITHUB_* variables their tasks get); undefined for anything else
 * (another event, a deleted branch). The github extension reads deliveries with it, and
 * gantry/testing's `trigger: { github }` too.
 * @example readGithubEvent("push", { ref: "refs/heads/main", after: "abc", repository: { full_name: "acme/app" } })?.variables.GANTRY_GITHUB_REF // "refs/heads/main"
 */
export function readGithubEvent(event: string, payload: unknown, delivery?: string): GithubEvent | undefined {
  if (!(GITHUB_EVENTS as readonly string[]).includes(event)) return undefined;
  const repo = text(field(payload, "repository", "full_name"));
  if (!repo) return undefined;
  const action = text(field(payload, "action"));
  const installation = field(payload, "installation", "id");
  const found: GithubEvent = {
    event: event as GithubEvent["event"],
    ...(action && { action }),
    repo,
    ...(typeof installation === "number" && { installation }),
    fromFork: false,
    variables: {},
  };
  const fields: Record<string, string | undefined> = {
    EVENT: event,
    DELIVERY: delivery,
    REPO: repo,
    ACTOR: text(field(payload, "sender", "login")),
    ACTION: action,
  };
  if (event === "push") {
    // A deleted branch has nothing to build.
    if (field(payload, "deleted") === true) return undefined;
    const ref = text(field(payload, "ref"));
    fields.REF = ref;
    fields.SHA = found.sha = text(field(payload, "after"));
    if (ref?.startsWith("refs/heads/")) found.branch = ref.slice("refs/heads/".length);
  } else if (event === "pull_request") {
    const pr = field(payload, "pull_request");
    const number = text(field(pr, "number")) ?? text(field(payload, "number"));
    fields.PR_NUMBER = number;
    fields.PR_TITLE = text(field(pr, "title"));
    fields.REF = number ? `refs/pull/${number}/head` : undefined;
    fields.SHA = found.sha = text(field(pr, "head", "sha"));
    fields.BASE_REF = found.branch = text(field(pr, "base", "ref"));
    fields.HEAD_REF = text(field(pr, "head", "ref"));
    // A deleted fork has no head repository: that is a fork too.
    const head = text(field(pr, "head", "repo", "full_name"));
    const base = text(field(pr, "base", "repo", "full_name")) ?? repo;
    found.fromFork = head === undefined || head.toLowerCase() !== base.toLowerCase();
  } else {
    const tag = text(field(payload, "release", "tag_name"));
    fields.RELEASE_TAG = tag;
    fields.REF = tag ? `refs/tags/${tag}` : undefined;
  }
  // The installation the run's tasks get a token of (secret("github-app-token")): an id, not a secret.
  if (found.installation !== undefined) fields.INSTALLATION = String(found.installation);
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) found.variables[`GANTRY_GITHUB_${name}`] = triggerValue(value);
  return found;
}


/** What a github() trigger listens to: the repository, its events ("push", "pull_request.opened"…) and branches. */
export interface GithubTriggerFilter {
  repo: string;
  events: readonly string[];
  branches?: readonly string[] | undefined;
}

/**
 * Whether a github() trigger starts a run for a delivery: the same repository (any case), one
 * of its events (or event.action), and, but for releases, one of its branches when it names some.
 * @example githubTriggerMatches({ repo: "acme/app", events: ["push"], branches: ["main"] }, readGithubEvent("push", payload)!)
 */
export function githubTriggerMatches(trigger: GithubTriggerFilter, found: GithubEvent): boolean {
  if (trigger.repo.toLowerCase() !== found.repo.toLowerCase()) return false;
  if (!trigger.events.some((wanted) => wanted === found.event || (found.action !== undefined && wanted === `${found.event}.${found.action}`))) return false;
  if (trigger.branches && found.event !== "release") return found.branch !== undefined && trigger.branches.includes(found.branch);
  return true;
}
