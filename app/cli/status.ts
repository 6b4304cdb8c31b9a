// `gantry status`: whether the server and its subsystems (database, Docker engine, the run()
// sandbox) are up, so a user can tell why tasks fail before reading any log.
import * as v from "valibot";
import { createApiClient } from "./api-client.ts";
import { parseArguments } from "./arguments.ts";
import { guard } from "./command.ts";
import { paint, printJson } from "./output.ts";

const USAGE = "usage: gantry status [--json]";

const subsystem = v.looseObject({
  status: v.string(),
  message: v.optional(v.string()),
  version: v.optional(v.string()),
  /** The sandbox's user. */
  user: v.optional(v.string()),
});
const healthAnswer = v.looseObject({
  status: v.string(),
  version: v.string(),
  subsystems: v.optional(v.record(v.string(), subsystem), {}),
});

export async function statusCommand(args: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseArguments(args, { json: { type: "boolean" } });
    const client = createApiClient();
    const { data, raw } = await client.json("GET", "/health", healthAnswer);
    if (values.json) {
      printJson(raw);
      return data.status === "ok" ? 0 : 1;
    }
    console.log(`gantry ${data.version} at ${client.url}: ${data.status === "ok" ? paint("green", "ok") : paint("red", data.status)}`);
    for (const [name, state] of Object.entries(data.subsystems)) {
      const about = state.version ?? (state.user && `as ${state.user}`);
      const detail = state.status === "ok" ? (about ? ` (${about})` : "") : state.message ? ` — ${state.message}` : "";
      console.log(`  ${name.padEnd(9)} ${state.status === "ok" ? paint("green", "ok") : paint("red", state.status)}${detail}`);
    }
    return data.status === "ok" ? 0 : 1;
  });
}
