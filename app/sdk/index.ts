// The "gantry" module that pipeline files import: plain data builders, no server code.
// Everything here only describes a pipeline; the server validates and runs it.

/** A duration: milliseconds, or a string such as `"500ms"`, `"30s"`, `"5m"`, `"1h"`. */
export type Duration = number | string;

/** Which outcome of an upstream task lets a task start. */
export type NeedCondition = "success" | "failure" | "any";

/** A reference to a secret, resolved when the task starts. Create it with {@link secret}. */
export interface SecretRef {
  readonly __gantry: "secret";
  readonly name: string;
}

/** An environment value: a literal string or a secret resolved at task start. */
export type EnvValue = string | SecretRef;

/** Options every task accepts, whatever runs it. */
export interface TaskOptions {
  /** Upstream tasks and the outcome each must have, e.g. `{ build: "success" }`. */
  needs?: Record<string, NeedCondition>;
  /** Extra environment for this task: overrides pipeline variables; run variables override it. */
  env?: Record<string, EnvValue>;
  /**
   * Fail the task (reason "timed out after ...") when it runs longer than this. It is shown
   * as timing out at once and gets SIGTERM (a `run()` task's `ctx.signal` aborts with a
   * `TimeoutError`), then SIGKILL after the server's timeout grace (`GANTRY_TIMEOUT_GRACE`, 3 s).
   */
  timeout?: Duration;
  /** Extra attempts after a failure (0 by default). */
  retries?: number;
  /**
   * How long to wait before each retry. By default the wait doubles from 1 s and stops
   * growing at 1 min (1 s, 2 s, 4 s, ... 1m). A duration waits the same before every
   * retry (`0`: retry at once); `{ initial, factor?, max? }` grows by `factor` (2) up to
   * `max` (1 min, or `initial` when that is longer). The wait survives a server restart,
   * and a cancel ends it at once.
   *
   * @example
   * ```ts
   * fetch: run(download, { retries: 5, retryDelay: "10s" }),
   * push: container({ image: "local/busybox:latest", retries: 3, retryDelay: { initial: "5s", max: "2m" } }),
   * check: run(quickCheck, { retries: 2, retryDelay: 0 }),
   * ```
   */
  retryDelay?: Duration | RetryDelayOptions;
  /** Working directory; relative paths are inside the run's workspace. */
  workdir?: string;
  /** Give the task a short-lived API token in `GANTRY_API_TOKEN`. */
  injectApiToken?: boolean;
}

/** A wait before each retry that grows: `initial`, then times `factor`, never more than `max`. */
export interface RetryDelayOptions {
  /** The wait before the first retry. */
  initial: Duration;
  /** Each wait is the previous one times this (2 by default; 1 keeps it the same). */
  factor?: number;
  /** The longest wait (1 min by default, or `initial` when that is longer). */
  max?: Duration;
}

/** The log, shell, signal and data a `run()` task receives. */
export interface TaskContext {
  /** The task's environment: variables, run variables, system `GANTRY_*` values. */
  readonly env: Readonly<Record<string, string>>;
  /** Writes a line to the task log. */
  log: (...parts: unknown[]) => void;
  /** Bun shell, running in the workspace with the task's environment. */
  readonly $: typeof import("bun").$;
  /**
   * Aborted when the task is cancelled or times out. `signal.reason` says which: an `Error`
   * "task cancelled", or a `DOMException` named `"TimeoutError"` ("timed out after 5m").
   */
  readonly signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
  /** The run's shared directory (the same files every task of the run sees). */
  readonly workspace: string;
  /** The object store of the pipeline and of this run (not under `gantry dev`, which has no server). */
  readonly objects: ObjectStoreClient;
}

/**
 * Read and write objects (raw bytes) of the pipeline and of the current run.
 * Pipeline objects stay until the server's per-pipeline limit evicts the least recently
 * written; run objects expire after a configured number of later runs. Keys are 1-256
 * characters of letters, digits, `.`, `_`, `-` and `/` (no leading `/`, no `..`, no `//`).
 *
 * @example
 * build: run(async (ctx) => {
 *   await ctx.objects.put("dist/app.js", await Bun.file("dist/app.js").bytes(), "run");
 *   const last = await ctx.objects.get("last-release.txt"); // Uint8Array | undefined
 *   ctx.log("last release:", last ? new TextDecoder().decode(last) : "none");
 * }),
 */
