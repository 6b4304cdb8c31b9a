// Runs one extension module inside a Bun Worker: validates its config and each
// subscription's params with the module's schemas, and gives it the narrow ExtensionApi,
// whose calls go to the host as messages.
import * as croner from "croner";
import * as valibot from "valibot";
import { registerSdkModule } from "../engine/sdk-module.ts";
import type { ExtensionApi, ExtensionDefinition, StandardSchema, Subscription } from "../sdk/extension.ts";
import type { ApiMethod } from "./api-calls.ts";
import type { HostMessage, WireSubscription, WorkerMessage } from "./protocol.ts";

declare const self: Worker;

const send = (message: WorkerMessage) => self.postMessage(message);
const format = (parts: unknown[]) => parts.map((part) => (typeof part === "string" ? part : Bun.inspect(part))).join(" ");

let extension: ExtensionDefinition | undefined;
let api: ExtensionApi | undefined;
/** Whether start() succeeded: events and run ends reach only an extension that is up. */
let started = false;
const subscriptions = new Map<number, Subscription>();
/** Ids told to subscribe (valid or not) and not since unsubscribed. */
const told = new Set<number>();
const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let nextCall = 1;
// Subscribe, unsubscribe and hook messages may arrive while "init" still imports the module;
// they wait for it, or a subscription made then would never reach the extension.
let initDone: () => void = () => undefined;
const initialized = new Promise<void>((resolve) => (initDone = resolve));

function call(method: ApiMethod, args: unknown[]): Promise<unknown> {
  const callId = nextCall++;
  return new Promise((resolve, reject) => {
    pending.set(callId, { resolve, reject });
    send({ type: "call", callId, method, args });
  });
}

