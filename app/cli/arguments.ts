// Command-line parsing on top of node:util parseArgs, plus the argument forms shared by
// commands: `<ns/id>` pipeline references, run numbers and `-v KEY=VALUE` variables.
import { parseArgs, type ParseArgsConfig } from "node:util";
import * as v from "valibot";
import { idSchema, runNumberSchema } from "../domain/ids.ts";
import { UsageError } from "./errors.ts";

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** Parses flags and positionals strictly; a wrong flag becomes a UsageError. */
export function parseArguments<const T extends OptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs messages are long-winded ("Unknown option '--x'. To specify a positional
    // argument starting with a '-', place it at the end of the command after '--'...").
    throw new UsageError((error as Error).message.split(". ")[0]!.replace(/\.$/, ""));
  }
}

/** Exactly the positionals named, in order; too few or too many is a UsageError. */
export function takePositionals(positionals: string[], names: readonly string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing <${names[positionals.length]}>`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument "${positionals[names.length]}"`);
  return positionals;
}

export interface PipelineRef {
  namespace: string;
  id: string;
}

const DEFAULT_NAMESPACE = "default";

/** `ns/id`, or just `id` for the "default" namespace. */
export function parsePipelineRef(text: string): PipelineRef {
  const parts = text.split("/");
  if (parts.length > 2) throw new UsageError(`"${text}" is not a pipeline: write <namespace>/<id> or <id>`);
  const [namespace, id] = parts.length === 2 ? [parts[0]!, parts[1]!] : [DEFAULT_NAMESPACE, parts[0]!];
  for (const [what, value] of [["namespace", namespace], ["pipeline id", id]] as const) {
    const checked = v.safeParse(idSchema, value);
    if (!checked.success) throw new UsageError(`"${text}": ${what} ${checked.issues[0].message}`);
  }
  return { namespace, id };
}

/** The API path of a pipeline, segments escaped. */
export function pipelinePath(ref: PipelineRef): string {
  return `/pipelines/${encodeURIComponent(ref.namespace)}/${encodeURIComponent(ref.id)}`;
}

export function formatPipelineRef(ref: PipelineRef): string {
  return `${ref.namespace}/${ref.id}`;
}

/** A run number: 1, 2, 3... (a leading "#" is allowed, as the CLI prints them). */
export function parseRunNumber(text: string): number {
  const parsed = v.safeParse(runNumberSchema, text.replace(/^#/, ""));
  if (!parsed.success) throw new UsageError(`"${text}" is not a run number (1, 2, 3...)`);
  return parsed.output;
}

/** A positive whole number flag such as --limit. */
export function parsePositiveInteger(flag: string, text: string): number {
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`${flag} expects a whole number above 0, got "${text}"`);
  return Number(text);
}

/** `-v KEY=VALUE` pairs (or those of `flag`, e.g. --param); the value may itself contain "=". Later pairs win. */
export function parseVariables(pairs: readonly string[], flag = "-v"): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} expects KEY=VALUE, got "${pair}"`);
    variables[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return variables;
}
