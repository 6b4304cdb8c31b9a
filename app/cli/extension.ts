// `gantry extension ls|logs`: the extension modules the server runs (state, subscriptions,
// error) and an extension's recent log.
import * as v from "valibot";
import { idSchema } from "../domain/ids.ts";
import { createApiClient } from "./api-client.ts";
import { extensionAnswer, extensionListAnswer } from "./api-schemas.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { paint, printJson, table } from "./output.ts";

const STATE_STYLE = { running: "green", starting: "cyan", crashed: "yellow", failed: "red", unconfigured: "dim", stopped: "dim" } as const;

const paintExtensionState = (state: string) => (Object.hasOwn(STATE_STYLE, state) ? paint(STATE_STYLE[state as keyof typeof STATE_STYLE], state) : state);

function parseExtensionId(text: string): string {
  if (!v.is(idSchema, text)) throw new UsageError(`"${text}" is not an extension id (see gantry extension ls)`);
  return text;
}

const ls: Subcommand = {
  usage: "gantry extension ls [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    takePositionals(positionals, []);
    const { data, raw } = await createApiClient().json("GET", "/extensions", extensionListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.extensions.length === 0) {
      console.log("no extensions: the server's extensions folder has none");
      return 0;
    }
    const rows = data.extensions.map((extension) => {
      const failing = extension.subscriptions.filter((subscription) => subscription.error).length;
      return [
        extension.id,
        paintExtensionState(extension.state),
        String(extension.restarts),
        `${extension.subscriptions.length}${failing ? paint("red", ` (${failing} with errors)`) : ""}`,
        extension.error ? paint("red", extension.error.split("\n")[0]!) : "-",
      ];
    });
    console.log(table(["EXTENSION", "STATE", "RESTARTS", "SUBSCRIPTIONS", "ERROR"], rows));
    return 0;
  },
};

const logs: Subcommand = {
  usage: "gantry extension logs <id> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [idText] = takePositionals(positionals, ["id"]);
    const id = parseExtensionId(idText!);
    const { data, raw } = await createApiClient().json("GET", `/extensions/${id}`, extensionAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    for (const line of data.extension.log) console.log(line);
    return 0;
  },
};

export function extensionCommand(args: string[]): Promise<number> {
  return dispatch("extension", args, { ls, logs }, { list: "ls", log: "logs" });
}
