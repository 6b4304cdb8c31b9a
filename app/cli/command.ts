// Runs a CLI command group: picks the subcommand, answers --help, and turns the errors a
// command ends with into `gantry: <message>` on stderr and exit code 2.
import { CliError, UsageError } from "./errors.ts";

export interface Subcommand {
  /** One usage line, e.g. "gantry run ls <ns/id> [--limit N] [--json]". */
  usage: string;
  run(args: string[]): Promise<number>;
}

const wantsHelp = (args: readonly string[]) => {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === "--help" || arg === "-h");
};

/** Runs `body` and maps CLI errors to exit code 2, with the usage after a usage error. */
export async function guard(usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`gantry: ${error.message}\n${usage}`);
      return 2;
    }
    if (error instanceof CliError) {
      console.error(`gantry: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

/** `gantry <group> <subcommand> ...`: dispatches to one of `subcommands` (aliases map to names). */
export async function dispatch(
  group: string,
  args: string[],
  subcommands: Record<string, Subcommand>,
  aliases: Record<string, string> = {},
): Promise<number> {
  const [name, ...rest] = args;
  const usage = `usage:\n${Object.values(subcommands)
    .map((subcommand) => `  ${subcommand.usage}`)
    .join("\n")}`;
  if (name === undefined) {
    console.error(usage);
    return 2;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    console.log(usage);
    return 0;
  }
  const key = Object.hasOwn(aliases, name) ? aliases[name]! : name;
  // hasOwn, so "constructor" and friends are unknown subcommands, not crashes.
  const subcommand = Object.hasOwn(subcommands, key) ? subcommands[key] : undefined;
  if (!subcommand) {
    console.error(`gantry: unknown subcommand "${group} ${name}"\n${usage}`);
    return 2;
  }
  const subUsage = `usage: ${subcommand.usage}`;
  if (wantsHelp(rest)) {
    console.log(subUsage);
    return 0;
  }
  return guard(subUsage, () => subcommand.run(rest));
}
