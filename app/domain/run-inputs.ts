// Typed run inputs: a pipeline declares them with valibot (or any Standard Schema) and each
// is stored with its version as the JSON Schema of one form field. Every start (API, web
// form, CLI, webhooks) is checked here against that schema, so the server needs no pipeline
// code to refuse a bad value, and a run keeps the checked values with defaults applied.
import { ENV_NAME_PATTERN } from "./ids.ts";

/** The JSON Schema of one input: only what a form field can show and the server can check. */
export interface InputSchema {
  type: "string" | "number" | "integer" | "boolean";
  enum?: (string | number)[];
  title?: string;
  description?: string;
  default?: string | number | boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: InputFormat;
}

/** One declared input, in the order the file lists them. */
export interface InputSpec {
  name: string;
  required: boolean;
  schema: InputSchema;
}

export type InputValue = string | number | boolean;
export type InputValues = Record<string, InputValue>;

/** One problem with the inputs given to a run, by input name. */
export interface InputProblem {
  input: string;
  message: string;
}

export type InputsResult = { ok: true; values: InputValues } | { ok: false; problems: InputProblem[] };

export const INPUT_LIMITS = {
  /** Inputs one pipeline may declare. */
  count: 50,
  /** Characters of one input's name. */
  nameLength: 64,
  /** Characters of one text value: it becomes an environment variable of every task. */
  valueLength: 16 * 1024,
  /** UTF-8 bytes of all values as JSON: run() tasks get them in one environment string (Linux: 128 KiB at most). */
  totalBytes: 64 * 1024,
  /** Characters of a value checked against a pattern: the server runs the author's regular expression. */
  patternValueLength: 1024,
} as const;

/**
 * A repeated group that starts with a repetition, `(a+)+` or `(\w+\s?)*`: such patterns can
 * take exponential time on a crafted value, and the server checks values itself. A group
 * that starts with a literal, `(-[a-z]+)*`, splits one way only and is fine.
 */
const NESTED_REPETITION = /\((?:\?:)?(?:\\.|\[(?:[^\]\\]|\\.)*\]|[^()\\|])[*+{](?:[^()\\]|\\.)*\)[*+{]/;

/** The environment variable prefix of inputs: `env` is `INPUT_ENV` in a task. */
export const INPUT_ENV_PREFIX = "INPUT_";

export const INPUT_FORMATS = ["email", "uri", "uuid", "date", "date-time", "time", "ipv4", "ipv6"] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

const FORMAT_PATTERNS: Record<InputFormat, RegExp> = {
  email: /^[\w+.-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}$/i,
  uri: /^[a-z][a-z\d+.-]*:\/\/\S+$/i,
  uuid: /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i,
  date: /^\d{4}-(?:0[1-9]|1[0-2])-(?:[12]\d|0[1-9]|3[01])$/,
  "date-time": /^\d{4}-(?:0[1-9]|1[0-2])-(?:[12]\d|0[1-9]|3[01])[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?$/i,
  time: /^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$/,
  ipv4: /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/,
  ipv6: /^(?:[\da-f]{0,4}:){2,7}[\da-f]{0,4}$/i,
};

const SCHEMA_KEYS = new Set([
  "type", "enum", "title", "description", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
  "multipleOf", "minLength", "maxLength", "pattern", "format", "$schema", "examples",
]);

/**
 * Checks a JSON Schema (as a schema library produced it) for one form field and returns its
 * stored form, or why it cannot be shown as one.
 */
export function formFieldSchema(json: unknown): { ok: true; schema: InputSchema } | { ok: false; message: string } {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return { ok: false, message: "its JSON Schema is not an object" };
  const source = json as Record<string, unknown>;
  const unknown = Object.keys(source).find((key) => !SCHEMA_KEYS.has(key));
  if (unknown !== undefined) return { ok: false, message: `cannot be shown as a form field (its JSON Schema uses "${unknown}"); use a string, number, boolean or picklist` };
  const type = source.type;
  if (type !== "string" && type !== "number" && type !== "integer" && type !== "boolean") {
    return { ok: false, message: `cannot be shown as a form field (type ${JSON.stringify(type) ?? "missing"}); use a string, number, boolean or picklist` };
  }
  const schema: InputSchema = { type };
  if (source.enum !== undefined) {
    if (!Array.isArray(source.enum) || source.enum.length === 0 || !source.enum.every((item) => typeof item === "string" || typeof item === "number")) {
      return { ok: false, message: "cannot be shown as a form field: its choices must be strings or numbers" };
    }
    schema.enum = source.enum as (string | number)[];
  }
  for (const key of ["title", "description", "pattern"] as const) {
    if (source[key] === undefined) continue;
    if (typeof source[key] !== "string") return { ok: false, message: `its JSON Schema's "${key}" must be a string` };
    schema[key] = source[key] as string;
  }
  if (schema.pattern !== undefined) {
    try {
      new RegExp(schema.pattern, "u");
    } catch {
      return { ok: false, message: `its pattern /${schema.pattern}/ is not a regular expression the server can check` };
    }
    if (NESTED_REPETITION.test(schema.pattern)) {
      return { ok: false, message: `its pattern /${schema.pattern}/ repeats a group that repeats (like (a+)+), which can take the server exponential time; write it without the nested repetition` };
    }
  }
  for (const key of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength"] as const) {
    if (source[key] === undefined) continue;
    if (typeof source[key] !== "number" || !Number.isFinite(source[key])) return { ok: false, message: `its JSON Schema's "${key}" must be a number` };
    schema[key] = source[key] as number;
  }
  if (source.format !== undefined) {
    if (!(INPUT_FORMATS as readonly unknown[]).includes(source.format)) {
      return { ok: false, message: `its format ${JSON.stringify(source.format)} cannot be checked by the server (known: ${INPUT_FORMATS.join(", ")})` };
    }
    schema.format = source.format as InputFormat;
  }
  if (source.default !== undefined) {
    const checked = checkValue(schema, source.default);
    if (!checked.ok) return { ok: false, message: `its default ${JSON.stringify(source.default)} ${checked.message}` };
    schema.default = checked.value;
  }
  return { ok: true, schema };
}

/** What is wrong with an input's name, or undefined. */
export function inputNameProblem(name: string): string | undefined {
  if (!ENV_NAME_PATTERN.test(name)) return "must be a name of letters, digits and _ (not starting with a digit): it is also the environment variable INPUT_<NAME>";
  if (name.length > INPUT_LIMITS.nameLength) return `must be at most ${INPUT_LIMITS.nameLength} characters`;
  return undefined;
}

/** The environment variable a task reads an input from. */
export const inputEnvName = (name: string) => `${INPUT_ENV_PREFIX}${name.toUpperCase()}`;

/** Inputs as environment variables: `INPUT_<NAME>`, booleans "true"/"false", numbers as written. */
export function inputsEnv(values: InputValues): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [inputEnvName(name), String(value)]));
}

