// The ExtensionApi calls an extension makes of the host, each checked with its own valibot
// schema before anything is done: an extension (a container one above all) is an outside
// program, so a malformed call is answered with an error naming the method and the field.
import * as v from "valibot";
import type { EventKind } from "../domain/event-kinds.ts";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../domain/secrets.ts";
import type { ExtensionEventKind } from "../sdk/extension.ts";

/** Events an extension may record through `api.event` (the rest are the host's to write). */
export const EXTENSION_EVENT_KINDS = ["delivery.rejected"] as const satisfies readonly (ExtensionEventKind & EventKind)[];
/** Characters of an event's data as JSON: events are a log, not a store. */
export const MAX_EVENT_DATA = 8 * 1024;
export const MAX_STATE_KEY_LENGTH = 512;
/** UTF-8 bytes of one state value: a schedule's last fire time needs a dozen. */
export const MAX_STATE_VALUE_BYTES = 1024 * 1024;
/** As the webhook extension allows for X-Gantry-Delivery. */
export const MAX_DELIVERY_ID_LENGTH = 256;
const MAX_BY_LENGTH = 200;

const encoder = new TextEncoder();

const subscriptionId = v.pipe(
  v.number("must be a subscription id (a number)"),
  v.integer("must be a subscription id (a whole number)"),
  v.minValue(1, "must be a subscription id (1 or more)"),
);

// Names and values only as strings; the engine checks names (NAME shape, GANTRY_* prefix,
// limits) with its own words, as it does for every run.
// v.record alone would take an array as {"0": ...}: a map of strings is a plain object.
const stringMap = v.pipe(
  v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be an object of strings"),
  v.record(v.string(), v.string("must be a string")),
);

const startRunOptions = v.strictObject(
  {
    variables: v.optional(stringMap),
    // Checked against the pipeline's input schemas by the engine, which names every problem.
    inputs: v.optional(
      v.pipe(
        v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be an object of input values"),
        v.record(v.string(), v.union([v.string(), v.number(), v.boolean()], "must be text, a number or a boolean")),
      ),
    ),
    systemVariables: v.optional(stringMap),
    noSecrets: v.optional(v.boolean("must be true or false")),
    deliveryId: v.optional(
      v.pipe(
        v.string("must be a string"),
        v.minLength(1, "must not be empty"),
        v.maxLength(MAX_DELIVERY_ID_LENGTH, `must be at most ${MAX_DELIVERY_ID_LENGTH} characters`),
      ),
    ),
    by: v.optional(v.pipe(v.string("must be a string"), v.maxLength(MAX_BY_LENGTH, `must be at most ${MAX_BY_LENGTH} characters`))),
  },
  "must be an object like {variables, inputs, systemVariables, noSecrets, deliveryId, by}",
);

const secretName = v.pipe(v.string("must be a string"), v.regex(SECRET_NAME_PATTERN, `must be a secret name: ${SECRET_NAME_RULE}`));

const stateKey = v.pipe(
  v.string("must be a string"),
  v.minLength(1, "must not be empty"),
  v.maxLength(MAX_STATE_KEY_LENGTH, `must be at most ${MAX_STATE_KEY_LENGTH} characters`),
);

const stateValue = v.pipe(
  v.string("must be a string"),
  v.check((value) => encoder.encode(value).byteLength <= MAX_STATE_VALUE_BYTES, `must be at most ${MAX_STATE_VALUE_BYTES} bytes`),
);

/** Whether a value survives JSON as it is: a Worker may post cycles, Maps or BigInts, which the event log cannot hold. */
function jsonLength(value: unknown): number | undefined {
  try {
    return JSON.stringify(value).length;
  } catch {
    return undefined;
  }
}

const eventData = v.pipe(
  v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be an object"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const length = jsonLength(dataset.value);
    if (length === undefined) addIssue({ message: "must be plain JSON data (no cycles, BigInts or functions)" });
    else if (length > MAX_EVENT_DATA) addIssue({ message: `must be at most ${MAX_EVENT_DATA} characters of JSON, not ${length}` });
  }),
);

