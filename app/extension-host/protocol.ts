// Messages between the extension host and an extension's Worker: one protocol, both ways.
// What a Worker posts is checked (workerMessageSchema) before the host acts on it: the
// extension's own code runs in that Worker and may post anything.
import * as v from "valibot";
import type { FinishedRun, HookRequest, PipelineEvent, TokenRequest } from "../sdk/extension.ts";

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
  // A task asks for a credential the extension provides (its provideToken); answered by "token-result".
  | { type: "provide-token"; requestId: number; request: TokenRequest }
  | { type: "reply"; callId: number; ok: true; value: unknown }
  | { type: "reply"; callId: number; ok: false; error: string };

/** The longest log line or error message kept from an extension; the rest is cut. */
export const MAX_MESSAGE_LENGTH = 16 * 1024;

/** A line or message of an extension, cut to MAX_MESSAGE_LENGTH saying so. */
export function cutMessage(text: string): string {
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH)}… (cut)` : text;
}

const text = v.pipe(
  v.string(),
  v.transform(cutMessage),
);
const counter = v.pipe(v.number(), v.integer(), v.minValue(0));

/** An HTTP status a hook may answer with: one a Response can carry with a body. */
export const hookResponseSchema = v.object({
  status: v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(200, "must be 200-599"), v.maxValue(599, "must be 200-599")),
  body: v.optional(v.unknown()),
});

/** The longest credential an extension may hand a task. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

/**
 * A credential for a task's environment: one line of visible characters (an environment value
 * cannot hold NUL, and a value spread over lines is masked line by line only).
 */
export const providedTokenSchema = v.pipe(
  v.string("must be a string"),
  v.maxLength(MAX_TOKEN_LENGTH, `must be at most ${MAX_TOKEN_LENGTH} characters`),
  v.regex(/^[^\s\p{Cc}]*$/u, "must hold no whitespace or control characters"),
);

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
  // No token and no error: the extension has none for that run (the task gets the empty string).
  v.object({ type: v.literal("token-result"), requestId: counter, token: v.optional(providedTokenSchema), error: v.optional(text) }),
]);

export type WorkerMessage = v.InferOutput<typeof workerMessageSchema>;
