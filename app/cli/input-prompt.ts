// Asks at a terminal for run inputs the command line left out, one at a time: its
// description and rule, a picklist as a numbered choice, a boolean as y/n, the default
// taken on an empty answer, and a wrong answer asked again with what is wrong with it.
import { createInterface, type Interface } from "node:readline/promises";
import { checkInputs, describeInput, type InputSchema, type InputSpec, type InputValue, type InputValues } from "../domain/run-inputs.ts";
import { CliError } from "./errors.ts";
import { paint } from "./output.ts";

/** A person can answer: both what they type and what they read are a terminal. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY);
}

/** Asks for each input in turn after `heading`; the answers are typed values that fit their schemas. */
export async function promptForInputs(specs: readonly InputSpec[], heading: string): Promise<InputValues> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  // readline takes Ctrl-C for itself and would only pause: stop the command, as anywhere else.
  rl.on("SIGINT", () => {
    rl.close();
    process.stdout.write("\n");
    process.exit(130);
  });
  // Ctrl-D (end of input) leaves a question unanswered for good.
  const closed = new Promise<never>((_, reject) => rl.once("close", () => reject(new CliError("no answer: stopped at the prompt"))));
  closed.catch(() => undefined);
  try {
    console.log(heading);
    const values: InputValues = {};
    for (const spec of specs) values[spec.name] = await askFor(rl, spec, closed);
    return values;
  } finally {
    rl.close();
  }
}

async function askFor(rl: Interface, spec: InputSpec, closed: Promise<never>): Promise<InputValue> {
  for (const line of introduction(spec.name, spec.schema)) console.log(line);
  for (;;) {
    const answer = await Promise.race([rl.question(question(spec.name, spec.schema)), closed]).catch((error: unknown) => {
      // The error goes on a line of its own, not after the prompt.
      process.stdout.write("\n");
      throw error;
    });
    const read = readAnswer(spec, answer);
    if (read.ok) return read.value;
    console.log(paint("red", `  ${spec.name} ${read.problem}`));
  }
}

/** What is shown before the question: the description, and the rule or the numbered choices. */
function introduction(name: string, schema: InputSchema): string[] {
  const lines: string[] = [];
  // A picklist shows its choices, a boolean asks y/n: their rule needs no words.
  const rule = schema.enum || schema.type === "boolean" ? "" : describeInput(schema);
  const about = [schema.description ?? schema.title, rule].filter(Boolean).join(" — ");
  if (about) lines.push(`${paint("bold", name)}: ${about}`);
  if (schema.enum) lines.push(`  ${schema.enum.map((choice, index) => `${index + 1}) ${choice}`).join("  ")}`);
  return lines;
}

/** "env (1-2): ", "dryRun (y/n) [no]: ", "replicas [2]: ". */
function question(name: string, schema: InputSchema): string {
  const hint = schema.enum ? ` (1-${schema.enum.length})` : schema.type === "boolean" ? " (y/n)" : "";
  const fallback = schema.default === undefined ? "" : ` [${schema.type === "boolean" ? (schema.default ? "yes" : "no") : schema.default}]`;
  return `${name}${hint}${fallback}: `;
}

type Answer = { ok: true; value: InputValue } | { ok: false; problem: string };

/** An answer as its input's value: a choice by number or by value, y/n, the default when empty. */
export function readAnswer(spec: InputSpec, text: string): Answer {
  const { schema } = spec;
  const trimmed = text.trim();
  if (trimmed === "") return schema.default === undefined ? { ok: false, problem: "is required" } : { ok: true, value: schema.default };
  let value = text;
  // The numbers shown beside the choices pick them; a choice typed out works as well.
  if (schema.enum && /^\d+$/.test(trimmed)) {
    const index = Number(trimmed) - 1;
    if (index >= 0 && index < schema.enum.length) value = String(schema.enum[index]);
  }
  if (schema.type === "boolean" && /^[yn]$/i.test(trimmed)) value = /^y$/i.test(trimmed) ? "yes" : "no";
  // The same check as -i and the server: the text read by the schema, then its rule.
  const checked = checkInputs([{ ...spec, required: true }], { [spec.name]: value }, { text: true });
  if (checked.ok) return { ok: true, value: checked.values[spec.name]! };
  const choices = schema.enum ? ` (or its number, 1-${schema.enum.length})` : schema.type === "boolean" ? " (y or n)" : "";
  return { ok: false, problem: `${checked.problems[0]?.message ?? "is not valid"}${choices}` };
}
