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
  /**
   * Files the task hands on or takes in, stored with the run (listed, downloadable, checked
   * by sha256). `out`: name → path in the workspace (a file or a folder), stored after the
   * task succeeds. `in`: name → the task of this run that stored it (it must be upstream), or
   * `{ run: "latest-successful" | 12, name? }` for one of an earlier run; put back in the
   * workspace where it was taken from before the task starts.
   *
   * @example
   * ```ts
   * build: run(compile, { artifacts: { out: { dist: "build/dist" } } }),
   * ship: container({ image: "local/busybox:latest", command: ["ls", "build/dist"], needs: { build: "success" }, artifacts: { in: { dist: "build" } } }),
   * compare: run(diff, { artifacts: { in: { previous: { run: "latest-successful", name: "dist" } } } }),
   * ```
   */
  artifacts?: {
    out?: Record<string, string>;
    in?: Record<string, string | { run: "latest-successful" | number; name?: string }>;
  };
  /**
   * A cache of paths in the workspace, per pipeline: restored before the task starts (the
   * exact key, else the newest entry whose key starts with one of `restoreKeys`), saved after
   * it succeeds when the key missed. The key takes `${VAR}` and `${hashFiles('glob')}`.
   *
   * @example
   * ```ts
   * install: run(async (ctx) => { await ctx.$`bun install`; }, {
   *   cache: { key: "deps-${hashFiles('bun.lock')}", paths: ["node_modules"], restoreKeys: ["deps-"] },
   * }),
   * ```
   */
  cache?: { key: string; paths: string[]; restoreKeys?: string[] };
  /**
   * Read the SARIF 2.1.0 report the task writes (usually set by {@link scan}): its findings
   * are stored with the run, and the task fails when one is at or above `failOn` ("error"
   * by default; "none" never fails).
   */
  sarif?: { path: string; failOn?: "error" | "warning" | "note" | "none"; tool?: string };
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

/** A run input's value: text, a number or a boolean, as its schema says. */
export type InputValue = string | number | boolean;

/** Inputs as a task sees them when the pipeline's schemas are not known to the type checker. */
export type UntypedInputs = Readonly<Record<string, InputValue | undefined>>;

/**
 * Any Standard Schema (valibot, zod, ...). A pipeline's inputs are such schemas; each must
 * have a JSON Schema form (valibot's always have one through `@valibot/to-json-schema`).
 */
export interface InputSchema {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly types?: { readonly input: unknown; readonly output: unknown } | undefined;
  };
}

/** The declared inputs of a pipeline: name → schema. */
export type InputSchemas = Record<string, InputSchema>;

/** The values a task sees for declared inputs (each schema's output type); untyped when no inputs are known. */
export type InputsOf<S> = string extends keyof S
  ? UntypedInputs
  : { readonly [K in keyof S]: S[K] extends { readonly "~standard": { readonly types?: { readonly output: infer O } | undefined } } ? O : unknown };

