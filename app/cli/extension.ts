// `gantry extension ls|logs|available|install|upgrade|uninstall`: the extension modules the
// server runs (state, subscriptions, error), an extension's recent log, and extensions from
// the npm registry, installed by the server (integrity-checked, pinned in its gantry.toml) and
// started at once.
import * as v from "valibot";
import { idSchema } from "../domain/ids.ts";
import { createApiClient } from "./api-client.ts";
import { extensionAnswer, extensionAvailableAnswer, extensionInstallAnswer, extensionListAnswer, extensionUninstallAnswer } from "../api-contract/answers.ts";
import { parsePackageSpec } from "../extension-host/npm-registry.ts";
import { ValidationError } from "../domain/errors.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { paint, printJson, table } from "./output.ts";

const STATE_STYLE = { idle: "dim", running: "green", starting: "cyan", crashed: "yellow", failed: "red", unconfigured: "dim", stopped: "dim" } as const;

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
        extension.installed ? `${extension.installed.package}@${extension.installed.version}` : "built-in",
        paintExtensionState(extension.state),
        String(extension.restarts),
        `${extension.subscriptions.length}${failing ? paint("red", ` (${failing} with errors)`) : ""}`,
        extension.error ? paint("red", extension.error.split("\n")[0]!) : "-",
      ];
    });
    console.log(table(["EXTENSION", "FROM", "STATE", "RESTARTS", "SUBSCRIPTIONS", "ERROR"], rows));
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

/** Installs and upgrades download, check and start an extension: give them longer than a plain request. */
const INSTALL_TIMEOUT_MS = 120_000;

/**
 * Whether install or upgrade succeeded: the extension runs, or is "unconfigured" (its code
 * loaded and waits for its [extensions.<id>] table: a setting to add, as the server counts it).
 */
const startedState = (state: string) => state === "running" || state === "unconfigured";

/** "started (running)", what it still needs, or why it did not start, for install and upgrade. */
function startedLine(answer: { id: string; state: string; error?: string | undefined }): string {
  if (answer.state === "running") return `extension ${answer.id} is ${paintExtensionState("running")}`;
  if (answer.state === "unconfigured") {
    return `extension ${answer.id} is installed and ${paintExtensionState("unconfigured")}: it needs its [extensions.${answer.id}] table in the server's gantry.toml to run (gantry extension logs ${answer.id} says what it asks for)`;
  }
  return `extension ${answer.id} is ${paintExtensionState(answer.state)}${answer.error ? `: ${paint("red", answer.error)}` : ""} (gantry extension logs ${answer.id})`;
}

/** Where the pin went: gantry.toml, or installed.json only and why. */
function pinLine(pin: { file: string; problem?: string | undefined } | undefined, removed = false): string | undefined {
  if (!pin) return undefined;
  const verb = removed ? "unpinned" : "pinned";
  return pin.problem ? `${verb} in ${pin.file} only: ${paint("yellow", pin.problem)}` : `${verb} in ${pin.file}`;
}

const available: Subcommand = {
  usage: "gantry extension available [<search>] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    const query = positionals[0] ? `?${new URLSearchParams({ q: positionals[0] })}` : "";
    const { data, raw } = await createApiClient().json("GET", `/extensions/available${query}`, extensionAvailableAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.packages.length === 0) {
      console.log(`no packages with the gantry-extension keyword on ${data.registry}${positionals[0] ? ` matching "${positionals[0]}"` : ""}`);
      return 0;
    }
    const rows = data.packages.map((pkg) => [pkg.name, pkg.version, pkg.installed ? `${pkg.installed.id} (${pkg.installed.version})` : "-", pkg.description ?? ""]);
    console.log(table(["PACKAGE", "LATEST", "INSTALLED", "DESCRIPTION"], rows));
    return 0;
  },
};

const install: Subcommand = {
  usage: "gantry extension install <npm-package>[@<version>] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [spec] = takePositionals(positionals, ["npm-package"]);
    let parsed: { name: string; version?: string };
    try {
      parsed = parsePackageSpec(spec!);
    } catch (error) {
      if (error instanceof ValidationError) throw new UsageError(error.message);
      throw error;
    }
    const body = { package: parsed.name, ...(parsed.version && { version: parsed.version }) };
    const { data, raw } = await createApiClient().json("POST", "/extensions/install", extensionInstallAnswer, body, { timeoutMs: INSTALL_TIMEOUT_MS });
    if (values.json) {
      printJson(raw);
      return 0;
    }
    console.log(`installed ${data.installed.package}@${data.installed.version} as extension ${data.id} (${data.installed.integrity.slice(0, 20)}...)`);
    const pinned = pinLine(data.pin);
    if (pinned) console.log(pinned);
    console.log(startedLine(data));
    return startedState(data.state) ? 0 : 1;
  },
};

const upgrade: Subcommand = {
  usage: "gantry extension upgrade <id> [<version>] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
    const [idText, version] = positionals.length === 2 ? positionals : takePositionals(positionals, ["id"]);
    const id = parseExtensionId(idText!);
    const { data, raw } = await createApiClient().json("POST", `/extensions/${id}/upgrade`, extensionInstallAnswer, version ? { version } : {}, { timeoutMs: INSTALL_TIMEOUT_MS });
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.unchanged) console.log(`extension ${id} is already at ${data.installed.package}@${data.installed.version}`);
    else console.log(`upgraded extension ${id}: ${data.installed.package} ${data.previous ?? "?"} -> ${data.installed.version}`);
    const pinned = pinLine(data.pin);
    if (pinned) console.log(pinned);
    console.log(startedLine(data));
    return startedState(data.state) ? 0 : 1;
  },
};

const uninstall: Subcommand = {
  usage: "gantry extension uninstall <id> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [idText] = takePositionals(positionals, ["id"]);
    const id = parseExtensionId(idText!);
    const { data, raw } = await createApiClient().json("DELETE", `/extensions/${id}`, extensionUninstallAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    console.log(`uninstalled extension ${id} (${data.uninstalled.package}@${data.uninstalled.version}); its subscriptions stay until their pipelines drop them`);
    const unpinned = pinLine(data.pin, true);
    if (unpinned) console.log(unpinned);
    return 0;
  },
};

export function extensionCommand(args: string[]): Promise<number> {
  return dispatch("extension", args, { ls, logs, available, install, upgrade, uninstall }, { list: "ls", log: "logs", search: "available", remove: "uninstall", rm: "uninstall" });
}
