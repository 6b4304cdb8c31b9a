// Messages between the extension host and an extension's Worker: one protocol, both ways.
import type { FinishedRun, HookRequest, HookResponse } from "../sdk/extension.ts";

export interface WireSubscription {
  id: number;
  namespace: string;
  pipeline: string;
  params: unknown;
}

export type ApiMethod = "startRun" | "secret" | "getState" | "setState" | "event";

export type HostMessage =
  | { type: "init"; id: string; file: string; config: unknown; subscriptions: WireSubscription[] }
  | { type: "subscribe"; subscription: WireSubscription }
  | { type: "unsubscribe"; subscription: WireSubscription }
  | { type: "hook"; requestId: number; request: HookRequest }
  | { type: "run-finished"; run: FinishedRun }
  | { type: "reply"; callId: number; ok: true; value: unknown }
  | { type: "reply"; callId: number; ok: false; error: string };

export type WorkerMessage =
  | { type: "ready" }
  /** `reason: "config"`: the extension's config schema refused its config (none given may be a choice). */
  | { type: "failed"; message: string; reason?: "config" }
  | { type: "log"; line: string }
  | { type: "subscription-error"; id: number; message: string }
  | { type: "call"; callId: number; method: ApiMethod; args: unknown[] }
  | { type: "hook-result"; requestId: number; response: HookResponse };
