// Runs each extension in a Bun Worker (or, with an `image`, a container: container-extension.ts),
// restarts crashed ones with backoff, keeps their logs, feeds them subscriptions, hooks and the
// events of their pipelines' runs, and carries out what they ask only once each message and
// call is checked (protocol.ts, api-calls.ts).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import type { Db } from "../db/client.ts";
import { insertEvent } from "../db/repos/events.ts";
import { getExtensionState, setExtensionState } from "../db/repos/extension-state.ts";
import { sameSecret } from "../domain/same-secret.ts";
import { listSubscriptions, type SubscriptionRow } from "../db/repos/subscriptions.ts";
import { getRun } from "../db/repos/runs.ts";
import { DuplicateDeliveryError, GantryError, ValidationError } from "../domain/errors.ts";
import type { EventKind } from "../domain/event-kinds.ts";
import { ID_PATTERN } from "../domain/ids.ts";
import type { EventBus } from "../engine/event-bus.ts";
import type { Orchestrator } from "../engine/runs/orchestrator.ts";
import type { FinishedRun, HookRequest, HookResponse, StartedRun, TokenRequest } from "../sdk/extension.ts";
import { readRunFindings } from "../db/repos/findings.ts";
import type { SecretStore } from "../stores/secrets.ts";
import type { DockerConnection } from "../engine/executors/docker-client.ts";
import { createContainerExtension } from "./container-extension.ts";
import { API_METHODS, parseApiCall, type ApiCall } from "./api-calls.ts";
import { EVENT_BUS_KINDS, pipelineEventsFor, runLinks } from "./pipeline-events.ts";
import { cutMessage, MAX_MESSAGE_LENGTH, workerMessageSchema, type HostMessage, type WireSubscription, type WorkerMessage } from "./protocol.ts";

// In the binary every module has the binary's URL; the worker is an extra entrypoint
// placed at extension-host/ under the binary's root (scripts/build-binary.ts).
const EXTENSION_WORKER = Bun.isStandaloneExecutable
  ? new URL("./extension-host/extension-worker.ts", import.meta.url).href
  : new URL("./extension-worker.ts", import.meta.url).href;

/** How long start() and load() wait for extensions to be up before answering with their state. */
export const START_WAIT_MS = 5_000;
const LOG_LINES = 200;
const MAX_BACKOFF_MS = 30_000;
const HOOK_TIMEOUT_MS = 10_000;
/** Pipeline events remembered as told, so one published twice is told once. */
const TOLD_EVENTS = 2_000;

/**
 * "unconfigured": a built-in that needs settings nobody gave it (e.g. github without an App); not a failure.
 * "idle": one of Gantry's own extensions (IDLE_UNTIL_USED) that is not configured and no
 * pipeline subscribes to, not started (a Worker costs ~3.5 MiB); it starts when a pipeline subscribes.
 */
export type ExtensionState = "idle" | "starting" | "running" | "crashed" | "failed" | "unconfigured" | "stopped";

export interface ExtensionStatus {
  id: string;
  file: string;
  state: ExtensionState;
  restarts: number;
  error?: string;
  subscriptions: { id: number; namespace: string; pipeline: string; params: unknown; error?: string }[];
  log: string[];
}

export interface ExtensionHostOptions {
  dir: string;
  /**
   * Extensions installed from an npm registry (extension-installer.ts): their ids and entry
   * files, read at start. A built-in folder of the same id wins.
   */
  installed?: () => { id: string; file: string }[];
  /** Each extension's system config, by id (gantry.toml [extensions.<id>]). */
  configs: Record<string, unknown>;
  db: Db;
  bus: EventBus;
  orchestrator: Orchestrator;
  secrets: SecretStore;
  now: () => Date;
  /** For container extensions ([extensions.<id>] with `image`); without it they fail to start. */
  containers?: { connection: DockerConnection; instance: string; apiUrl: () => string };
  /**
   * The server's public URL, for the links in pipeline events (known once the server listens);
   * without it, the containers' apiUrl (the same URL, see deps.ts).
   */
  publicUrl?: () => string;
  /** Git sources following a repository sync when an extension tells of a push to it; none without. */
  sources?: { pushed(repoUrls: string[], branch: string): Promise<string[]> };
}

/** A call a container extension makes over HTTP (POST /api/v1/extensions/<id>/calls). */
export type ContainerCall = { ok: true; value: unknown } | { ok: false; status: 400 | 401; message: string };

