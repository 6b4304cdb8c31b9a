// Runs every extension module of the extensions folder in its own Bun Worker, restarts a
// crashed one with backoff, keeps its recent log, feeds it its subscriptions, hands it
// hooks, and carries out what it asks (start a run, read a secret, keep state).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import { insertEvent } from "../db/repos/events.ts";
import { getExtensionState, setExtensionState } from "../db/repos/extension-state.ts";
import { listSubscriptions, type SubscriptionRow } from "../db/repos/subscriptions.ts";
import { DuplicateDeliveryError } from "../domain/errors.ts";
import type { EventKind } from "../domain/event-kinds.ts";
import { ID_PATTERN } from "../domain/ids.ts";
import type { EventBus } from "../engine/event-bus.ts";
import type { Orchestrator } from "../engine/orchestrator.ts";
import type { ExtensionEventKind, HookRequest, HookResponse } from "../sdk/extension.ts";
import type { SecretStore } from "../stores/secrets.ts";
import type { ApiMethod, HostMessage, WireSubscription, WorkerMessage } from "./protocol.ts";

// In the binary every module has the binary's URL; the worker is an extra entrypoint
// placed at extension-host/ under the binary's root (scripts/build-binary.ts).
const EXTENSION_WORKER = Bun.isStandaloneExecutable
  ? new URL("./extension-host/extension-worker.ts", import.meta.url).href
  : new URL("./extension-worker.ts", import.meta.url).href;

const LOG_LINES = 200;
const MAX_BACKOFF_MS = 30_000;
const HOOK_TIMEOUT_MS = 10_000;
/** Events an extension may record through `api.event` (the rest are the host's to write). */
const EXTENSION_EVENT_KINDS = ["delivery.rejected"] as const satisfies readonly (ExtensionEventKind & EventKind)[];
const MAX_EVENT_DATA = 8 * 1024;

export type ExtensionState = "starting" | "running" | "crashed" | "failed" | "stopped";

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
  /** Each extension's system config, by id (gantry.toml [extensions.<id>]). */
  configs: Record<string, unknown>;
  db: Db;
  bus: EventBus;
  orchestrator: Orchestrator;
  secrets: SecretStore;
  now: () => Date;
}

export interface ExtensionHost {
  start(): Promise<void>;
  stop(): void;
  list(): ExtensionStatus[];
  get(id: string): ExtensionStatus | undefined;
  /** Hands a hook request to an extension; resolves with its answer. */
  hook(id: string, request: HookRequest): Promise<HookResponse>;
  /** Re-reads subscriptions and tells each extension what changed. */
  sync(): Promise<void>;
}

interface Running {
  id: string;
  file: string;
  state: ExtensionState;
  restarts: number;
  error?: string;
  worker?: Worker;
  /** What the worker has been told, by subscription id. */
  sent: Map<number, WireSubscription>;
  subscriptionErrors: Map<number, string>;
  log: string[];
  hooks: Map<number, (response: HookResponse) => void>;
  ready?: Promise<void>;
  readyResolve?: () => void;
  restartTimer?: ReturnType<typeof setTimeout>;
  startedAt: number;
}

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

/** Extension modules: extensions/<id>/index.ts (or .js) with a valid id. */
export function discoverExtensions(dir: string): { id: string; file: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && ID_PATTERN.test(entry.name))
    .map((entry) => {
      const file = ["index.ts", "index.js"].map((name) => join(dir, entry.name, name)).find((path) => existsSync(path));
      return file ? { id: entry.name, file } : undefined;
    })
    .filter((found): found is { id: string; file: string } => found !== undefined);
}