export interface ObjectStoreClient {
  /** The object's bytes, or undefined when there is none under `key`. Scope: `"pipeline"` (default) or `"run"`. */
  get(key: string, scope?: "pipeline" | "run"): Promise<Uint8Array | undefined>;
  /** Stores `body` under `key`, replacing what was there. Scope: `"pipeline"` (default) or `"run"`. */
  put(key: string, body: Uint8Array | string, scope?: "pipeline" | "run"): Promise<void>;
}

/** The function a `run()` task executes in its own Bun process. */
export type TaskFunction = (ctx: TaskContext) => unknown | Promise<unknown>;

/** A task executed as a TypeScript function. Create it with {@link run}. */
/** Options of a `run()` task. */
export interface RunOptions extends TaskOptions {
  /**
   * `"none"`: the task's sandbox has no network at all (only its own loopback), so it can
   * neither reach the Gantry API (ctx.objects included) nor the internet. On by default.
   */
  network?: "none";
}

export interface RunTask extends RunOptions {
  readonly kind: "run";
  readonly fn: TaskFunction;
}

/** Options of a container task. */
export interface ContainerOptions extends TaskOptions {
  /** Image reference, e.g. `"local/busybox:latest"`. */
  image: string;
  /** Command (arguments after the entrypoint). */
  command?: string[];
  /** Replaces the image's entrypoint. */
  entrypoint?: string[];
  /** When to pull the image; `"if-missing"` by default. */
  pull?: "never" | "if-missing" | "always";
  /** Memory limit: bytes, or a string such as `"256m"`, `"1g"`. */
  memory?: number | string;
  /** CPU limit in cores, e.g. `0.5`. */
  cpus?: number;
  /** Most processes the container may run (fork-bomb guard). */
  pids?: number;
  /** User to run as, e.g. `"1000:1000"` or `"nobody"`; the image's user by default. */
  user?: string;
  /** Docker network: `"bridge"` (the server's default), `"none"`, `"host"` or a network name. */
  network?: string;
  /**
   * Linux capabilities to keep; all others are dropped. Docker's default set may be asked
   * for freely (e.g. `["CHOWN", "SETUID", "SETGID"]`); anything more needs the admin's allowlist.
   */
  capabilities?: string[];
  /** Host paths to mount; each must be allowlisted by the admin (`container_allowed_mounts`). */
  mounts?: { source: string; target: string; readonly?: boolean }[];
  /** Keep the stopped container after the task ends, for debugging (pruned later). */
  keepContainer?: boolean;
  /**
   * Registry credentials for a private image: a secret holding `user:password` or Docker's
   * JSON `{ "username", "password", "serveraddress" }`.
   */
  pullSecret?: SecretRef;
}

/** A task executed in a Docker container. Create it with {@link container}. */
export interface ContainerTask extends ContainerOptions {
  readonly kind: "container";
}

export type Task = RunTask | ContainerTask;

/** Starts the pipeline on a cron schedule. */
export interface CronTrigger {
  readonly kind: "cron";
  readonly expression: string;
  readonly timezone?: string;
}
/** Starts the pipeline every fixed duration. */
export interface IntervalTrigger {
  readonly kind: "interval";
  readonly every: Duration;
}
/** Starts the pipeline from a signed HTTP request. */
export interface WebhookTrigger {
  readonly kind: "webhook";
  readonly secret: SecretRef;
  readonly variables?: Record<string, string>;
}
/** Starts the pipeline from GitHub events. */
export interface GithubTrigger {
  readonly kind: "github";
  readonly repo: string;
  readonly events: string[];
  readonly branches?: string[];
}
export type Trigger = CronTrigger | IntervalTrigger | WebhookTrigger | GithubTrigger;

/**
 * How many runs may execute at once, and what a new run does to waiting and running ones.
 * Runs over the limit wait in the state `queued` and start in the order they came.
 *
 * @example
 * ```ts
 * // One deploy per branch at a time, across the namespace's pipelines; only the newest waits.
 * variables: { BRANCH: "main" },
 * concurrency: { limit: 1, group: "deploy-${BRANCH}", queue: "latest" },
 * ```
 */
export interface ConcurrencyOptions {
  /** Most runs of this pipeline (or of its `group`) running at once; unlimited by default. */
  limit?: number;
  /**
   * A key shared by every pipeline of the namespace that names it, with `${VAR}` taken from
   * the run's variables (the pipeline's `variables` or `GANTRY_*` ones), e.g. `"deploy-${BRANCH}"`.
   */
  group?: string;
  /** `"all"` (default): every run waits its turn; `"latest"`: a newer run supersedes the queued ones. */
  queue?: "all" | "latest";
  /** Cancel the group's running runs when a new run arrives (reason "superseded by run N"). */
  cancelInProgress?: boolean;
}