async function validate(schema: StandardSchema | undefined, value: unknown): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> {
  if (!schema) return { ok: true, value };
  const result = await schema["~standard"].validate(value);
  if (!result.issues) return { ok: true, value: result.value };
  const message = result.issues
    .map((issue) => {
      const path = (issue.path ?? []).map((part) => (typeof part === "object" ? String(part.key) : String(part))).join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
  return { ok: false, message };
}

async function subscribe(wire: WireSubscription): Promise<void> {
  // A subscribe sent while the worker started may repeat one that "init" carried.
  if (told.has(wire.id)) return;
  told.add(wire.id);
  const checked = await validate(extension?.params, wire.params);
  if (!checked.ok) {
    send({ type: "subscription-error", id: wire.id, message: checked.message });
    return;
  }
  const subscription: Subscription = { id: wire.id, namespace: wire.namespace, pipeline: wire.pipeline, params: checked.value };
  subscriptions.set(wire.id, subscription);
  try {
    await extension?.subscribe?.(subscription, api!);
  } catch (error) {
    // One bad subscription (a cron expression croner rejects, an interval under the minimum)
    // is that subscription's error, not the whole extension's.
    subscriptions.delete(wire.id);
    send({ type: "subscription-error", id: wire.id, message: (error as Error).message });
  }
}

async function handle(message: HostMessage): Promise<void> {
  switch (message.type) {
    case "init": {
      try {
        registerSdkModule();
        // Extensions write their schemas with valibot (and the cron extension schedules with
        // croner, the github one talks to GitHub with octokit); give them the host's, so an
        // extension folder needs no node_modules (and works beside the single binary).
        Bun.plugin({
          name: "gantry-extension-modules",
          setup(build) {
            build.module("valibot", () => ({ exports: { ...valibot }, loader: "object" }));
            build.module("croner", () => ({ exports: { ...croner }, loader: "object" }));
            // In the binary, GitHub's libraries (the github extension's) come from it too, loaded
            // only by an extension that imports them (~4 MiB a Worker).
            if (Bun.isStandaloneExecutable) {
              const octokit = () => import("./octokit-modules.ts");
              build.module("@octokit/auth-app", async () => ({ exports: { ...(await octokit()).authApp }, loader: "object" }));
              build.module("@octokit/request", async () => ({ exports: { ...(await octokit()).request }, loader: "object" }));
              build.module("@octokit/webhooks-methods", async () => ({ exports: { ...(await octokit()).webhooksMethods }, loader: "object" }));
            }
          },
        });
        const module = await import(message.file);
        extension = module.default as ExtensionDefinition;
        if (!extension || typeof extension !== "object" || extension.id !== message.id) {
          send({ type: "failed", message: `${message.file} must export default defineExtension({ id: "${message.id}", ... })` });
          return;
        }
        const config = await validate(extension.config, message.config ?? {});
        if (!config.ok) {
          send({ type: "failed", reason: "config", message: `config of extension ${message.id}: ${config.message}` });
          return;
        }
        api = {
          config: config.value,
          log: (...parts) => send({ type: "log", line: format(parts) }),
          subscriptions: () => [...subscriptions.values()],
          startRun: (id, options) => call("startRun", [id, options ?? {}]) as ReturnType<ExtensionApi["startRun"]>,
          secret: (id, name) => call("secret", [id, name]) as Promise<string | undefined>,
          getState: (key) => call("getState", [key]) as Promise<string | undefined>,
          setState: (key, value) => call("setState", [key, value]) as Promise<void>,
          pushed: (push) => call("pushed", [push]) as Promise<{ sources: string[] }>,
          event: (kind, data, subscriptionId) => call("event", [kind, data, subscriptionId]) as Promise<void>,
        };
        for (const subscription of message.subscriptions) await subscribe(subscription);
        await extension.start?.(api);
        started = true;
        send({ type: "ready" });
      } catch (error) {
        send({ type: "failed", message: `extension ${message.id} failed to start: ${(error as Error).message}` });
      } finally {
        initDone();
      }
      return;
    }
    case "subscribe":
      await initialized;
      await subscribe(message.subscription);
      return;
    case "unsubscribe": {
      await initialized;
      const subscription = subscriptions.get(message.subscription.id);
      told.delete(message.subscription.id);
      subscriptions.delete(message.subscription.id);
      if (subscription) await extension?.unsubscribe?.(subscription, api!);
      return;
    }
    case "hook": {
      await initialized;
      try {
        const response = extension?.onHook ? await extension.onHook(message.request, api!) : { status: 404, body: { error: { code: "not_found", message: "this extension takes no hooks" } } };
        send({ type: "hook-result", requestId: message.requestId, response });
      } catch (error) {
        send({ type: "log", line: `onHook threw: ${(error as Error).stack ?? error}` });
        send({ type: "hook-result", requestId: message.requestId, response: { status: 500, body: { error: { code: "internal", message: "the extension failed to handle the hook" } } } });
      }
      return;
    }
    case "provide-token": {
      await initialized;
      try {
        const token = extension?.provideToken ? await extension.provideToken(message.request, api!) : undefined;
        if (token !== undefined && typeof token !== "string") throw new Error(`provideToken must answer a string or undefined, not ${typeof token}`);
        send({ type: "token-result", requestId: message.requestId, ...(token && { token }) });
      } catch (error) {
        send({ type: "token-result", requestId: message.requestId, error: (error as Error).message ?? String(error) });
      }
      return;
    }
    case "run-finished": {
      await initialized;
      if (!started) return;
      try {
        await extension?.onRunFinished?.(message.run, api!);
      } catch (error) {
        send({ type: "log", line: `onRunFinished threw: ${(error as Error).stack ?? error}` });
      }
      return;
    }
    case "event": {
      await initialized;
      if (!started) return;
      try {
        await extension?.onEvent?.(message.event, api!);
      } catch (error) {
        send({ type: "log", line: `onEvent threw: ${(error as Error).stack ?? error}` });
      }
      return;
    }
    case "reply": {
      const waiter = pending.get(message.callId);
      pending.delete(message.callId);
      if (message.ok) waiter?.resolve(message.value);
      else waiter?.reject(new Error(message.error));
      return;
    }
  }
}

self.onmessage = (event: MessageEvent<HostMessage>) => {
  void handle(event.data).catch((error) => send({ type: "log", line: `extension error: ${(error as Error).stack ?? error}` }));
};