export interface ExtensionHost {
  start(): Promise<void>;
  /** Ends every Worker and removes every container extension's container. */
  stop(): Promise<void>;
  list(): ExtensionStatus[];
  get(id: string): ExtensionStatus | undefined;
  /** Hands a hook request to an extension; resolves with its answer. */
  hook(id: string, request: HookRequest): Promise<HookResponse>;
  /**
   * Asks an extension for a short-lived credential for a task (its provideToken): resolves
   * with the token, or undefined when it has none (no such extension, not configured, it
   * takes no such requests, or none for that run); rejects when it fails, is down or is slow.
   */
  provideToken(id: string, request: TokenRequest): Promise<string | undefined>;
  /**
   * Carries out a container extension's call if `secret` is its current one; `body` is the
   * POST body as sent ({ method, args }), checked only once the secret is.
   */
  call(id: string, secret: string | undefined, body: unknown): Promise<ContainerCall>;
  /** Re-reads subscriptions and tells each extension what changed. */
  sync(): Promise<void>;
  /**
   * Starts one more extension (one just installed) without a restart; waits briefly
   * (START_WAIT_MS) for it to be up. Refused once the host is stopped.
   */
  load(id: string, file: string): Promise<ExtensionStatus>;
  /** Stops one extension and forgets it (one being uninstalled or upgraded). */
  unload(id: string): Promise<void>;
}

interface Running {
  id: string;
  file: string;
  state: ExtensionState;
  restarts: number;
  error?: string;
  /** A Bun Worker, or the container extension standing in for one. */
  worker?: { postMessage(message: HostMessage): void; terminate(): unknown };
  /** For a container extension: its image, and the secret of its current container. */
  image?: string;
  secret?: string;
  /** What the worker has been told, by subscription id. */
  sent: Map<number, WireSubscription>;
  subscriptionErrors: Map<number, string>;
  log: string[];
  hooks: Map<number, (response: HookResponse) => void>;
  /** provideToken requests waiting for the extension's answer. */
  tokenRequests: Map<number, (result: TokenResult) => void>;
  ready?: Promise<void>;
  readyResolve?: () => void;
  restartTimer?: ReturnType<typeof setTimeout>;
  startedAt: number;
  /** Runs it started that ended while it was not running (restarting after a crash): told once it is up. */
  finishedMeanwhile?: FinishedRun[];
}

/** Ended runs kept for an extension that is not running, at most (the oldest go first). */
const FINISHED_KEPT = 1_000;

/** An extension's answer to provideToken: a token, none, or why it could not give one. */
type TokenResult = { token?: string } | { error: string };

/**
 * Bun words a worker's uncaught error as a source excerpt, the message and a stack; the
 * extension's error (shown in API, UI and CLI) is the message alone, e.g. "error: boom".
 */
export const crashReason = (message: string) =>
  message
    .split("\n")
    .filter((line) => line.trim() && !/^\s*\d+ \| /.test(line) && !/^\s*\^\s*$/.test(line) && !/^\s+at /.test(line))
    .join(" ")
    .trim() || message;

const wire = (row: SubscriptionRow): WireSubscription => ({ id: row.id, namespace: row.namespace, pipeline: row.pipelineId, params: row.params });

/**
 * The extensions Gantry ships (extensions/<id>) that act only for a subscription: they wait,
 * idle, until a pipeline subscribes. Anyone else's extension may do work from its start()
 * alone (poll, tell of pushes), so it starts with the server.
 */
const IDLE_UNTIL_USED = new Set(["cron", "interval", "notify", "webhook", "github"]);

/** Ids the hooks receiver keeps for itself (/hooks/sources/<name> is a git source's). */
export const RESERVED_EXTENSION_IDS = new Set(["sources"]);

/** Extension modules: extensions/<id>/index.ts (or .js) with a valid id. */
export function discoverExtensions(dir: string): { id: string; file: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && ID_PATTERN.test(entry.name))
    .filter((entry) => {
      if (!RESERVED_EXTENSION_IDS.has(entry.name)) return true;
      console.error(`extension folder ${join(dir, entry.name)} is not loaded: "${entry.name}" is a reserved id (POST /hooks/${entry.name}/... is Gantry's own)`);
      return false;
    })
    .map((entry) => {
      const file = ["index.ts", "index.js"].map((name) => join(dir, entry.name, name)).find((path) => existsSync(path));
      return file ? { id: entry.name, file } : undefined;
    })
    .filter((found): found is { id: string; file: string } => found !== undefined);
}

