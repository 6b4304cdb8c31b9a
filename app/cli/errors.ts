// Errors a CLI command ends with: each carries the message the user sees after "gantry: ",
// and the command runner turns every one of them into exit code 2.

/** A failure the user can act on; printed as `gantry: <message>`, exit 2. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The command line itself is wrong: the usage of the command is printed after the message. */
export class UsageError extends CliError {}
