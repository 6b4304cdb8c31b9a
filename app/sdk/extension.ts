// What extension modules (extensions/<id>/index.ts) import from "gantry": the shape of an
// extension and the narrow API the host gives it. Types, one identity function, the
// signature check hook receivers share (and the signing senders use), and durations read
// and written as pipelines do.
import { NOTIFY_EVENTS } from "../domain/notifications.ts";
export { signBody, verifySignature } from "../domain/hmac-signature.ts";
// An extension may import only "gantry", "valibot" and "croner": these spare it a copy.
export { formatDuration, parseDuration } from "../domain/duration.ts";
/** The secret name a task asks for a token an extension provides (provideToken): "github-app-token". */
export { GITHUB_TOKEN_SECRET } from "../domain/github-token.ts";

/** Any Standard Schema (valibot, zod, ...): the host validates config and params with it. */
export interface StandardSchema<Output = unknown> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown):
      | { value: Output; issues?: undefined }
      | { issues: readonly { message: string; path?: readonly (PropertyKey | { key: PropertyKey })[] }[] }
      | Promise<{ value: Output; issues?: undefined } | { issues: readonly { message: string; path?: readonly (PropertyKey | { key: PropertyKey })[] }[] }>;
  };
}

/** A pipeline's subscription to this extension, with its validated parameters. */
export interface Subscription<Params = unknown> {
  id: number;
  namespace: string;
  pipeline: string;
  params: Params;
}

/** Events an extension may record with `api.event`. */
export type ExtensionEventKind = "delivery.rejected";

