// `gantry object put|get|ls|rm`: a pipeline's objects, or one run's with --run, as raw bytes
// (a file or stdin in, stdout or a file out).
import { statSync } from "node:fs";
import * as v from "valibot";
import { formatBytes } from "../domain/bytes.ts";
import { objectKeyProblem } from "../domain/object-keys.ts";
import { ApiError, createApiClient } from "./api-client.ts";
import { deletedAnswer, objectAnswer, objectListAnswer } from "../api-contract/answers.ts";
import { formatPipelineRef, parseArguments, parsePipelineRef, parseRunNumber, pipelinePath, takePositionals, type PipelineRef } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { formatTime, printJson, table } from "./output.ts";

const runOption = { run: { type: "string", short: "r" } } as const;

function parseKey(text: string): string {
  const problem = objectKeyProblem(text);
  if (problem) throw new UsageError(`object key ${JSON.stringify(text)} ${problem}`);
  return text;
}

/** The API path of the objects of a pipeline, or of one of its runs. */
function objectsPath(pipeline: PipelineRef, run: number | undefined): string {
  return `${pipelinePath(pipeline)}${run === undefined ? "" : `/runs/${run}`}/objects`;
}

/** The whole key as one escaped segment, so the URL never reinterprets its slashes. */
const keyPath = (pipeline: PipelineRef, run: number | undefined, key: string) => `${objectsPath(pipeline, run)}/${encodeURIComponent(key)}`;

const placeText = (pipeline: PipelineRef, run: number | undefined) =>
  run === undefined ? `pipeline ${formatPipelineRef(pipeline)}` : `run ${run} of ${formatPipelineRef(pipeline)}`;

const put: Subcommand = {
  usage: "gantry object put <ns/id> <key> [file] [--run N] [--json]   (the bytes of file, or of stdin)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { ...runOption, json: { type: "boolean" } });
    const names = positionals.length > 2 ? ["ns/id", "key", "file"] : ["ns/id", "key"];
    const [pipelineText, keyText, file] = takePositionals(positionals, names);
    const pipeline = parsePipelineRef(pipelineText!);
    const key = parseKey(keyText!);
    const run = values.run === undefined ? undefined : parseRunNumber(values.run);
    let body: Blob | Uint8Array;
    if (file !== undefined && file !== "-") {
      let isFile = false;
      try {
        isFile = statSync(file).isFile();
      } catch {
        throw new CliError(`${file}: no such file`);
      }
      if (!isFile) throw new CliError(`${file} is not a file`);
      body = Bun.file(file);
    } else {
      if (process.stdin.isTTY) throw new UsageError("give a file, or pipe the bytes on stdin (gantry object put NS/ID KEY < file)");
      body = await Bun.stdin.bytes();
    }
    const response = await createApiClient().bytes("PUT", keyPath(pipeline, run, key), body);
    const raw: unknown = await response.json().catch(() => undefined);
    const checked = v.safeParse(objectAnswer, raw);
    if (!checked.success) throw new ApiError(response.status, "bad_response", "PUT: unexpected answer; are the CLI and server the same version?");
    if (values.json) {
      printJson(raw);
      return 0;
    }
    const { object } = checked.output;
    console.log(
      `${response.status === 201 ? "stored" : "replaced"} object ${object.key} (${placeText(pipeline, run)}): ${formatBytes(object.size)}, sha256 ${object.sha256}`,
    );
    return 0;
  },
};

const get: Subcommand = {
  usage: "gantry object get <ns/id> <key> [--run N] [-o file]   (raw bytes to stdout unless -o)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { ...runOption, output: { type: "string", short: "o" } });
    const [pipelineText, keyText] = takePositionals(positionals, ["ns/id", "key"]);
    const pipeline = parsePipelineRef(pipelineText!);
    const key = parseKey(keyText!);
    const run = values.run === undefined ? undefined : parseRunNumber(values.run);
    const response = await createApiClient().bytes("GET", keyPath(pipeline, run, key));
    if (values.output === undefined || values.output === "-") {
      await Bun.write(Bun.stdout, response);
    } else {
      const size = await Bun.write(values.output, response);
      // The bytes went to the file; a line about them goes to stderr, out of any pipe.
      console.error(`wrote ${formatBytes(size)} to ${values.output}`);
    }
    return 0;
  },
};

const ls: Subcommand = {
  usage: "gantry object ls <ns/id> [--run N] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { ...runOption, json: { type: "boolean" } });
    const [pipelineText] = takePositionals(positionals, ["ns/id"]);
    const pipeline = parsePipelineRef(pipelineText!);
    const run = values.run === undefined ? undefined : parseRunNumber(values.run);
    const { data, raw } = await createApiClient().json("GET", objectsPath(pipeline, run), objectListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.objects.length === 0) {
      console.log(`no objects in ${placeText(pipeline, run)}`);
      return 0;
    }
    const rows = data.objects.map((object) => [object.key, formatBytes(object.size), object.sha256.slice(0, 12), formatTime(object.updatedAt)]);
    console.log(table(["KEY", "SIZE", "SHA256", "UPDATED"], rows));
    return 0;
  },
};

const rm: Subcommand = {
  usage: "gantry object rm <ns/id> <key> [--run N]",
  async run(args) {
    const { values, positionals } = parseArguments(args, runOption);
    const [pipelineText, keyText] = takePositionals(positionals, ["ns/id", "key"]);
    const pipeline = parsePipelineRef(pipelineText!);
    const key = parseKey(keyText!);
    const run = values.run === undefined ? undefined : parseRunNumber(values.run);
    await createApiClient().json("DELETE", keyPath(pipeline, run, key), deletedAnswer);
    console.log(`deleted object ${key} (${placeText(pipeline, run)})`);
    return 0;
  },
};

export function objectCommand(args: string[]): Promise<number> {
  return dispatch("object", args, { put, get, ls, rm }, { list: "ls", delete: "rm", remove: "rm" });
}
