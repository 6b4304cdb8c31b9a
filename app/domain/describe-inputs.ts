// A pipeline's input schemas (live valibot or other Standard Schema objects) as the data
// stored with its version: one JSON Schema form field each, whether it is required, or why
// it cannot be one. Done where the file's code runs (the sandboxed import, a Worker), since
// schemas are objects with functions that never cross to the server.
import { toJsonSchema } from "@valibot/to-json-schema";
import type { GenericSchema } from "valibot";
import { formFieldSchema, INPUT_LIMITS, inputEnvName, inputNameProblem, type InputSpec } from "./run-inputs.ts";

/** Marks an input already described (plain data) in a definition sent from the sandbox. */
export const DESCRIBED_INPUT = "__gantry_input";

export interface DescribedInput {
  [DESCRIBED_INPUT]: true;
  required?: boolean;
  /** The JSON Schema as the schema's library gave it, checked by formFieldSchema on the server. */
  jsonSchema?: unknown;
  /** Why the schema has no JSON Schema form. */
  error?: string;
}

interface StandardLike {
  "~standard": {
    vendor?: unknown;
    validate?: (value: unknown) => unknown;
    jsonSchema?: { input?: (options: { target: string }) => unknown };
  };
}

const isStandard = (value: unknown): value is StandardLike =>
  (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as StandardLike)["~standard"] === "object";

const isDescribed = (value: unknown): value is DescribedInput =>
  typeof value === "object" && value !== null && (value as Record<string, unknown>)[DESCRIBED_INPUT] === true;

/** One live schema as plain data: its JSON Schema and whether a run must give it. */
export function describeInput(schema: unknown): DescribedInput {
  if (isDescribed(schema)) return schema;
  if (!isStandard(schema)) return { [DESCRIBED_INPUT]: true, error: "must be a schema (valibot, or any Standard Schema), e.g. v.string()" };
  const standard = schema["~standard"];
  // A schema that takes "nothing" is optional; what it gives back then is its default.
  let required = true;
  try {
    const result = standard.validate?.(undefined);
    if (result instanceof Promise) {
      result.catch(() => undefined);
      return { [DESCRIBED_INPUT]: true, error: "is an asynchronous schema; an input's schema must check values at once" };
    }
    required = !(typeof result === "object" && result !== null && !(result as { issues?: unknown }).issues);
  } catch (error) {
    return { [DESCRIBED_INPUT]: true, error: `its schema threw when checked: ${(error as Error).message}` };
  }
  let jsonSchema: unknown;
  try {
    if (standard.vendor === "valibot") jsonSchema = toJsonSchema(schema as unknown as GenericSchema, { errorMode: "throw" });
    else if (typeof standard.jsonSchema?.input === "function") jsonSchema = standard.jsonSchema.input({ target: "draft-07" });
    else return { [DESCRIBED_INPUT]: true, error: `cannot be shown as a form: its library (${String(standard.vendor)}) gives no JSON Schema` };
  } catch (error) {
    return { [DESCRIBED_INPUT]: true, error: `cannot be shown as a form: ${(error as Error).message}` };
  }
  return { [DESCRIBED_INPUT]: true, required, jsonSchema };
}

/** The definition with its inputs described, ready to cross as JSON (the sandboxed import sends this). */
export function withDescribedInputs(definition: unknown): unknown {
  if (typeof definition !== "object" || definition === null) return definition;
  const inputs = (definition as { inputs?: unknown }).inputs;
  if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) return definition;
  return { ...definition, inputs: Object.fromEntries(Object.entries(inputs).map(([name, schema]) => [name, describeInput(schema)])) };
}

/** The stored inputs of a definition's `inputs` (live or described), or every problem by input. */
export function inputSpecs(inputs: Record<string, unknown>): { ok: true; inputs: InputSpec[] } | { ok: false; issues: { path: string; message: string }[] } {
  const issues: { path: string; message: string }[] = [];
  const specs: InputSpec[] = [];
  const entries = Object.entries(inputs);
  if (entries.length > INPUT_LIMITS.count) return { ok: false, issues: [{ path: "inputs", message: `declares ${entries.length} inputs, over the limit of ${INPUT_LIMITS.count}` }] };
  const envNames = new Map<string, string>();
  for (const [name, schema] of entries) {
    const path = `inputs.${name}`;
    const nameProblem = inputNameProblem(name);
    if (nameProblem) {
      issues.push({ path, message: `input name ${nameProblem}` });
      continue;
    }
    const clash = envNames.get(inputEnvName(name));
    if (clash !== undefined) {
      issues.push({ path, message: `"${name}" and "${clash}" would both be ${inputEnvName(name)}` });
      continue;
    }
    envNames.set(inputEnvName(name), name);
    const described = describeInput(schema);
    if (described.error !== undefined) {
      issues.push({ path, message: described.error });
      continue;
    }
    const field = formFieldSchema(described.jsonSchema);
    if (!field.ok) {
      issues.push({ path, message: field.message });
      continue;
    }
    // An optional input without a default is simply absent from a run that does not give it.
    specs.push({ name, required: described.required !== false, schema: field.schema });
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, inputs: specs };
}
