// Messages between the extension host and an extension's Worker: one protocol, both ways.
// What a Worker posts is checked (workerMessageSchema) before the host acts on it: the
// extension's own code runs in that Worker and may post anything.
import * as v from "valibot";
import type { FinishedRun, HookRequest, PipelineEvent } from "../sdk/extension.ts";

export interface WireSubscription {
  id: number;
  namespace: string;
  pipeline: string;
  params: unknown;
}

export type HostMessage =
  | { type: "init"; id: string; file: string; config: unknown; subscriptions: WireSubscription[] }
  | { type: "subscribe"; subscription: WireSubscription }
  | { type: "unsubscribe"; subscription: WireSubscription }
  | { type: "hook"; requestId: number; request: HookRequest }
  | { type: "run-finished"; run: FinishedRun }
  // An event of a run of a pipeline the extension has a subscription on (its onEvent).
  | { type: "event"; event: PipelineEvent }
  | { type: "reply"; callId: number; ok: true; value: unknown }
  | { type: "reply"; callId: number; ok: false; error: string };

/** The longest log line or error message kept from an extension; the rest is cut. */
export const MAX_MESSAGE_LENGTH = 16 * 1024;

const text = v.pipe(
  v.string(),
  v.transform((value) => (value.length > MAX_MESSAGE_LENGTH ? `${value.slice(0, MAX_MESSAGE_LENGTH)}… (cut)` : value)),
);
const counter = v.pipe(v.number(), v.integer(), v.minValue(0));

/** An HTTP status a hook may answer with: one a Response can carry with a body. */
export const hookResponseSchema = v.object({
  status: v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(200, "must be 200-599"), v.maxValue(599, "must be 200-599")),
  body: v.optional(v.unknown()),
});

/** What a Worker (or a container extension, through container-extension.ts) tells the host. */
export const workerMessageSchema = v.variant("type", [
  v.object({ type: v.literal("ready") }),
  // `reason: "config"`: the extension's config schema refused its config (none given may be a choice).
  v.object({ type: v.literal("failed"), message: text, reason: v.optional(v.literal("config")) }),
  v.object({ type: v.literal("log"), line: text }),
  v.object({ type: v.literal("subscription-error"), id: counter, message: text }),
  // The method and its arguments are checked by parseApiCall, which names what is wrong in its answer.
  v.object({ type: v.literal("call"), callId: counter, method: v.unknown(), args: v.unknown() }),
  v.object({ type: v.literal("hook-result"), requestId: counter, response: hookResponseSchema }),
]);

export type WorkerMessage = v.InferOutput<typeof workerMessageSchema>;
