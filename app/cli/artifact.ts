// `gantry artifact ls|get`: the artifacts a run's tasks stored, and one of them as its tar
// (to stdout, a file, or unpacked into a folder), checked against its sha256 on arrival too.
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { formatBytes } from "../domain/bytes.ts";
import { ARTIFACT_NAME_PATTERN } from "../domain/task-files.ts";
import { copyToFile } from "../stores/artifact-store.ts";
import { unpackArchive } from "../stores/workspace-archive.ts";
import { createApiClient } from "./api-client.ts";
import { formatPipelineRef, parseArguments, parsePipelineRef, parseRunNumber, pipelinePath, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { formatTime, printJson, table } from "./output.ts";

const artifactListAnswer = v.object({
  artifacts: v.array(
    v.object({
      name: v.string(),
      task: v.string(),
      path: v.string(),
      kind: v.string(),
      size: v.number(),
      sha256: v.string(),
      createdAt: v.string(),
    }),
  ),
});

function parseName(text: string): string {
  if (!ARTIFACT_NAME_PATTERN.test(text)) throw new UsageError(`artifact name ${JSON.stringify(text)} must be 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  return text;
}

const ls: Subcommand = {
  usage: "gantry artifact ls <ns/id> <run> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [pipelineText, runText] = takePositionals(positionals, ["ns/id", "run"]);
    const pipeline = parsePipelineRef(pipelineText!);
    const run = parseRunNumber(runText!);
    const { data, raw } = await createApiClient().json("GET", `${pipelinePath(pipeline)}/runs/${run}/artifacts`, artifactListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.artifacts.length === 0) {
      console.log(`no artifacts in run ${run} of ${formatPipelineRef(pipeline)}`);
      return 0;
    }
    const rows = data.artifacts.map((artifact) => [
      artifact.name,
      artifact.task,
      artifact.kind,
      artifact.path,
      formatBytes(artifact.size),
      artifact.sha256.slice(0, 12),
      formatTime(artifact.createdAt),
    ]);
    console.log(table(["NAME", "TASK", "KIND", "PATH", "SIZE", "SHA256", "STORED"], rows));
    return 0;
  },
};

const get: Subcommand = {
  usage: "gantry artifact get <ns/id> <run> <name> [-o file | --extract dir]   (the tar to stdout unless -o; --extract unpacks it at its path under dir)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { output: { type: "string", short: "o" }, extract: { type: "string", short: "x" } });
    const [pipelineText, runText, nameText] = takePositionals(positionals, ["ns/id", "run", "name"]);
    const pipeline = parsePipelineRef(pipelineText!);
    const run = parseRunNumber(runText!);
    const name = parseName(nameText!);
    if (values.output !== undefined && values.extract !== undefined) throw new UsageError("give -o file or --extract dir, not both");
    const toStdout = values.extract === undefined && (values.output === undefined || values.output === "-");
    if (toStdout && process.stdout.isTTY) throw new UsageError("the artifact is a tar: give -o file, --extract dir, or pipe it (gantry artifact get NS/ID RUN NAME > name.tar)");
    const response = await createApiClient().bytes("GET", `${pipelinePath(pipeline)}/runs/${run}/artifacts/${encodeURIComponent(name)}`);
    // The server always sends the sha256; without it nothing could be checked, so nothing is taken.
    const expected = response.headers.get("x-checksum-sha256")?.trim().toLowerCase() ?? "";
    if (!/^[0-9a-f]{64}$/.test(expected)) {
      await response.body?.cancel().catch(() => undefined);
      throw new CliError(
        expected
          ? `artifact "${name}": the server's x-checksum-sha256 header is not a sha256 (${JSON.stringify(expected.slice(0, 80))}); nothing was written`
          : `artifact "${name}": the server sent no x-checksum-sha256 header, so the download cannot be checked; nothing was written`,
      );
    }
    // Into a file first: its sha256 is checked before the bytes go anywhere else.
    const temp = join(tmpdir(), `gantry-artifact-${crypto.randomUUID()}.tar`);
    try {
      const { size, sha256: actual } = await copyToFile(response.body ?? new ReadableStream<Uint8Array>(), temp);
      if (actual !== expected) throw new CliError(`artifact "${name}" arrived damaged: its sha256 is ${actual}, the server said ${expected}; nothing was written`);
      if (values.extract !== undefined) {
        mkdirSync(values.extract, { recursive: true });
        // Checked against the server's sha256 while it was copied.
        const counts = await unpackArchive(temp, values.extract);
        console.error(`unpacked artifact "${name}" into ${values.extract}: ${counts.files} files, ${counts.folders} folders, ${counts.symlinks} symlinks (sha256 ${actual})`);
      } else if (toStdout) {
        await Bun.write(Bun.stdout, Bun.file(temp));
      } else {
        await Bun.write(values.output!, Bun.file(temp));
        // The bytes went to the file; a line about them goes to stderr, out of any pipe.
        console.error(`wrote ${formatBytes(size)} to ${values.output} (sha256 ${actual})`);
      }
    } finally {
      rmSync(temp, { force: true });
    }
    return 0;
  },
};

export function artifactCommand(args: string[]): Promise<number> {
  return dispatch("artifact", args, { ls, get }, { list: "ls", download: "get" });
}