/** The inputs as one JSON Schema object, as the API describes a pipeline's inputs. */
export function inputsJsonSchema(inputs: readonly InputSpec[]): Record<string, unknown> {
  return {
    type: "object",
    properties: Object.fromEntries(inputs.map((input) => [input.name, input.schema])),
    required: inputs.filter((input) => input.required).map((input) => input.name),
    additionalProperties: false,
  };
}

/** Words for an input's rule, for hints and prompts: "one of staging, production", "1 to 10". */
export function describeInput(schema: InputSchema): string {
  if (schema.enum) return `one of ${schema.enum.join(", ")}`;
  if (schema.type === "boolean") return "true or false";
  const parts: string[] = [schema.type === "integer" ? "a whole number" : schema.type === "number" ? "a number" : schema.format ? `${article(schema.format)} ${schema.format}` : "text"];
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  if (low !== undefined) parts.push(`${schema.exclusiveMinimum !== undefined ? "over" : "at least"} ${low}`);
  if (high !== undefined) parts.push(`${schema.exclusiveMaximum !== undefined ? "under" : "at most"} ${high}`);
  if (schema.minLength !== undefined) parts.push(`at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined) parts.push(`at most ${schema.maxLength} characters`);
  if (schema.pattern !== undefined) parts.push(`matching /${schema.pattern}/`);
  return parts.join(", ");
}

const article = (word: string) => (/^[aeiou]/i.test(word) ? "an" : "a");

/**
 * Checks the inputs given to a run against the pipeline's declared ones and returns the
 * values to store (defaults applied), or every problem by input name. With `text`, values
 * may be strings to convert by the schema (a form, `-i name=value`, a webhook's body path).
 */
export function checkInputs(inputs: readonly InputSpec[], given: Readonly<Record<string, unknown>>, options: { text?: boolean } = {}): InputsResult {
  const problems: InputProblem[] = [];
  const values: InputValues = {};
  const declared = new Set(inputs.map((input) => input.name));
  for (const name of Object.keys(given)) {
    if (declared.has(name)) continue;
    problems.push({
      input: name,
      message: inputs.length === 0 ? "this pipeline declares no inputs" : `is not an input of this pipeline (its inputs: ${inputs.map((input) => input.name).join(", ")})`,
    });
  }
  for (const input of inputs) {
    const raw = Object.hasOwn(given, input.name) ? given[input.name] : undefined;
    // An empty form field or flag is no value: the default (or "is required") applies.
    const missing = raw === undefined || raw === null || (options.text === true && raw === "" && input.schema.type !== "string");
    if (missing || (options.text === true && raw === "" && !input.required)) {
      if (input.schema.default !== undefined) values[input.name] = input.schema.default;
      else if (input.required) problems.push({ input: input.name, message: "is required" });
      continue;
    }
    const converted = options.text === true && typeof raw === "string" ? fromText(input.schema, raw) : raw;
    const checked = checkValue(input.schema, converted);
    if (!checked.ok) problems.push({ input: input.name, message: checked.message });
    else values[input.name] = checked.value;
  }
  if (problems.length === 0) {
    const size = new TextEncoder().encode(JSON.stringify(values)).byteLength;
    if (size > INPUT_LIMITS.totalBytes) {
      const largest = Object.entries(values).sort(([, a], [, b]) => String(b).length - String(a).length)[0]![0];
      problems.push({ input: largest, message: `the inputs are ${size} bytes together, over the limit of ${INPUT_LIMITS.totalBytes}; ${largest} is the largest` });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, values };
}

/** A text value as the schema reads it: "3" for a number, "yes" for a boolean; unreadable text stays text (and is refused). */
export function fromText(schema: InputSchema, text: string): unknown {
  const trimmed = text.trim();
  if (schema.type === "boolean") {
    if (/^(true|yes|on|1)$/i.test(trimmed)) return true;
    if (/^(false|no|off|0)$/i.test(trimmed)) return false;
    return text;
  }
  if (schema.type === "number" || schema.type === "integer") {
    if (trimmed === "" || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(trimmed)) return text;
    return Number(trimmed);
  }
  // A picklist of numbers written as text.
  if (schema.enum && !schema.enum.includes(text)) {
    const number = Number(trimmed);
    if (trimmed !== "" && schema.enum.includes(number)) return number;
  }
  return text;
}

export type ValueCheck = { ok: true; value: InputValue } | { ok: false; message: string };

/** The value if it fits the schema, or what is wrong with it (a phrase after the input's name). */
export function checkValue(schema: InputSchema, value: unknown): ValueCheck {
  const problem = valueProblem(schema, value);
  return problem === undefined ? { ok: true, value: value as InputValue } : { ok: false, message: problem };
}

function valueProblem(schema: InputSchema, value: unknown): string | undefined {
  if (schema.enum) {
    return schema.enum.some((choice) => choice === value) ? undefined : `must be one of ${schema.enum.map((choice) => JSON.stringify(choice)).join(", ")}`;
  }
  switch (schema.type) {
    case "boolean":
      return typeof value === "boolean" ? undefined : "must be true or false";
    case "number":
    case "integer": {
      if (typeof value !== "number" || !Number.isFinite(value)) return schema.type === "integer" ? "must be a whole number" : "must be a number";
      if (schema.type === "integer" && !Number.isInteger(value)) return "must be a whole number";
      if (schema.minimum !== undefined && value < schema.minimum) return `must be at least ${schema.minimum}`;
      if (schema.maximum !== undefined && value > schema.maximum) return `must be at most ${schema.maximum}`;
      if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `must be more than ${schema.exclusiveMinimum}`;
      if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) return `must be less than ${schema.exclusiveMaximum}`;
      if (schema.multipleOf !== undefined && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) return `must be a multiple of ${schema.multipleOf}`;
      return undefined;
    }
    case "string": {
      if (typeof value !== "string") return "must be text";
      const length = [...value].length;
      if (length > INPUT_LIMITS.valueLength) return `is ${length} characters, over the limit of ${INPUT_LIMITS.valueLength}`;
      if (value.includes("\0")) return "contains a NUL character";
      if (schema.minLength !== undefined && length < schema.minLength) return schema.minLength === 1 ? "must not be empty" : `must be at least ${schema.minLength} characters`;
      if (schema.maxLength !== undefined && length > schema.maxLength) return `must be at most ${schema.maxLength} characters`;
      if (schema.pattern !== undefined) {
        if (length > INPUT_LIMITS.patternValueLength) return `is too long to check against its pattern (at most ${INPUT_LIMITS.patternValueLength} characters)`;
        if (!new RegExp(schema.pattern, "u").test(value)) return `must match /${schema.pattern}/`;
      }
      if (schema.format !== undefined && !FORMAT_PATTERNS[schema.format].test(value)) return `must be ${article(schema.format)} ${schema.format}`;
      return undefined;
    }
  }
}