/** An HTTP request to `/hooks/<extension>/...` on the hooks port, body as raw bytes. */
export interface HookRequest {
  method: string;
  /** The path after `/hooks/<extension>`, e.g. "/default/deploy". */
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface HookResponse {
  status: number;
  body?: unknown;
}

export interface ExtensionStartRunOptions {
  /** Run variables (not GANTRY_* names); one named like an input of the pipeline sets that input (read as text). */
  variables?: Record<string, string>;
  /** Values of the pipeline's inputs, checked against its schemas; an invalid one fails the call with "invalid inputs: ...". */
  inputs?: Record<string, string | number | boolean>;
  /**
   * Event fields as system variables, named `GANTRY_<EXTENSION ID>_*` (e.g. GANTRY_GITHUB_SHA
   * for the "github" extension); the host refuses other names.
   */
  systemVariables?: Record<string, string>;
  /** Withhold secrets (and the API token) from the run, e.g. for a pull request from a fork. */
  noSecrets?: boolean;
  deliveryId?: string;
  by?: string;
}

/** A run this extension started that has ended. */
export interface FinishedRun {
  namespace: string;
  pipeline: string;
  run: number;
  state: "successful" | "failed" | "cancelled";
  /** The run's web page, under the server's public URL (GANTRY_PUBLIC_URL). */
  url: string;
  /** Why it ended as it did, when it says. */
  reason?: string;
  /** Each task's final state, and why when it says (a failed task's error, a skip's cause). */
  tasks: { id: string; state: string; reason?: string }[];
  /** What its scans found (SARIF), by level; `new`: not found by the last successful run before it. */
  findings: { error: number; warning: number; note: number; new: number };
}

/** A run an extension started (or, for a repeated delivery id, the one it started before). */
export interface StartedRun {
  namespace: string;
  pipeline: string;
  run: number;
  duplicate: boolean;
  /** The run's web page, under the server's public URL (GANTRY_PUBLIC_URL). */
  url: string;
}

/**
 * A task of a run asks for a short-lived credential the extension provides (the github
 * extension: `secret("github-app-token")`, an installation token). Never stored by Gantry:
 * asked again for every task that needs it, masked in its log.
 */
export interface TokenRequest {
  namespace: string;
  pipeline: string;
  run: number;
  /** The reserved secret name the task asked for. */
  secret: string;
  /** The run's variables, with the GANTRY_<EXTENSION ID>_* system variables the extension set when it started the run. */
  variables: Record<string, string>;
}

/** The events of a pipeline's runs an extension is told of (`onEvent`), as notify() names them. */
export const PIPELINE_EVENT_KINDS = NOTIFY_EVENTS;
export type PipelineEventKind = (typeof PIPELINE_EVENT_KINDS)[number];

/** A gate's decision as an event carries it: who, when, and why. */
export interface PipelineEventDecision {
  outcome: "approved" | "rejected";
  /** A name, or "autoApprove" / "timeout". */
  by: string;
  comment?: string;
  /** ISO time. */
  at: string;
  /** Made by autoApprove or the timeout, not a person. */
  auto?: "autoApprove" | "timeout";
}

/**
 * Something that happened to a run of a pipeline the extension has a subscription on.
 * URLs use the server's public URL (GANTRY_PUBLIC_URL).
 */
export interface PipelineEvent {
  kind: PipelineEventKind;
  namespace: string;
  pipeline: string;
  run: number;
  /** The run's web page. */
  url: string;
  /** The run's state when the event was read (for run.finished: its final state). */
  state?: string;
  /** Why the run ended as it did, when it says. */
  reason?: string;
  /** The approval gate's task id, for approval.* events. */
  task?: string;
  approval?: {
    message?: string;
    /** Roles that may decide; empty: anyone with runs:approve on the pipeline. */
    approvers: string[];
    /** When the gate's timeout decides (ISO). */
    decideBy: string;
    /** `approve` and `reject` are API URLs: POST with a bearer token of someone who may decide, body `{ "comment"? }`. */
    links: { page: string; approve: string; reject: string };
    /** For approval.approved / approval.rejected. */
    decision?: PipelineEventDecision;
  };
  /** When Gantry told of it (ISO). */
  at: string;
}

/** What an extension may do: start runs of its subscribed pipelines, read secrets of them, log, record events. */
export interface ExtensionApi<Config = unknown, Params = unknown> {
  readonly config: Config;
  /** Writes a line to the extension's log (shown by `gantry extension logs`). */
  log(...parts: unknown[]): void;
  /** The current subscriptions. */
  subscriptions(): Subscription<Params>[];
  /**
   * Starts a run of a subscribed pipeline. With `deliveryId`, a second call with the same id
   * starts nothing and answers the first run (`duplicate: true`), also across restarts.
   */
  startRun(subscriptionId: number, options?: ExtensionStartRunOptions): Promise<StartedRun>;
  /** A secret of the subscribed pipeline (pipeline scope first, then global). */
  secret(subscriptionId: number, name: string): Promise<string | undefined>;
  /**
   * Records an event in Gantry's event log, e.g. a rejected delivery; with `subscriptionId`
   * it is filed under that pipeline. Never put secret values or whole bodies in `data`.
   */
  event(kind: ExtensionEventKind, data: Record<string, unknown>, subscriptionId?: number): Promise<void>;
  /** Extension state that survives restarts (e.g. when a schedule last fired). */
  getState(key: string): Promise<string | undefined>;
  setState(key: string, value: string): Promise<void>;
  /**
   * Tells Gantry a branch of a repository moved (a push webhook): the git sources that load
   * pipelines from that branch sync. `repoUrls`: every URL the repository is known by (clone,
   * web, ssh), compared without scheme, credentials or ".git". Answers the sources that sync.
   * @example await api.pushed({ repoUrls: [payload.repository.clone_url], branch: "main" });
   */
  pushed(push: { repoUrls: string[]; branch: string }): Promise<{ sources: string[] }>;
}

export interface ExtensionDefinition<Config = unknown, Params = unknown> {
  /** `[a-z0-9-]+`, the folder name under extensions/. */
  id: string;
  description?: string;
  /** Schema of the extension's system config (gantry.toml `[extensions.<id>]`). */
  config?: StandardSchema<Config>;
  /** Schema of each subscription's parameters. */
  params?: StandardSchema<Params>;
  start?(api: ExtensionApi<Config, Params>): void | Promise<void>;
  /** A new subscription. Throwing marks it with the error's message (shown with its status). */
  subscribe?(subscription: Subscription<Params>, api: ExtensionApi<Config, Params>): void | Promise<void>;
  unsubscribe?(subscription: Subscription<Params>, api: ExtensionApi<Config, Params>): void | Promise<void>;
  onHook?(request: HookRequest, api: ExtensionApi<Config, Params>): HookResponse | Promise<HookResponse>;
  /** A run this extension started has ended (told while the extension runs; missed ones are not replayed). */
  onRunFinished?(run: FinishedRun, api: ExtensionApi<Config, Params>): void | Promise<void>;
  /**
   * An event of a run of a pipeline this extension has a subscription on (run started or
   * ended, an approval waiting or decided); told while the extension runs, once per event
   * whatever the number of subscriptions on that pipeline, and never replayed. Match it to
   * subscriptions with `api.subscriptions()` (namespace and pipeline).
   */
  onEvent?(event: PipelineEvent, api: ExtensionApi<Config, Params>): void | Promise<void>;
  /**
   * A short-lived credential for a task of a run (see TokenRequest), or undefined when there
   * is none for it (the task then gets the empty string). Throwing fails the task with the
   * error's message. Answer within 10 s; cache what you mint, the task waits for it.
   */
  provideToken?(request: TokenRequest, api: ExtensionApi<Config, Params>): string | undefined | Promise<string | undefined>;
}

/**
 * Declares an extension. Export the result as the module's default export.
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * import { defineExtension } from "gantry";
 *
 * export default defineExtension({
 *   id: "every-minute",
 *   params: v.object({ message: v.string() }),
 *   start(api) {
 *     setInterval(() => {
 *       for (const sub of api.subscriptions()) void api.startRun(sub.id, { variables: { MESSAGE: sub.params.message } });
 *     }, 60_000);
 *   },
 * });
 * ```
 */
export function defineExtension<Config, Params>(definition: ExtensionDefinition<Config, Params>): ExtensionDefinition<Config, Params> {
  return definition;
}

/**
 * Starts the run of a schedule that is due, as the cron and interval extensions do: the fire
 * time is stored under `stateKey` first (a restart right after must not take this tick for a
 * missed one), then the run starts. A failure becomes a line in the extension's log, never
 * a crash.
 *
 * Give `tick`, the time the tick was due (not when the timer woke), when several servers
 * share a database: each runs the extension and fires every tick, and only one run starts for
 * it. The first server stores the tick and the others, finding it stored, start nothing; two at
 * the same moment meet at the run's delivery id (made of the subscription and the tick).
 * Without `tick`, the time now is stored and every call starts a run.
 *
 * @example
 * // in subscribe(), on each tick of a timer due at `due`:
 * void fireSchedule(api, subscription, `last:${subscription.id}`, "every 5m", new Date(due));
 */
export async function fireSchedule<Config, Params>(
  api: ExtensionApi<Config, Params>,
  subscription: Subscription<Params>,
  stateKey: string,
  by: string,
  tick?: Date,
): Promise<void> {
  try {
    if (tick === undefined) {
      await api.setState(stateKey, String(Date.now()));
      await api.startRun(subscription.id, { by });
      return;
    }
    const last = Number(await api.getState(stateKey));
    if (Number.isFinite(last) && last >= tick.getTime()) return;
    await api.setState(stateKey, String(tick.getTime()));
    await api.startRun(subscription.id, { by, deliveryId: `schedule:${subscription.id}:${tick.toISOString()}` });
  } catch (error) {
    api.log(`${subscription.namespace}/${subscription.pipeline}: could not start a run (${by}): ${(error as Error).message}`);
  }
}
