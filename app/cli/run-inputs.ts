// A run's typed inputs on the command line: `-i name=value` read by the pipeline's input
// schemas (fetched from the server) so "3" reaches the API as 3 and "yes" as true; missing
// required inputs asked for at a terminal; and every problem listed by input name, before
// any request to start is made.
import { checkInputs, describeInput, type InputProblem, type InputSpec, type InputValues } from "../domain/run-inputs.ts";
import type { ApiClient } from "./api-client.ts";
import { pipelineAnswer, type InputsJson } from "../api-contract/answers.ts";
import { formatPipelineRef, pipelinePath, type PipelineRef } from "./arguments.ts";
import { CliError } from "./errors.ts";
import { canPrompt, promptForInputs } from "./input-prompt.ts";

/** The pipeline's inputs as the domain checks them: in the file's order, required or not. */
export function inputSpecsOf(inputs: InputsJson | undefined): InputSpec[] {
  if (!inputs) return [];
  const required = new Set(inputs.required);
  return Object.entries(inputs.properties).map(([name, schema]) => ({ name, required: required.has(name), schema }));
}

/**
 * The inputs to start a run of `ref` with: the `-i` texts converted and checked by the
 * pipeline's schemas (defaults applied), missing required ones asked for when stdin and
 * stdout are a terminal. Undefined when the pipeline has no inputs and none were given (the
 * request then carries none). Throws a CliError listing every problem otherwise.
 */
export async function resolveInputs(client: ApiClient, ref: PipelineRef, given: Readonly<Record<string, string>>): Promise<InputValues | undefined> {
  const { data } = await client.json("GET", pipelinePath(ref), pipelineAnswer);
  return completeInputs(inputSpecsOf(data.pipeline.inputs), given, formatPipelineRef(ref));
}

/**
 * The `-i` texts of a run of `name` (a pipeline, or `gantry dev`'s file) checked by the
 * declared inputs, missing required ones asked for at a terminal; a CliError listing every
 * problem otherwise. Undefined when nothing is declared or given.
 */
export async function completeInputs(specs: readonly InputSpec[], given: Readonly<Record<string, string>>, name: string): Promise<InputValues | undefined> {
  if (specs.length === 0 && Object.keys(given).length === 0) return undefined;
  const checked = checkInputs(specs, given, { text: true });
  if (checked.ok) return checked.values;
  const missing = missingInputs(specs, given, checked.problems);
  const onlyMissing = missing.length === checked.problems.length;
  // A wrong value or name on the command line is fixed there; only gaps are asked for.
  if (!onlyMissing || !canPrompt()) throw new CliError(problemsMessage(name, specs, checked.problems, missing.length > 0));
  const answers = await promptForInputs(missing, `${name} needs ${missing.length === 1 ? "an input" : `${missing.length} inputs`}:`);
  const again = checkInputs(specs, { ...given, ...answers }, { text: true });
  if (!again.ok) throw new CliError(problemsMessage(name, specs, again.problems, false));
  return again.values;
}

/** The declared inputs the problems are about because nothing (or only blanks) was given for them. */
function missingInputs(specs: readonly InputSpec[], given: Readonly<Record<string, string>>, problems: readonly InputProblem[]): InputSpec[] {
  const troubled = new Set(problems.map((problem) => problem.input));
  return specs.filter((spec) => troubled.has(spec.name) && (given[spec.name] ?? "").trim() === "");
}

/**
 * "default/deploy cannot start with these inputs:" then one line per problem ("env: is
 * required (one of staging, production)"), and how to give them.
 */
function problemsMessage(name: string, specs: readonly InputSpec[], problems: readonly InputProblem[], anyMissing: boolean): string {
  const schemas = new Map(specs.map((spec) => [spec.name, spec.schema]));
  const lines = problems.map((problem) => {
    const schema = schemas.get(problem.input);
    // A missing input says what it takes; a wrong value's message already does.
    const rule = schema && problem.message === "is required" ? ` (${describeInput(schema)})` : "";
    return `  ${problem.input}: ${problem.message}${rule}`;
  });
  const hint = anyMissing ? "\ngive inputs with -i NAME=VALUE, or run at a terminal to be asked for the missing ones" : "";
  return `${name} cannot start with these inputs:\n${lines.join("\n")}${hint}`;
}

/** One row per input for `gantry pipeline get`: name, rule, required or its default, description. */
export function inputRows(specs: readonly InputSpec[]): string[][] {
  return specs.map((spec) => [
    spec.name,
    describeInput(spec.schema),
    spec.schema.default !== undefined ? `default ${String(spec.schema.default)}` : spec.required ? "required" : "optional",
    spec.schema.description ?? spec.schema.title ?? "",
  ]);
}

/** "env=production replicas=3 dryRun=true": a run's inputs on one line (text quoted when it has spaces). */
export function formatInputs(values: Readonly<Record<string, string | number | boolean>>): string {
  return Object.entries(values)
    .map(([name, value]) => `${name}=${typeof value === "string" && (value === "" || /\s/.test(value)) ? JSON.stringify(value) : String(value)}`)
    .join(" ");
}
