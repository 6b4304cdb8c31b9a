// Limits on run variables — how many, how long a name, how big a value and all together —
// checked wherever a run gets them (API, web form, webhooks, extensions: all start through
// the engine). They end up in every task's environment and in every run listing.
import * as v from "valibot";
import { formatBytes } from "./bytes.ts";
import { ENV_NAME_PATTERN, RESERVED_ENV_PREFIX } from "./ids.ts";

export const RUN_VARIABLE_LIMITS = {
  /** Variables one run may set. */
  count: 100,
  /** Characters of one name. */
  nameLength: 128,
  /** UTF-8 bytes of one value; Linux refuses a single NAME=value over 128 KiB when a process starts. */
  valueBytes: 64 * 1024,
  /** UTF-8 bytes of all names and values together, well under Linux's ~2 MiB for a whole environment. */
  totalBytes: 256 * 1024,
} as const;

const encoder = new TextEncoder();
const byteLength = (text: string) => encoder.encode(text).byteLength;

/** What is wrong with one name's length, or undefined. The shape (NAME, no GANTRY_) is checked beside it. */
export function variableNameLengthProblem(name: string): string | undefined {
  if (name.length <= RUN_VARIABLE_LIMITS.nameLength) return undefined;
  return `variable name "${name.slice(0, 32)}…" is ${name.length} characters, over the limit of ${RUN_VARIABLE_LIMITS.nameLength} characters`;
}

/** The first limit these run variables break, said so that the sender knows which and by how much; or undefined. */
export function runVariablesProblem(variables: Record<string, string>): string | undefined {
  const entries = Object.entries(variables);
  if (entries.length > RUN_VARIABLE_LIMITS.count) {
    return `${entries.length} run variables, over the limit of ${RUN_VARIABLE_LIMITS.count} variables per run`;
  }
  let total = 0;
  for (const [name, value] of entries) {
    const nameProblem = variableNameLengthProblem(name);
    if (nameProblem) return nameProblem;
    const size = byteLength(value);
    if (size > RUN_VARIABLE_LIMITS.valueBytes) {
      return `variable "${name}" is ${formatBytes(size)} (${size} bytes), over the limit of ${formatBytes(RUN_VARIABLE_LIMITS.valueBytes)} per value`;
    }
    total += byteLength(name) + size;
  }
  if (total > RUN_VARIABLE_LIMITS.totalBytes) {
    return `the run variables take ${formatBytes(total)} (${total} bytes) together, over the limit of ${formatBytes(RUN_VARIABLE_LIMITS.totalBytes)} for all of them`;
  }
  return undefined;
}

/**
 * Names a run may not set: they change how the tasks' programs run rather than what they
 * work on (the dynamic loader, shells and interpreters reading code from the environment,
 * git's settings, where programs and config files are looked up, a checkout's token). The
 * one who starts a run may not own the pipeline's code; its author may still set them in
 * the file's own `variables` or a task's `env`.
 */
const RUN_VARIABLE_DENIED = new Set([
  "PATH", "HOME", "ENV", "BASH_ENV", "IFS", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
  "NODE_OPTIONS", "NODE_PATH", "BUN_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME",
  "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
  "JDK_JAVA_OPTIONS", "GCONV_PATH", "LOCPATH", "HOSTALIASES", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS",
  "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "CHECKOUT_TOKEN",
]);
const RUN_VARIABLE_DENIED_PREFIXES = ["LD_", "DYLD_", "GIT_", "BASH_FUNC_", "NPM_CONFIG_", "BUN_CONFIG_"];

/** Why a run may not set a variable of this name, or undefined when it may. */
export function runVariableNameProblem(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (!RUN_VARIABLE_DENIED.has(upper) && !RUN_VARIABLE_DENIED_PREFIXES.some((prefix) => upper.startsWith(prefix))) return undefined;
  return `variable "${name}" would change how the tasks' programs run, so a run may not set it (a pipeline may, in its own variables)`;
}

/** Run variables at the edge: NAME shapes (no GANTRY_*), string values, and the limits above. */
export const runVariablesSchema = v.pipe(
  v.record(
    v.pipe(
      v.string(),
      v.regex(ENV_NAME_PATTERN, "must be a valid environment variable name"),
      v.check((name) => !name.toUpperCase().startsWith(RESERVED_ENV_PREFIX), "GANTRY_* names are reserved"),
      v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        const problem = runVariableNameProblem(dataset.value);
        if (problem) addIssue({ message: problem });
      }),
    ),
    v.string("variable values must be strings"),
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = runVariablesProblem(dataset.value);
    if (problem) addIssue({ message: problem });
  }),
);