export function createExtensionHost(options: ExtensionHostOptions): ExtensionHost {
  const { db, bus, now } = options;
  const extensions = new Map<string, Running>();
  let stopped = false;
  let nextHook = 1;
  let unsubscribeBus: (() => void) | undefined;

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

  /** Carries out an ExtensionApi call for a worker. */
  const perform = async (ext: Running, method: ApiMethod, args: unknown[]): Promise<unknown> => {
    switch (method) {
      case "startRun": {
        const [subscriptionId, opts] = args as [number, { variables?: Record<string, string>; deliveryId?: string; by?: string }];
        const subscription = own(ext, subscriptionId);
        const key = { namespace: subscription.namespace, id: subscription.pipeline };
        try {
          // The delivery is stored in the transaction that creates the run (one commit, and
          // no window where a delivery is recorded without its run, or the other way round).
          const run = await options.orchestrator.startRun(key, {
            variables: opts.variables ?? {},
            trigger: { kind: ext.id, ...(opts.by && { by: opts.by }) },
            ...(opts.deliveryId && { delivery: { extension: ext.id, deliveryId: opts.deliveryId } }),
          });
          return { namespace: key.namespace, pipeline: key.id, run: run.id, duplicate: false };
        } catch (error) {
          if (!(error instanceof DuplicateDeliveryError)) throw error;
          await record("delivery.duplicate", { extension: ext.id, delivery: opts.deliveryId, namespace: key.namespace, pipeline: key.id, run: error.runId });
          return { namespace: key.namespace, pipeline: key.id, run: error.runId, duplicate: true };
        }
      }
      case "secret": {
        const [subscriptionId, name] = args as [number, string];
        const subscription = own(ext, subscriptionId);
        return options.secrets.resolve({ namespace: subscription.namespace, id: subscription.pipeline }, name);
      }
      case "event": {
        const [kind, data, subscriptionId] = args as [string, Record<string, unknown>, number | undefined];
        if (!(EXTENSION_EVENT_KINDS as readonly string[]).includes(kind)) throw new Error(`extensions may record only ${EXTENSION_EVENT_KINDS.join(", ")} events, not "${kind}"`);
        if (data === null || typeof data !== "object" || Array.isArray(data)) throw new Error("event data must be an object");
        const text = JSON.stringify(data);
        if (text.length > MAX_EVENT_DATA) throw new Error(`event data is over ${MAX_EVENT_DATA} characters of JSON`);
        let pipeline: { namespace: string; pipelineId: string } | undefined;
        if (subscriptionId !== undefined) {
          const subscription = own(ext, subscriptionId);
          pipeline = { namespace: subscription.namespace, pipelineId: subscription.pipeline };
        }
        // The extension's own word goes under its id; the host's fields come last and win.
        await insertEvent(db, { kind: kind as EventKind, ...pipeline, data: { ...JSON.parse(text), extension: ext.id }, at: now() });
        bus.publish({ kind, ...(pipeline && { namespace: pipeline.namespace, pipeline: pipeline.pipelineId }) });
        return undefined;
      }
      case "getState":
        return getExtensionState(db, ext.id, String(args[0]));
      case "setState":
        return setExtensionState(db, ext.id, String(args[0]), String(args[1]));
    }
  };

  const scheduleRestart = (ext: Running) => {
    if (stopped) return;
    // Healthy for a minute: the crash is news, start over from a short wait.
    if (Date.now() - ext.startedAt > 60_000) ext.restarts = 0;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** ext.restarts);
    ext.restarts++;
    appendLog(ext, `[gantry] restarting in ${delay} ms`);
    ext.restartTimer = setTimeout(() => void launch(ext), delay);
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
    ext.readyResolve?.();
    void record("extension.crashed", { extension: ext.id, reason });
    scheduleRestart(ext);
  };

  const launch = async (ext: Running) => {
    if (stopped) return;
    ext.state = "starting";
    ext.startedAt = Date.now();
    ext.ready = new Promise((resolve) => (ext.readyResolve = resolve));
    const worker = new Worker(EXTENSION_WORKER);
    ext.worker = worker;
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      const message = event.data;
      switch (message.type) {
        case "ready":
          ext.state = "running";
          ext.error = undefined;
          appendLog(ext, "[gantry] started");
          ext.readyResolve?.();
          void record("extension.started", { extension: ext.id });
          return;
        case "failed":
          // A bad config or module is not fixed by restarting: say so and wait for a fix.
          ext.state = "failed";
          ext.error = message.message;
          appendLog(ext, `[gantry] ${message.message}`);
          worker.terminate();
          ext.worker = undefined;
          ext.readyResolve?.();
          void record("extension.failed", { extension: ext.id, reason: message.message });
          return;
        case "log":
          appendLog(ext, message.line);
          return;
        case "subscription-error":
          ext.subscriptionErrors.set(message.id, message.message);
          appendLog(ext, `[gantry] subscription ${message.id}: ${message.message}`);
          return;
        case "call":
          void perform(ext, message.method, message.args).then(
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
      }
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      crashed(ext, crashReason(event.message || "uncaught error"));
    };
    worker.addEventListener("close", (event) => {
      const code = (event as Event & { code?: number }).code;
      if (ext.worker === worker && ext.state !== "stopped" && ext.state !== "failed") crashed(ext, `the worker exited${code ? ` with code ${code}` : ""}`);
    });
    const rows = await listSubscriptions(db, { extension: ext.id });
    ext.subscriptionErrors.clear();
    for (const row of rows) ext.sent.set(row.id, wire(row));
    post(ext, { type: "init", id: ext.id, file: ext.file, config: options.configs[ext.id] ?? {}, subscriptions: rows.map(wire) });
  };

  const sync = async () => {
    const rows = await listSubscriptions(db);
    for (const ext of extensions.values()) {
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
      for (const found of discoverExtensions(options.dir)) {
        const ext: Running = { ...found, state: "starting", restarts: 0, sent: new Map(), subscriptionErrors: new Map(), log: [], hooks: new Map(), startedAt: Date.now() };
        extensions.set(found.id, ext);
        await launch(ext);
      }
      unsubscribeBus = bus.subscribe((message) => {
        if (message.kind === "subscriptions.changed") void sync().catch((error) => console.error("subscription sync failed:", error));
      });
      // Wait (briefly) for every extension to be up, so a fresh server accepts hooks at once.
      await Promise.race([Promise.all([...extensions.values()].map((ext) => ext.ready)), Bun.sleep(5_000)]);
    },
    stop() {
      stopped = true;
      unsubscribeBus?.();
      for (const ext of extensions.values()) {
        ext.state = "stopped";
        clearTimeout(ext.restartTimer);
        ext.worker?.terminate();
        ext.worker = undefined;
      }
    },
    list: () => [...extensions.values()].map(status),
    get(id) {
      const ext = extensions.get(id);
      return ext ? status(ext) : undefined;
    },
    async hook(id, request) {
      const ext = extensions.get(id);
      if (!ext) return { status: 404, body: { error: { code: "not_found", message: `no extension ${id}` } } };
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
    sync,
  };
}