/** A push to a repository: the URLs it is known by (clone, web, ssh) and the branch that moved. */
const pushSchema = v.strictObject(
  {
    repoUrls: v.pipe(
      v.array(v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), v.maxLength(2048, "must be at most 2048 characters")), "must be a list of repository URLs"),
      v.minLength(1, "must name at least one URL"),
      v.maxLength(10, "must name at most 10 URLs"),
    ),
    branch: v.pipe(v.string("must be a branch name"), v.minLength(1, "must not be empty"), v.maxLength(255, "must be at most 255 characters")),
  },
  'must be { repoUrls: [URL, ...], branch: "name" }',
);

const eventKind = v.picklist(EXTENSION_EVENT_KINDS, `must be one of ${EXTENSION_EVENT_KINDS.join(", ")} (the other events are Gantry's to record)`);

/** Each method: its parameters by name (for error messages) and the schema of its arguments. */
const CALLS = {
  startRun: { params: ["subscriptionId", "options"], args: v.tuple([subscriptionId, v.nullish(startRunOptions, {})]) },
  secret: { params: ["subscriptionId", "name"], args: v.tuple([subscriptionId, secretName]) },
  getState: { params: ["key"], args: v.tuple([stateKey]) },
  setState: { params: ["key", "value"], args: v.tuple([stateKey, stateValue]) },
  event: { params: ["kind", "data", "subscriptionId"], args: v.tuple([eventKind, eventData, v.nullish(subscriptionId)]) },
  pushed: { params: ["push"], args: v.tuple([pushSchema]) },
} as const;

export type ApiMethod = keyof typeof CALLS;
export const API_METHODS = Object.keys(CALLS) as ApiMethod[];

/** A checked call: the method and its arguments as the schema gave them back. */
export type ApiCall = { [M in ApiMethod]: { method: M; args: v.InferOutput<(typeof CALLS)[M]["args"]> } }[ApiMethod];

/** "options.variables.REF" for an issue at [1, "variables", "REF"] of startRun. */
function fieldOf(params: readonly string[], issue: v.BaseIssue<unknown>): string {
  const [first, ...rest] = (issue.path ?? []).map((item) => item.key);
  if (first === undefined) return "args";
  const head = typeof first === "number" ? (params[first] ?? `argument ${first + 1}`) : String(first);
  return [head, ...rest.map(String)].join(".");
}

function issueText(params: readonly string[], issue: v.BaseIssue<unknown>): string {
  const field = fieldOf(params, issue);
  // valibot's words for a key a strict object does not know ("Invalid key: Expected never...") say little.
  if (issue.type === "strict_object" && issue.expected === "never") return `${field}: unknown field`;
  return `${field}: ${issue.message}`;
}

/**
 * Checks a call as it arrived (from a Worker's message or a container's POST): a known
 * method, an array of arguments, no more of them than the method takes, each valid.
 */
export function parseApiCall(method: unknown, args: unknown): { ok: true; call: ApiCall } | { ok: false; message: string } {
  if (typeof method !== "string" || !Object.hasOwn(CALLS, method)) {
    const shown = typeof method === "string" ? `"${method.slice(0, 64)}"` : typeof method;
    return { ok: false, message: `unknown method ${shown}: one of ${API_METHODS.join(", ")}` };
  }
  const name = method as ApiMethod;
  const { params, args: schema } = CALLS[name];
  if (!Array.isArray(args)) return { ok: false, message: `${name}: args must be an array [${params.join(", ")}]` };
  if (args.length > params.length) {
    return { ok: false, message: `${name}: takes at most ${params.length} argument${params.length === 1 ? "" : "s"} (${params.join(", ")}), got ${args.length}` };
  }
  const parsed = v.safeParse(schema as v.GenericSchema, args);
  if (!parsed.success) return { ok: false, message: `${name}: ${parsed.issues.map((issue) => issueText(params, issue)).join("; ")}` };
  return { ok: true, call: { method: name, args: parsed.output } as ApiCall };
}