export function createExtensionHost(options: ExtensionHostOptions): ExtensionHost {
  const { db, bus, now } = options;
  /** The server's public URL, for the links extensions are given (known once the server listens). */
  const baseUrl = () => options.publicUrl?.() ?? options.containers?.apiUrl() ?? "";
  const extensions = new Map<string, Running>();
  let stopped = false;
  let nextHook = 1;
  let unsubscribeBus: (() => void) | undefined;
  /** Pipeline events in the order the bus published them: a run's start is told before its end. */
  let eventQueue: Promise<void> = Promise.resolve();
  /** Subscription syncs, one after another; an event waits for those begun before it was published. */
  let syncing: Promise<void> = Promise.resolve();
  const toldEvents = new Set<string>();

  const record = async (kind: EventKind, data: Record<string, unknown>) => {
    await insertEvent(db, { kind, data, at: now() }).catch(() => undefined);
    bus.publish({ kind });
  };

  const appendLog = (ext: Running, line: string) => {
    ext.log.push(`${now().toISOString()} ${line}`);
    if (ext.log.length > LOG_LINES) ext.log.splice(0, ext.log.length - LOG_LINES);
  };

  const post = (ext: Running, message: HostMessage) => ext.worker?.postMessage(message);

  /**
   * A subscription the extension was told about and not since told to drop: those are the
   * ones it may act on. Kept in memory, so a hook costs no database read for it.
   */
  const own = (ext: Running, subscriptionId: number): WireSubscription => {
    const subscription = ext.sent.get(subscriptionId);
    if (!subscription) throw new Error(`subscription ${subscriptionId} is not one of extension ${ext.id}`);
    return subscription;
  };

  /** Carries out an ExtensionApi call, checked by parseApiCall, for a worker or a container. */
  const perform = async (ext: Running, call: ApiCall): Promise<unknown> => {
    switch (call.method) {
      case "startRun": {
        const [subscriptionId, opts] = call.args;
        const subscription = own(ext, subscriptionId);
        const key = { namespace: subscription.namespace, id: subscription.pipeline };
        const pageOf = (run: number) => runLinks(baseUrl(), { ...key, pipelineId: key.id, id: run }).page;
        // An extension sets system variables under its own prefix only (github: GANTRY_GITHUB_*).
        const prefix = `GANTRY_${ext.id.toUpperCase().replaceAll("-", "_")}_`;
        for (const name of Object.keys(opts.systemVariables ?? {})) {
          if (!name.startsWith(prefix)) throw new ValidationError(`extension ${ext.id} may set only ${prefix}* system variables, not "${name}"`);
        }
        try {
          // The delivery is stored in the transaction that creates the run (one commit, and
          // no window where a delivery is recorded without its run, or the other way round).
          const run = await options.orchestrator.startRun(key, {
            variables: opts.variables ?? {},
            ...(opts.inputs && { inputs: opts.inputs }),
            trigger: { kind: ext.id, ...(opts.by && { by: opts.by }) },
            ...(opts.systemVariables && { systemVariables: opts.systemVariables }),
            ...(opts.noSecrets === true && { noSecrets: true }),
            ...(opts.deliveryId && { delivery: { extension: ext.id, deliveryId: opts.deliveryId } }),
          });
          return { namespace: key.namespace, pipeline: key.id, run: run.id, duplicate: false, url: pageOf(run.id) } satisfies StartedRun;
        } catch (error) {
          if (!(error instanceof DuplicateDeliveryError)) throw error;
          // A schedule's tick fired by every server meets here as a matter of course: not news for the event log.
          if (!opts.deliveryId?.startsWith("schedule:")) {
            await record("delivery.duplicate", { extension: ext.id, delivery: opts.deliveryId, namespace: key.namespace, pipeline: key.id, run: error.runId });
          }
          return { namespace: key.namespace, pipeline: key.id, run: error.runId, duplicate: true, url: pageOf(error.runId) } satisfies StartedRun;
        }
      }
      case "secret": {
        const [subscriptionId, name] = call.args;
        const subscription = own(ext, subscriptionId);
        return options.secrets.resolve({ namespace: subscription.namespace, id: subscription.pipeline }, name);
      }
      case "event": {
        // The kind, the data's shape and size were checked with the call.
        const [kind, data, subscriptionId] = call.args;
        const text = JSON.stringify(data);
        let pipeline: { namespace: string; pipelineId: string } | undefined;
        if (subscriptionId != null) {
          const subscription = own(ext, subscriptionId);
          pipeline = { namespace: subscription.namespace, pipelineId: subscription.pipeline };
        }
        // The extension's own word goes under its id; the host's fields come last and win.
        await insertEvent(db, { kind, ...pipeline, data: { ...JSON.parse(text), extension: ext.id }, at: now() });
        bus.publish({ kind, ...(pipeline && { namespace: pipeline.namespace, pipeline: pipeline.pipelineId }) });
        return undefined;
      }
      case "pushed": {
        const [push] = call.args;
        return { sources: (await options.sources?.pushed(push.repoUrls, push.branch)) ?? [] };
      }
      case "getState":
        return getExtensionState(db, ext.id, call.args[0]);
      case "setState":
        return setExtensionState(db, ext.id, call.args[0], call.args[1]);
    }
  };

  /** Checks a call and carries it out; every refusal names the method and what is wrong. */
  const answerCall = async (ext: Running, method: unknown, args: unknown): Promise<unknown> => {
    const parsed = parseApiCall(method, args);
    if (!parsed.ok) throw new ValidationError(parsed.message);
    try {
      return await perform(ext, parsed.call);
    } catch (error) {
      if (error instanceof Error && !error.message.startsWith(`${parsed.call.method}: `)) error.message = `${parsed.call.method}: ${error.message}`;
      throw error;
    }
  };

  const scheduleRestart = (ext: Running) => {
    if (stopped) return;
    // Healthy for a minute: the crash is news, start over from a short wait.
    if (Date.now() - ext.startedAt > 60_000) ext.restarts = 0;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** ext.restarts);
    ext.restarts++;
    appendLog(ext, `[gantry] restarting in ${delay} ms`);
    clearTimeout(ext.restartTimer);
    ext.restartTimer = setTimeout(() => void relaunch(ext), delay);
  };

  /**
   * Starts an extension outside the server's own start (a restart, a wake): a start that
   * throws (its subscriptions could not be read, say) is a crash, restarted as one, never an
   * unhandled rejection that would end the server.
   */
  const relaunch = async (ext: Running) => {
    try {
      await launch(ext);
    } catch (error) {
      if (ext.state === "starting") crashed(ext, `could not start: ${(error as Error).message}`);
    }
  };

  const crashed = (ext: Running, reason: string) => {
    if (ext.state === "stopped") return;
    ext.state = "crashed";
    ext.error = reason;
    appendLog(ext, `[gantry] crashed: ${reason}`);
    ext.worker?.terminate();
    ext.worker = undefined;
    ext.sent.clear();
    for (const answer of ext.hooks.values()) answer({ status: 503, body: { error: { code: "unavailable", message: `extension ${ext.id} crashed` } } });
    ext.hooks.clear();
    for (const answer of ext.tokenRequests.values()) answer({ error: `extension ${ext.id} crashed` });
    ext.tokenRequests.clear();
    ext.readyResolve?.();
    void record("extension.crashed", { extension: ext.id, reason });
    scheduleRestart(ext);
  };

  /** What a Worker (or a container extension, in its stead) tells the host. */
  const receive = (ext: Running, worker: NonNullable<Running["worker"]>, message: WorkerMessage) => {
    switch (message.type) {
      case "ready": {
        ext.state = "running";
        ext.error = undefined;
        appendLog(ext, "[gantry] started");
        ext.readyResolve?.();
        void record("extension.started", { extension: ext.id });
        const meanwhile = ext.finishedMeanwhile ?? [];
        ext.finishedMeanwhile = undefined;
        for (const run of meanwhile) post(ext, { type: "run-finished", run });
        return;
      }
      case "failed": {
        // A bad config or module is not fixed by restarting: say so and wait for a fix.
        // No config at all is a choice (this server does not use the extension), not a failure.
        const unconfigured = options.configs[ext.id] === undefined && message.reason === "config";
        ext.state = unconfigured ? "unconfigured" : "failed";
        ext.error = unconfigured ? `not configured: add [extensions.${ext.id}] to gantry.toml to use it (${message.message})` : message.message;
        appendLog(ext, `[gantry] ${ext.error}`);
        worker.terminate();
        ext.worker = undefined;
        ext.readyResolve?.();
        if (!unconfigured) void record("extension.failed", { extension: ext.id, reason: message.message });
        return;
      }
      case "log":
        appendLog(ext, message.line);
        return;
      case "subscription-error":
        ext.subscriptionErrors.set(message.id, message.message);
        appendLog(ext, `[gantry] subscription ${message.id}: ${message.message}`);
        return;
      case "call":
        void answerCall(ext, message.method, message.args).then(
          (value) => post(ext, { type: "reply", callId: message.callId, ok: true, value }),
          (error: Error) => post(ext, { type: "reply", callId: message.callId, ok: false, error: error.message }),
        );
        return;
      case "hook-result": {
        const answer = ext.hooks.get(message.requestId);
        ext.hooks.delete(message.requestId);
        answer?.(message.response);
        return;
      }
      case "token-result": {
        const answer = ext.tokenRequests.get(message.requestId);
        ext.tokenRequests.delete(message.requestId);
        if (message.error !== undefined) appendLog(ext, `[gantry] provideToken failed: ${message.error}`);
        answer?.(message.error !== undefined ? { error: message.error } : { ...(message.token && { token: message.token }) });
        return;
      }
    }
  };

  /** A Worker's message, checked first: the extension's own code runs in the Worker and may post anything. */
  const fromWorker = (ext: Running, worker: NonNullable<Running["worker"]>, data: unknown) => {
    const checked = v.safeParse(workerMessageSchema, data);
    if (checked.success) return receive(ext, worker, checked.output);
    const problem = `${v.getDotPath(checked.issues[0]) ?? "message"}: ${checked.issues[0].message}`;
    appendLog(ext, `[gantry] ignored a malformed message from the extension (${problem})`.slice(0, MAX_MESSAGE_LENGTH));
    // A hook (or token request) waiting for this answer gets a 502 (an error) now rather than a timeout later.
    const loose = data as { type?: unknown; requestId?: unknown } | null;
    const answer = loose?.type === "hook-result" && typeof loose.requestId === "number" ? ext.hooks.get(loose.requestId) : undefined;
    if (answer) {
      ext.hooks.delete(loose!.requestId as number);
      answer({ status: 502, body: { error: { code: "bad_gateway", message: `extension ${ext.id} answered the hook with an invalid response (${problem})` } } });
    }
    const tokenAnswer = loose?.type === "token-result" && typeof loose.requestId === "number" ? ext.tokenRequests.get(loose.requestId) : undefined;
    if (tokenAnswer) {
      ext.tokenRequests.delete(loose!.requestId as number);
      tokenAnswer({ error: `extension ${ext.id} answered provideToken with an invalid response (${problem})` });
    }
  };

  /** Whether an exit is news (a crash to restart from): not after a stop or a failure that waits for a fix. */
  const exitIsCrash = (ext: Running) => ext.state !== "stopped" && ext.state !== "failed" && ext.state !== "unconfigured";

  /** Sends a (re)started extension its config and every subscription it has now. */
  const init = async (ext: Running, config: unknown) => {
    const worker = ext.worker;
    const rows = await listSubscriptions(db, { extension: ext.id });
    // Crashed and restarted during the read: the new Worker gets its own init.
    if (ext.worker !== worker) return;
    ext.subscriptionErrors.clear();
    for (const row of rows) ext.sent.set(row.id, wire(row));
    post(ext, { type: "init", id: ext.id, file: ext.file, config, subscriptions: rows.map(wire) });
  };

  const launch = async (ext: Running) => {
    if (stopped) return;
    ext.state = "starting";
    ext.startedAt = Date.now();
    ext.ready = new Promise((resolve) => (ext.readyResolve = resolve));
    if (ext.image) return launchContainer(ext, ext.image);
    const worker = new Worker(EXTENSION_WORKER);
    ext.worker = worker;
    // A Worker replaced meanwhile (crashed, restarted) is not heard any more.
    worker.onmessage = (event: MessageEvent<unknown>) => ext.worker === worker && fromWorker(ext, worker, event.data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      if (ext.worker === worker) crashed(ext, crashReason(event.message || "uncaught error"));
    };
    worker.addEventListener("close", (event) => {
      const code = (event as Event & { code?: number }).code;
      if (ext.worker === worker && exitIsCrash(ext)) crashed(ext, `the worker exited${code ? ` with code ${code}` : ""}`);
    });
    await init(ext, options.configs[ext.id] ?? {});
  };

  const launchContainer = async (ext: Running, image: string) => {
    if (!options.containers) return receive(ext, { postMessage() {}, terminate() {} }, { type: "failed", message: "container extensions need a Docker engine" });
    const { connection, instance, apiUrl } = options.containers;
    const channel = createContainerExtension({
      id: ext.id,
      image,
      connection,
      instance,
      apiUrl: apiUrl(),
      onMessage: (message) => ext.worker === channel && receive(ext, channel, message),
      onExit: (reason) => ext.worker === channel && exitIsCrash(ext) && crashed(ext, reason),
    });
    ext.worker = channel;
    ext.secret = channel.secret;
    await init(ext, (options.configs[ext.id] as { config?: unknown } | undefined)?.config ?? {});
  };

  /** Starts an idle extension, as at a server's start; a start that fails is a crash, restarted as one. */
  const wake = async (ext: Running) => {
    appendLog(ext, "[gantry] starting: a pipeline subscribes to it");
    await relaunch(ext);
  };

  const sync = async () => {
    const rows = await listSubscriptions(db);
    for (const ext of extensions.values()) {
      // Its first subscription starts an idle one, which is sent the ones it has then as it starts.
      if (ext.state === "idle" && rows.some((row) => row.extension === ext.id)) {
        await wake(ext);
        continue;
      }
      if (!ext.worker) continue;
      const wanted = new Map(rows.filter((row) => row.extension === ext.id).map((row) => [row.id, wire(row)]));
      for (const [id, sent] of ext.sent) {
        if (!wanted.has(id)) {
          post(ext, { type: "unsubscribe", subscription: sent });
          ext.sent.delete(id);
          ext.subscriptionErrors.delete(id);
        }
      }
      for (const [id, subscription] of wanted) {
        if (!ext.sent.has(id)) {
          post(ext, { type: "subscribe", subscription });
          ext.sent.set(id, subscription);
        }
      }
    }
  };

  /** Tells the extension that started a run (its trigger kind) that the run has ended. */
  const tellRunFinished = async (key: { namespace: string; id: string; run: number }) => {
    if (extensions.size === 0) return;
    const run = await getRun(db, key);
    const ext = run ? extensions.get(run.trigger.kind) : undefined;
    // Idle, stopped, failed or unconfigured: not told. One starting or restarting is told once it is up.
    if (!run || !ext || (ext.state !== "running" && ext.state !== "starting" && ext.state !== "crashed")) return;
    if (run.state !== "successful" && run.state !== "failed" && run.state !== "cancelled") return;
    const { counts, findings } = await readRunFindings(db, key);
    const finished: FinishedRun = {
      namespace: key.namespace,
      pipeline: key.id,
      run: key.run,
      state: run.state,
      url: runLinks(baseUrl(), run).page,
      ...(run.reason && { reason: run.reason }),
      tasks: run.tasks.map((task) => ({ id: task.taskId, state: task.state, ...(task.reason && { reason: task.reason }) })),
      findings: { ...counts, new: findings.filter((finding) => finding.isNew).length },
    };
    if (ext.state === "running") return post(ext, { type: "run-finished", run: finished });
    const kept = (ext.finishedMeanwhile ??= []);
    kept.push(finished);
    if (kept.length > FINISHED_KEPT) kept.shift();
  };

  /**
   * Tells every running extension with a subscription on the run's pipeline what a bus
   * message means for it (pipeline-events.ts). The run is read only when someone listens.
   * A Worker still starting is told too (it handles events once it has its init): a run
   * started as its first subscription woke it is not missed.
   */
  const tellEvents = async (busKind: string, key: { namespace: string; id: string; run: number }, task: string | undefined) => {
    const listening = [...extensions.values()].filter(
      (ext) => (ext.state === "running" || (ext.state === "starting" && ext.worker && !ext.image)) && [...ext.sent.values()].some((sub) => sub.namespace === key.namespace && sub.pipeline === key.id),
    );
    if (listening.length === 0) return;
    const run = await getRun(db, key);
    if (!run) return;
    for (const event of pipelineEventsFor(busKind, task, run, baseUrl(), now())) {
      // The engine may publish an end twice (a cancel racing the run's own end): tell it once.
      const id = `${event.namespace}/${event.pipeline}#${event.run} ${event.kind} ${event.task ?? ""}`;
      if (toldEvents.has(id)) continue;
      toldEvents.add(id);
      if (toldEvents.size > TOLD_EVENTS) toldEvents.delete(toldEvents.values().next().value!);
      for (const ext of listening) post(ext, { type: "event", event });
    }
  };

  const fresh = (found: { id: string; file: string; image?: string }): Running => ({
    ...found,
    state: "starting",
    restarts: 0,
    sent: new Map(),
    subscriptionErrors: new Map(),
    log: [],
    hooks: new Map(),
    tokenRequests: new Map(),
    startedAt: Date.now(),
  });

  /** Ends one extension's worker (or container) and answers whatever still waits on it. */
  const end = (ext: Running): unknown => {
    ext.state = "stopped";
    clearTimeout(ext.restartTimer);
    const ending = ext.worker?.terminate();
    ext.worker = undefined;
    for (const answer of ext.hooks.values()) answer({ status: 503, body: { error: { code: "unavailable", message: `extension ${ext.id} stopped` } } });
    ext.hooks.clear();
    for (const answer of ext.tokenRequests.values()) answer({ error: `extension ${ext.id} stopped` });
    ext.tokenRequests.clear();
    ext.readyResolve?.();
    return ending;
  };

  const status = (ext: Running): ExtensionStatus => ({
    id: ext.id,
    file: ext.file,
    state: ext.state,
    restarts: ext.restarts,
    ...(ext.error && { error: ext.error }),
    subscriptions: [...ext.sent.values()].map((subscription) => ({
      ...subscription,
      ...(ext.subscriptionErrors.has(subscription.id) && { error: ext.subscriptionErrors.get(subscription.id) }),
    })),
    log: [...ext.log],
  });

  return {
    async start() {
      const containers = Object.entries(options.configs)
        .filter(([id, config]) => ID_PATTERN.test(id) && typeof (config as { image?: unknown } | null)?.image === "string")
        .map(([id, config]) => ({ id, file: `image ${(config as { image: string }).image}`, image: (config as { image: string }).image }));
      const folders = discoverExtensions(options.dir);
      const builtIn = [...folders, ...containers];
      const taken = new Set(builtIn.map((found) => found.id));
      const installed = (options.installed?.() ?? []).filter((found) => {
        if (!taken.has(found.id) && !RESERVED_EXTENSION_IDS.has(found.id)) return true;
        console.error(`installed extension ${found.id} is not loaded: a built-in extension has that id`);
        return false;
      });
      for (const found of [...builtIn, ...installed]) {
        const ext = fresh(found);
        extensions.set(found.id, ext);
        // Gantry's own wait for a subscription: the sync below starts those that have one.
        if (folders.includes(found) && IDLE_UNTIL_USED.has(found.id) && options.configs[found.id] === undefined) ext.state = "idle";
        else await launch(ext);
      }
      unsubscribeBus = bus.subscribe((message) => {
        // Subscriptions are read again whoever changed them (another server too: a sync is idempotent).
        if (message.kind === "subscriptions.changed") syncing = syncing.then(sync).catch((error) => console.error("subscription sync failed:", error));
        // Another server's run events are told by that server's extensions: once, not once per server.
        if (message.remote) return;
        if (message.kind === "run.finished" && message.namespace && message.pipeline && message.run !== undefined) {
          void tellRunFinished({ namespace: message.namespace, id: message.pipeline, run: message.run }).catch((error) => console.error("run-finished notice failed:", error));
        }
        if ((EVENT_BUS_KINDS as readonly string[]).includes(message.kind) && message.namespace && message.pipeline && message.run !== undefined) {
          const key = { namespace: message.namespace, id: message.pipeline, run: message.run };
          // A run started right after a subscription is told to the extension it just woke.
          const synced = syncing;
          eventQueue = eventQueue
            .then(() => synced)
            .then(() => tellEvents(message.kind, key, message.task))
            .catch((error) => console.error(`${message.kind} notice failed:`, error));
        }
      });
      // Starts the idle ones that have subscriptions, and tells the others of any made while
      // they started (before the bus was listened to).
      const first = sync();
      syncing = first.catch(() => undefined);
      await first;
      for (const ext of extensions.values()) {
        if (ext.state === "idle") appendLog(ext, `[gantry] idle: no pipeline subscribes to it and it is not configured ([extensions.${ext.id}]); it starts when a pipeline subscribes`);
      }
      // Wait (briefly) for every extension to be up, so a fresh server accepts hooks at once.
      await Promise.race([Promise.all([...extensions.values()].map((ext) => ext.ready)), Bun.sleep(START_WAIT_MS)]);
    },
    async stop() {
      stopped = true;
      unsubscribeBus?.();
      // A container extension's container is removed; wait for that, not for Workers.
      await Promise.all([...extensions.values()].map(end));
    },
    async load(id, file) {
      // An install that finishes as the server shuts down must not start anything after stop().
      if (stopped) throw new GantryError("unavailable", `extension ${id} is not started: the server is stopping`);
      if (extensions.has(id)) throw new Error(`extension ${id} is already loaded`);
      const ext = fresh({ id, file });
      extensions.set(id, ext);
      await launch(ext);
      await Promise.race([ext.ready, Bun.sleep(START_WAIT_MS)]);
      return status(ext);
    },
    async unload(id) {
      const ext = extensions.get(id);
      if (!ext) return;
      extensions.delete(id);
      await end(ext);
    },
    list: () => [...extensions.values()].map(status),
    get(id) {
      const ext = extensions.get(id);
      return ext ? status(ext) : undefined;
    },
    async hook(id, request) {
      const ext = extensions.get(id);
      if (!ext) return { status: 404, body: { error: { code: "not_found", message: `no extension ${id}` } } };
      // Nothing subscribes to it, so nothing a hook could be for: answered without starting it
      // (a stranger's request must not start what nobody uses).
      if (ext.state === "idle") return { status: 404, body: { error: { code: "not_found", message: `extension ${id} is idle: no pipeline subscribes to it` } } };
      if (ext.state === "starting") await Promise.race([ext.ready, Bun.sleep(HOOK_TIMEOUT_MS)]);
      if (ext.state !== "running" || !ext.worker) {
        return { status: 503, body: { error: { code: "unavailable", message: `extension ${id} is ${ext.state}${ext.error ? `: ${ext.error}` : ""}` } } };
      }
      const requestId = nextHook++;
      return new Promise<HookResponse>((resolve) => {
        const timer = setTimeout(() => {
          ext.hooks.delete(requestId);
          resolve({ status: 504, body: { error: { code: "timeout", message: `extension ${id} did not answer in ${HOOK_TIMEOUT_MS / 1000}s` } } });
        }, HOOK_TIMEOUT_MS);
        ext.hooks.set(requestId, (response) => {
          clearTimeout(timer);
          resolve(response);
        });
        post(ext, { type: "hook", requestId, request });
      });
    },
    async provideToken(id, request) {
      const ext = extensions.get(id);
      if (!ext) return undefined;
      if (ext.state === "starting") await Promise.race([ext.ready, Bun.sleep(HOOK_TIMEOUT_MS)]);
      // Not configured, idle (so not configured either) or stopping: there is no App to mint
      // with, so no token, not an error.
      if (ext.state === "unconfigured" || ext.state === "idle" || ext.state === "stopped") return undefined;
      if (ext.state !== "running" || !ext.worker) throw new Error(`extension ${id} is ${ext.state}${ext.error ? `: ${ext.error}` : ""}`);
      const requestId = nextHook++;
      const result = await new Promise<TokenResult>((resolve) => {
        const timer = setTimeout(() => {
          ext.tokenRequests.delete(requestId);
          resolve({ error: `extension ${id} did not answer in ${HOOK_TIMEOUT_MS / 1000}s` });
        }, HOOK_TIMEOUT_MS);
        ext.tokenRequests.set(requestId, (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        post(ext, { type: "provide-token", requestId, request });
      });
      if ("error" in result) throw new Error(result.error);
      return result.token;
    },
    async call(id, secret, body) {
      const ext = extensions.get(id);
      // One answer for "no such extension" and "wrong secret": a caller learns nothing from it.
      if (!ext?.image || !ext.worker || !ext.secret || !secret || !sameSecret(secret, ext.secret)) return { ok: false, status: 401, message: "Authorization: Bearer <GANTRY_EXTENSION_SECRET> of a running container extension required" };
      const request = v.safeParse(containerCallSchema, body);
      if (!request.success) {
        const issue = request.issues[0];
        const field = v.getDotPath(issue);
        return { ok: false, status: 400, message: `the body must be JSON {"method": "<${["log", ...API_METHODS].join("|")}>", "args": [...]}${field ? `: ${field}: ${issue.message}` : ""}` };
      }
      const { method, args } = request.output;
      if (method === "log") {
        if (!Array.isArray(args)) return { ok: false, status: 400, message: "log: args must be an array of parts" };
        const line = args.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ");
        appendLog(ext, cutMessage(line));
        return { ok: true, value: undefined };
      }
      try {
        return { ok: true, value: await answerCall(ext, method, args ?? []) };
      } catch (error) {
        return { ok: false, status: 400, message: (error as Error).message };
      }
    },
    sync,
  };
}

/** The body of a container extension's call; the method's own arguments are api-calls.ts's to check. */
const containerCallSchema = v.object({ method: v.string("must be a string"), args: v.optional(v.unknown()) }, "must be an object");