/** What a pipeline file exports by default. */
export interface PipelineDefinition {
  /** `[a-z0-9-]+`, unique in its namespace (the subfolder of `pipelines/`). */
  id: string;
  name?: string;
  description?: string;
  /** Most tasks of one run that may execute at once. */
  parallelism?: number;
  /** Environment for every task; run variables override these. */
  variables?: Record<string, string>;
  /** Runs at once of this pipeline or of a group; see {@link ConcurrencyOptions}. */
  concurrency?: ConcurrencyOptions;
  triggers?: Trigger[];
  tasks: Record<string, Task>;
}

/**
 * Declares a pipeline. Export the result as the file's default export.
 *
 * @example
 * ```ts
 * import { definePipeline, run } from "gantry";
 *
 * export default definePipeline({
 *   id: "hello",
 *   tasks: {
 *     greet: run((ctx) => ctx.log("hello")),
 *   },
 * });
 * ```
 */
export function definePipeline<const T extends PipelineDefinition>(definition: T): T {
  return definition;
}

/**
 * A task that runs a TypeScript function in its own Bun process.
 *
 * @example
 * ```ts
 * test: run(async (ctx) => {
 *   ctx.log("attempt", ctx.attempt);
 *   await ctx.$`bun --version`;
 * }, { needs: { build: "success" }, timeout: "5m", retries: 2, retryDelay: "10s" }),
 * // Offline: the sandbox gets no network at all.
 * lint: run(async (ctx) => { await ctx.$`bun x tsc --noEmit`; }, { network: "none" }),
 * ```
 */
export function run(fn: TaskFunction, options: RunOptions = {}): RunTask {
  return { ...options, kind: "run", fn };
}

/**
 * A task that runs a Docker image.
 *
 * @example
 * ```ts
 * build: container({
 *   image: "local/busybox:latest",
 *   command: ["sh", "-c", "echo $GREETING > $GANTRY_WORKSPACE/out.txt"],
 *   memory: "256m",
 * }),
 * ```
 */
export function container(options: ContainerOptions): ContainerTask {
  return { ...options, kind: "container" };
}

/**
 * A secret from Gantry's secret store, resolved when the task starts
 * (the pipeline's own secret first, then the global one).
 *
 * @example
 * ```ts
 * deploy: run(deploy, { env: { TOKEN: secret("deploy_token") } }),
 * ```
 */
export function secret(name: string): SecretRef {
  return { __gantry: "secret", name };
}

/**
 * Runs the pipeline on a cron schedule (five or six fields; seconds allowed), in UTC or the
 * given IANA time zone. An expression croner cannot read, one that never fires ("0 0 30 2 *")
 * or an unknown time zone is a load error: the file does not load until it is fixed.
 *
 * @example
 * ```ts
 * triggers: [cron("0 3 * * *", { timezone: "Europe/Berlin" })],
 * ```
 */
export function cron(expression: string, options: { timezone?: string } = {}): CronTrigger {
  return { kind: "cron", expression, ...options };
}

/**
 * Runs the pipeline every fixed duration. Under 1ms (`interval("0s")`) or over 366 days is a
 * load error; the server may also set a minimum (1s by default), shown as a trigger error.
 *
 * @example
 * ```ts
 * triggers: [interval("5m")],
 * ```
 */
export function interval(every: Duration): IntervalTrigger {
  return { kind: "interval", every };
}

/**
 * Runs the pipeline when a request signed with the secret arrives at
 * `POST /hooks/webhook/<namespace>/<id>`; `variables` maps run variables to dotted
 * paths in the JSON body. Until the secret exists (pipeline or global), the trigger shows an
 * error and deliveries are refused; creating the secret clears it.
 *
 * @example
 * ```ts
 * triggers: [webhook({ secret: secret("hook_secret"), variables: { REF: "ref" } })],
 * ```
 */
export function webhook(options: { secret: SecretRef; variables?: Record<string, string> }): WebhookTrigger {
  return { kind: "webhook", ...options };
}

/**
 * Runs the pipeline on GitHub events of a repository.
 *
 * @example
 * ```ts
 * triggers: [github({ repo: "acme/api", events: ["push"], branches: ["main"] })],
 * ```
 */
export function github(options: { repo: string; events: string[]; branches?: string[] }): GithubTrigger {
  return { kind: "github", ...options };
}

export * from "./extension.ts";