/** The log, shell, signal and data a `run()` task receives. */
export interface TaskContext<Inputs = UntypedInputs> {
  /** The task's environment: variables, run variables, `INPUT_<NAME>` of each input, system `GANTRY_*` values. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The run's inputs, checked against the pipeline's `inputs` schemas, defaults applied.
   * Typed when the tasks are written as `tasks: ({ run }) => ({ ... })`.
   */
  readonly inputs: Inputs;
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
export type TaskFunction<Inputs = UntypedInputs> = (ctx: TaskContext<Inputs>) => unknown | Promise<unknown>;

/** A task executed as a TypeScript function. Create it with {@link run}. */
/** Options of a `run()` task. */
export interface RunOptions extends TaskOptions {
  /**
   * `"none"`: the task's sandbox has no network at all (only its own loopback), so it can
   * neither reach the Gantry API (ctx.objects included) nor the internet. On by default.
   * With the swarm executor such a task runs in the server's sandbox, not in a runner service
   * (a runner fetches its bundle over the network).
   */
  network?: "none";
}

export interface RunTask<Inputs = any> extends RunOptions {
  readonly kind: "run";
  readonly fn: TaskFunction<Inputs>;
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
  /**
   * Run only on a node with these labels (with the swarm executor, `GANTRY_EXECUTOR=swarm`);
   * merged over the pipeline's `runsOn`, this task's value winning for a key it names too.
   * Until a node that matches is free the task stays running with the reason "waiting for a
   * node: ...", and at its `timeout` it fails naming what it waited for. With the Docker
   * executor a pipeline that sets it does not load.
   *
   * @example
   * ```ts
   * // Label a node first: docker node update --label-add gpu=true <node>
   * train: container({ image: "registry.local/trainer:1", runsOn: { labels: { gpu: "true" } }, timeout: "2h" }),
   * ```
   */
  runsOn?: RunsOn;
}

/** Node labels a container task's node must carry (`docker node update --label-add key=value`). */
export interface RunsOn {
  /** Label → value, each 1-128 characters: keys of A-Z a-z 0-9 . _ - /, values of A-Z a-z 0-9 . _ - */
  labels: Record<string, string>;
}

/** A task executed in a Docker container. Create it with {@link container}. */
export interface ContainerTask extends ContainerOptions {
  readonly kind: "container";
}

/** What an `autoApprove` function sees: the run's inputs and environment, and how earlier tasks ended. */
export interface ApprovalContext<Inputs = UntypedInputs> {
  /** The run's environment (variables, run variables, `INPUT_*`, system `GANTRY_*` values). */
  readonly env: Readonly<Record<string, string>>;
  readonly inputs: Inputs;
  /** Every task of the run that has ended so far: its state and exit code. */
  readonly tasks: Readonly<Record<string, { readonly state: string; readonly exitCode: number | null }>>;
  /** Writes a line to the approval's log. */
  log: (...parts: unknown[]) => void;
  /** Aborted when the run is cancelled. */
  readonly signal: AbortSignal;
}

/** Options of an approval gate. */
export interface ApprovalOptions<Inputs = any> {
  /** Upstream tasks and the outcome each must have before the gate asks anyone. */
  needs?: Record<string, NeedCondition>;
  /**
   * Roles whose holders may decide (one of them is enough). By default anyone with the
   * `approve` action on the pipeline's runs (`runs:approve`) may.
   */
  approvers?: string[];
  /** How long the gate waits for a decision (24h by default); it keeps counting across restarts. */
  timeout?: Duration;
  /** What a gate that nobody decided in time becomes: `"reject"` (default) or `"approve"`. */
  onTimeout?: "reject" | "approve";
  /**
   * Decides without a person when it returns true: runs as a `run()` function (sandboxed,
   * with the run's inputs, environment and earlier tasks' results). False (or a throw)
   * leaves the decision to a person. The decision and its reason are recorded.
   */
  autoApprove?: (ctx: ApprovalContext<Inputs>) => boolean | Promise<boolean>;
  /** Shown to the approver; `${VAR}` takes the run's variables and `${INPUT_NAME}` its inputs. */
  message?: string;
  /** The person who started the run may decide too (never by default). */
  allowSelfApproval?: boolean;
  /** Extra environment for `autoApprove`. */
  env?: Record<string, EnvValue>;
}

/** A gate that waits for a person (or `autoApprove`). Create it with {@link approval}. */
export interface ApprovalTask<Inputs = any> extends ApprovalOptions<Inputs> {
  readonly kind: "approval";
}

export type Task<Inputs = any> = RunTask<Inputs> | ContainerTask | ApprovalTask<Inputs>;

/** The events a notification can be sent for: run.started, run.successful, run.failed, run.cancelled, run.finished, approval.waiting, approval.approved, approval.rejected. */
export type { NotifyEvent } from "../domain/notifications.ts";
import type { NotifyEvent } from "../domain/notifications.ts";

/** A notification: a signed JSON POST to a URL on the events chosen. Create it with {@link notify}. */
export interface Notification {
  readonly kind: "notify";
  /** The URL to POST to, from the secret store (URLs of chat hooks are credentials). */
  readonly url: SecretRef;
  /** The key of the `X-Gantry-Signature-256` HMAC; without it, the URL's own value signs. */
  readonly secret?: SecretRef;
  readonly on: NotifyEvent[];
}

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

/** The task helpers, typed with a pipeline's inputs: what `tasks: ({ run }) => ({ ... })` receives. */
export interface TaskBuilders<Inputs> {
  run: (fn: TaskFunction<Inputs>, options?: RunOptions) => RunTask<Inputs>;
  container: (options: ContainerOptions) => ContainerTask;
  approval: (options?: ApprovalOptions<Inputs>) => ApprovalTask<Inputs>;
}

/** What a pipeline file exports by default. */
export interface PipelineDefinition<S extends InputSchemas = InputSchemas> {
  /** `[a-z0-9-]+`, unique in its namespace (the subfolder of `pipelines/`). */
  id: string;
  name?: string;
  description?: string;
  /** Most tasks of one run that may execute at once. */
  parallelism?: number;
  /**
   * Shows the state of its last finished run to anyone, as a badge: `GET /badges/<ns>/<id>.svg`
   * (`?branch=main` for runs of that branch). Without it the badge answers 404.
   */
  public?: boolean;
  /** Environment for every task; run variables override these. */
  variables?: Record<string, string>;
  /** Runs at once of this pipeline or of a group; see {@link ConcurrencyOptions}. */
  concurrency?: ConcurrencyOptions;
  triggers?: Trigger[];
  /**
   * Typed run inputs: valibot schemas (any Standard Schema with a JSON Schema form) by name.
   * Forms, the CLI and the API ask for them; tasks get `ctx.inputs` and `INPUT_<NAME>`.
   */
  inputs?: S;
  /** Signed JSON POSTs on events of this pipeline's runs; see {@link notify}. */
  notifications?: Notification[];
  /**
   * Node labels for every `container()` task of the pipeline (swarm executor); a task's own
   * `runsOn` adds labels or overrides one. Image builds, pushes and deploys are not placed.
   * Whatever the labels, all tasks of one run go to the node that took its first task, as
   * they share its workspace.
   *
   * @example
   * ```ts
   * runsOn: { labels: { zone: "eu" } },
   * tasks: {
   *   fetch: container({ image: "local/busybox:latest", command: ["true"] }),                 // zone=eu
   *   train: container({ image: "local/trainer:1", runsOn: { labels: { gpu: "true" } } }),   // zone=eu, gpu=true
   * },
   * ```
   */
  runsOn?: RunsOn;
  /**
   * The tasks by id; or a function of the task helpers, so `ctx.inputs` is typed from
   * `inputs`: `tasks: ({ run, approval }) => ({ ... })`.
   */
  tasks: Record<string, Task<InputsOf<S>>> | ((helpers: TaskBuilders<InputsOf<S>>) => Record<string, Task<InputsOf<S>>>);
}

/** A pipeline definition as the server reads it: tasks as an object. */
export type DefinedPipeline<S extends InputSchemas = InputSchemas> = Omit<PipelineDefinition<S>, "tasks"> & { tasks: Record<string, Task<InputsOf<S>>> };

/**
 * Declares a pipeline. Export the result as the file's default export.
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * import { definePipeline, run } from "gantry";
 *
 * export default definePipeline({
 *   id: "hello",
 *   tasks: {
 *     greet: run((ctx) => ctx.log("hello")),
 *   },
 * });
 *
 * // Typed inputs: write the tasks as a function of the helpers and ctx.inputs is typed.
 * export const deploy = definePipeline({
 *   id: "deploy",
 *   inputs: { env: v.picklist(["staging", "production"]), replicas: v.optional(v.number(), 2) },
 *   tasks: ({ run, approval }) => ({
 *     ok: approval({ message: "Deploy to ${INPUT_ENV}?" }),
 *     roll: run((ctx) => ctx.log(ctx.inputs.env, ctx.inputs.replicas), { needs: { ok: "success" } }),
 *   }),
 * });
 * ```
 */
export function definePipeline<const S extends InputSchemas = {}>(definition: PipelineDefinition<S>): DefinedPipeline<S> {
  const { tasks } = definition;
  // The function form only types ctx.inputs: it is called once, here, with the plain helpers.
  if (typeof tasks !== "function") return definition as DefinedPipeline<S>;
  return { ...definition, tasks: tasks({ run, container, approval } as TaskBuilders<InputsOf<S>>) };
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
export function run<Inputs = UntypedInputs>(fn: TaskFunction<Inputs>, options: RunOptions = {}): RunTask<Inputs> {
  return { ...options, kind: "run", fn };
}

/**
 * A gate: once its needs are met the run shows "waiting for approval" until someone with
 * the right (see `approvers`) approves or rejects it in the web UI, the CLI
 * (`gantry run approve`) or the API. It holds no task slot while it waits. Approved, it
 * ends successful; rejected (or timed out with `onTimeout: "reject"`), it ends failed
 * with the reason, so `needs: { gate: "failure" }` tasks can react.
 *
 * @example
 * ```ts
 * release: approval({
 *   needs: { build: "success" },
 *   approvers: ["release-managers"],
 *   timeout: "4h",
 *   message: "Ship ${GANTRY_RUN_ID} to ${INPUT_ENV}?",
 *   autoApprove: (ctx) => ctx.inputs.env === "staging",
 * }),
 * ```
 */
export function approval<Inputs = UntypedInputs>(options: ApprovalOptions<Inputs> = {}): ApprovalTask<Inputs> {
  return { ...options, kind: "approval" };
}

/**
 * Sends a JSON message to a URL on events of the pipeline's runs, signed like Gantry's
 * webhooks (`X-Gantry-Signature-256: sha256=<hex HMAC-SHA256 of the body>`). A waiting
 * approval's message carries its approve and reject links.
 *
 * @example
 * ```ts
 * notifications: [notify({ url: secret("chat_hook"), secret: secret("chat_hook_key"), on: ["approval.waiting", "run.failed"] })],
 * ```
 */
export function notify(options: { url: SecretRef; secret?: SecretRef; on: NotifyEvent[] }): Notification {
  return { kind: "notify", ...options };
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

// What webhook bodies and GitHub deliveries tell a run (the built-in extensions and gantry/testing read them alike).
export * from "./trigger-events.ts";

// scan() and the scanner presets (eslintSecurity, secretlint, flawfinder, semgrep, trivy, grype).
export * from "./scans.ts";

// ---------------------------------------------------------------------------------------
// dockerBuild() and dockerPush(): image builds and pushes (images.ts).
export * from "./images.ts";
// deploy(), rolling(), blueGreen() and canary(): deployments to an environment (deploy.ts).
export * from "./deploy.ts";

// checkout(): a run() task that fetches a git repository into the run's workspace.
export * from "./checkout.ts";
