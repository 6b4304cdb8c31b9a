// `gantry pipeline ls|get|versions|diff|validate|subscribe|unsubscribe|subscriptions`: what the
// server has loaded, one pipeline in detail (its inputs and trigger errors too), its versions
// (with their commits) and what changed between two, a local check of a pipeline file (asking
// the server whether its webhook secrets exist), and a pipeline's subscriptions to extensions.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as v from "valibot";
import { formatDuration } from "../domain/duration.ts";
import { idSchema, SERIAL_PATTERN } from "../domain/ids.ts";
import type { PipelineSpec } from "../domain/pipeline-spec.ts";
import { compilePipelineFile } from "../engine/pipelines/pipeline-compiler.ts";
import { ApiError, createApiClient } from "./api-client.ts";
import {
  pipelineAnswer,
  pipelineListAnswer,
  subscriptionAnswer,
  subscriptionListAnswer,
  versionDiffAnswer,
  versionListAnswer,
  type PipelineJson,
  type TriggerJson,
  type VersionDiffJson,
  type VersionJson,
} from "../api-contract/answers.ts";
import { formatPipelineRef, parseArguments, parsePipelineRef, parseVariables, pipelinePath, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { inputRows, inputSpecsOf } from "./run-inputs.ts";
import { CliError, UsageError } from "./errors.ts";
import { formatTime, paint, printJson, table, truncate, type Style, printFacts } from "./output.ts";
import { describeCommit, shortSha } from "./source.ts";

const ls: Subcommand = {
  usage: "gantry pipeline ls [--namespace NS] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      namespace: { type: "string", short: "n" },
      json: { type: "boolean" },
    });
    takePositionals(positionals, []);
    if (values.namespace !== undefined && !v.is(idSchema, values.namespace)) {
      throw new UsageError(`--namespace "${values.namespace}" is not a namespace (a-z, 0-9 and -)`);
    }
    const client = createApiClient();
    const { data, raw } = await client.answer(
      client.typed.GET("/pipelines", { params: { ...(values.namespace && { query: { namespace: values.namespace } }) } }),
      pipelineListAnswer,
      "GET /pipelines",
    );
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.pipelines.length === 0) {
      console.log(values.namespace ? `no pipelines in namespace "${values.namespace}"` : "no pipelines yet: drop a .ts file into the server's pipelines folder");
      return 0;
    }
    const rows = data.pipelines.map((pipeline) => [
      formatPipelineRef(pipeline),
      pipeline.name,
      pipeline.version === null ? "-" : `v${pipeline.version}`,
      String(pipeline.tasks.length),
      pipeline.triggers.map(describeTrigger).join(", ") || "-",
      pipeline.error ? paint("red", `load error: ${firstIssue(pipeline.error.issues)}`) : paint("green", "ok"),
    ]);
    console.log(table(["PIPELINE", "NAME", "VERSION", "TASKS", "TRIGGERS", "STATUS"], rows));
    return 0;
  },
};

const get: Subcommand = {
  usage: "gantry pipeline get <ns/id> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [refText] = takePositionals(positionals, ["ns/id"]);
    const ref = parsePipelineRef(refText!);
    const client = createApiClient();
    const { data, raw } = await client.answer(
      client.typed.GET("/pipelines/{ns}/{id}", { params: { path: { ns: ref.namespace, id: ref.id } } }),
      pipelineAnswer,
      `GET ${pipelinePath(ref)}`,
    );
    if (values.json) {
      printJson(raw);
      return 0;
    }
    // A pipeline of a git source: the commit its current version was made from.
    const current = data.pipeline.source === undefined || data.pipeline.version === null ? undefined : await versionOf(client, ref, data.pipeline.version);
    printPipeline(data.pipeline, current);
    // A trigger that cannot fire (a webhook whose secret is missing) is no load error, but it is news.
    const { data: subscribed } = await client.json("GET", `${pipelinePath(ref)}/subscriptions`, subscriptionListAnswer);
    const broken = subscribed.subscriptions.filter((subscription) => subscription.error);
    if (broken.length > 0) {
      console.log();
      console.log(paint("red", "trigger errors:"));
      for (const subscription of broken) console.log(`  ${subscription.extension} (subscription ${subscription.id}): ${subscription.error}`);
    }
    return 0;
  },
};

const versions: Subcommand = {
  usage: "gantry pipeline versions <ns/id> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [refText] = takePositionals(positionals, ["ns/id"]);
    const ref = parsePipelineRef(refText!);
    const client = createApiClient();
    const { data, raw } = await client.json("GET", `${pipelinePath(ref)}/versions`, versionListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.versions.length === 0) {
      console.log(`${formatPipelineRef(ref)} has no versions: its file has never loaded cleanly`);
      return 0;
    }
    const { data: current } = await client.json("GET", pipelinePath(ref), pipelineAnswer);
    const rows = data.versions.map((version) => [
      `v${version.version}${version.version === current.pipeline.version ? ` ${paint("green", "(current)")}` : ""}`,
      formatTime(version.createdAt),
      String(version.tasks.length),
      version.commit ? `${shortSha(version.commit.sha)} ${truncate(version.commit.message, 60)}` : "-",
      version.commit?.author ?? "",
    ]);
    console.log(table(["VERSION", "CREATED", "TASKS", "COMMIT", "AUTHOR"], rows));
    return 0;
  },
};

const diff: Subcommand = {
  usage: "gantry pipeline diff <ns/id> [<version> [<against>]] [--json]   (default: the current version against the one before)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    // <version> and <against> are optional: take as many names as were given, at least the pipeline.
    const names = ["ns/id", "version", "against"].slice(0, Math.min(3, Math.max(1, positionals.length)));
    const [refText, versionText, againstText] = takePositionals(positionals, names);
    const ref = parsePipelineRef(refText!);
    const client = createApiClient();
    let version = versionText === undefined ? undefined : parseVersion(versionText);
    const against = againstText === undefined ? undefined : parseVersion(againstText);
    if (version === undefined) {
      const { data } = await client.json("GET", pipelinePath(ref), pipelineAnswer);
      if (data.pipeline.version === null) throw new CliError(`${formatPipelineRef(ref)} has no version: its file has never loaded cleanly`);
      version = data.pipeline.version;
    }
    const query = against === undefined ? "" : `?against=${against}`;
    const { data, raw } = await client.json("GET", `${pipelinePath(ref)}/versions/${version}/diff${query}`, versionDiffAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    printDiff(ref, data);
    return 0;
  },
};

const validate: Subcommand = {
  usage: "gantry pipeline validate <file> [--namespace NS]   (exit 1 on a load error; trigger errors are printed, exit 0)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { namespace: { type: "string", short: "n" } });
    const [file] = takePositionals(positionals, ["file"]);
    const namespace = values.namespace ?? "default";
    if (!v.is(idSchema, namespace)) throw new UsageError(`--namespace "${namespace}" is not a namespace (a-z, 0-9 and -)`);
    const path = resolve(file!);
    if (!existsSync(path) || !statSync(path).isFile()) throw new CliError(`no such file: ${file}`);
    // The compiler writes a bundle; a throwaway folder keeps validation free of side effects.
    const bundlesDir = mkdtempSync(join(tmpdir(), "gantry-validate-"));
    try {
      const result = await compilePipelineFile(path, { bundlesDir });
      if (result.ok) {
        const count = result.spec.tasks.length;
        console.log(`ok: ${result.spec.id} (${count} task${count === 1 ? "" : "s"})`);
        for (const line of await webhookSecretProblems(result.spec, namespace)) console.log(`${file}: ${line}`);
        return 0;
      }
      for (const issue of result.issues) console.log(`${file}: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
      return 1;
    } finally {
      rmSync(bundlesDir, { recursive: true, force: true });
    }
  },
};

const subscribe: Subcommand = {
  usage: "gantry pipeline subscribe <ns/id> <extension> [--param KEY=VALUE]... [--params-json '{...}'] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      param: { type: "string", multiple: true },
      "params-json": { type: "string" },
      json: { type: "boolean" },
    });
    const [refText, extension] = takePositionals(positionals, ["ns/id", "extension"]);
    const ref = parsePipelineRef(refText!);
    if (!v.is(idSchema, extension)) throw new UsageError(`"${extension}" is not an extension id (see gantry extension ls)`);
    // --param values are strings; numbers, lists and the like go in --params-json.
    const params = { ...parseParamsJson(values["params-json"]), ...parseVariables(values.param ?? [], "--param") };
    const { data, raw } = await createApiClient().json("POST", `${pipelinePath(ref)}/subscriptions`, subscriptionAnswer, { extension, params });
    if (values.json) {
      printJson(raw);
      return 0;
    }
    console.log(`subscribed ${formatPipelineRef(ref)} to ${data.subscription.extension} (subscription ${data.subscription.id})`);
    console.log(`the extension checks the params; see gantry pipeline subscriptions ${formatPipelineRef(ref)} for an error`);
    return 0;
  },
};

const unsubscribe: Subcommand = {
  usage: "gantry pipeline unsubscribe <ns/id> <subscription id>",
  async run(args) {
    const { positionals } = parseArguments(args, {});
    const [refText, idText] = takePositionals(positionals, ["ns/id", "subscription id"]);
    const ref = parsePipelineRef(refText!);
    if (!SERIAL_PATTERN.test(idText!)) throw new UsageError(`"${idText}" is not a subscription id (see gantry pipeline subscriptions ${formatPipelineRef(ref)})`);
    const { data } = await createApiClient().json("DELETE", `${pipelinePath(ref)}/subscriptions/${idText}`, subscriptionAnswer);
    console.log(`removed subscription ${data.subscription.id} of ${formatPipelineRef(ref)} to ${data.subscription.extension}`);
    return 0;
  },
};

const subscriptions: Subcommand = {
  usage: "gantry pipeline subscriptions <ns/id> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [refText] = takePositionals(positionals, ["ns/id"]);
    const ref = parsePipelineRef(refText!);
    const { data, raw } = await createApiClient().json("GET", `${pipelinePath(ref)}/subscriptions`, subscriptionListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.subscriptions.length === 0) {
      console.log(`${formatPipelineRef(ref)} has no subscriptions (add one with gantry pipeline subscribe, or a trigger in its file)`);
      return 0;
    }
    const rows = data.subscriptions.map((subscription) => [
      String(subscription.id),
      subscription.extension,
      subscription.source,
      JSON.stringify(subscription.params),
      formatTime(subscription.createdAt),
      subscription.error ? paint("red", subscription.error) : paint("green", "ok"),
    ]);
    console.log(table(["ID", "EXTENSION", "SOURCE", "PARAMS", "CREATED", "STATUS"], rows));
    return 0;
  },
};

export function pipelineCommand(args: string[]): Promise<number> {
  return dispatch(
    "pipeline",
    args,
    { ls, get, versions, diff, validate, subscribe, unsubscribe, subscriptions },
    { list: "ls", show: "get", subs: "subscriptions" },
  );
}

const secretAnswer = v.object({ secret: v.object({ name: v.string() }) });

/**
 * Whether the secret exists where a webhook trigger looks (the pipeline's, then the global
 * one), asked of the server the CLI talks to: true, false, or a reason it cannot tell.
 */
async function secretExists(client: ReturnType<typeof createApiClient>, pipeline: { namespace: string; id: string }, name: string): Promise<boolean | string> {
  for (const path of [`${pipelinePath(pipeline)}/secrets/${encodeURIComponent(name)}`, `/secrets/${encodeURIComponent(name)}`]) {
    try {
      await client.json("GET", path, secretAnswer);
      return true;
    } catch (error) {
      // 404: no such secret here (or, for the pipeline's scope, no such pipeline yet).
      if (error instanceof ApiError && error.status === 404) continue;
      return (error as Error).message;
    }
  }
  return false;
}

/**
 * A webhook trigger whose secret does not exist is a trigger error, not a load error (the
 * secret may be created later): said for each such trigger, or why it could not be checked.
 */
async function webhookSecretProblems(spec: PipelineSpec, namespace: string): Promise<string[]> {
  const hooks = spec.triggers.flatMap((trigger, index) => (trigger.kind === "webhook" ? [{ index, name: trigger.secret.name }] : []));
  if (hooks.length === 0) return [];
  let client: ReturnType<typeof createApiClient>;
  try {
    client = createApiClient();
  } catch (error) {
    return [`note: webhook secrets not checked: ${(error as Error).message}`];
  }
  const pipeline = { namespace, id: spec.id };
  const lines: string[] = [];
  for (const { index, name } of hooks) {
    const exists = await secretExists(client, pipeline, name).catch((error: Error) => error.message);
    if (exists === true) continue;
    if (exists === false) {
      lines.push(
        `triggers.${index}: trigger error: secret "${name}" does not exist on ${client.url} (neither for ${formatPipelineRef(pipeline)} nor global): ` +
          `deliveries will be refused until it is set (gantry secret set ${name} --pipeline ${formatPipelineRef(pipeline)})`,
      );
    } else {
      lines.push(`note: triggers.${index}: could not check secret "${name}" on the server: ${exists}`);
    }
  }
  return lines;
}

function parseParamsJson(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--params-json is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError(`--params-json must be a JSON object like '{"everyMs": 60000}'`);
  return parsed as Record<string, unknown>;
}

/** A version: "3" or "v3". */
function parseVersion(text: string): number {
  const match = /^v?([1-9]\d{0,8})$/.exec(text);
  if (!match) throw new UsageError(`"${text}" is not a version (1, 2, 3... or v1, v2...)`);
  return Number(match[1]);
}

/** One version of a pipeline, when the server still lists it. */
async function versionOf(client: ReturnType<typeof createApiClient>, ref: { namespace: string; id: string }, version: number): Promise<VersionJson | undefined> {
  const { data } = await client.json("GET", `${pipelinePath(ref)}/versions`, versionListAnswer);
  return data.versions.find((candidate) => candidate.version === version);
}

/** A header per file (what happened to it, lines added and removed), then its patch coloured like git's. */
function printDiff(ref: { namespace: string; id: string }, diff: VersionDiffJson): void {
  const what = `v${diff.to} of ${formatPipelineRef(ref)} ${diff.from === null ? "(its first version)" : `against v${diff.from}`}`;
  if (!diff.complete) {
    console.log(`no diff for ${what}: a version stored before Gantry kept its files' text cannot be compared`);
    return;
  }
  if (diff.files.length === 0) {
    console.log(`no changes in the files of ${what}`);
    return;
  }
  console.log(`${what}: ${diff.files.length} file${diff.files.length === 1 ? "" : "s"} changed`);
  for (const file of diff.files) {
    console.log();
    console.log(`${paint("bold", `${file.status} ${file.path}`)}  ${paint("green", `+${file.added}`)} ${paint("red", `-${file.removed}`)}`);
    for (const line of file.patch.replace(/\n$/, "").split("\n")) console.log(paintPatchLine(line));
  }
}

function paintPatchLine(line: string): string {
  const style: Style | undefined =
    line.startsWith("+++") || line.startsWith("---")
      ? "bold"
      : line.startsWith("@@")
        ? "cyan"
        : line.startsWith("+")
          ? "green"
          : line.startsWith("-")
            ? "red"
            : line.startsWith("\\")
              ? "dim"
              : undefined;
  return style ? paint(style, line) : line;
}

function printPipeline(pipeline: PipelineJson, current?: VersionJson): void {
  console.log(`${paint("bold", formatPipelineRef(pipeline))}  ${pipeline.name}`);
  if (pipeline.description) console.log(pipeline.description);
  console.log();
  const commit = current?.commit ? ` (${describeCommit(current.commit)})` : "";
  const facts: [string, string][] = [
    ["version", pipeline.version === null ? "none (the file has never loaded cleanly)" : `v${pipeline.version}${commit}`],
  ];
  if (pipeline.source) facts.push(["source", `${pipeline.source} (gantry source get ${pipeline.source})`]);
  if (pipeline.file) facts.push(["file", pipeline.file]);
  if (pipeline.parallelism) facts.push(["parallelism", String(pipeline.parallelism)]);
  const variables = Object.entries(pipeline.variables);
  if (variables.length) facts.push(["variables", variables.map(([name, value]) => `${name}=${value}`).join(" ")]);
  facts.push(["triggers", pipeline.triggers.map(describeTrigger).join(", ") || "none (started by API, CLI or UI)"]);
  if (pipeline.updatedAt) facts.push(["updated", formatTime(pipeline.updatedAt)]);
  printFacts(facts);

  if (pipeline.tasks.length) {
    console.log();
    const rows = pipeline.tasks.map((task) => [
      task.id,
      task.kind,
      Object.entries(task.needs)
        .map(([name, condition]) => `${name} (${condition})`)
        .join(", ") || "-",
      [
        task.image && `image ${task.image}`,
        task.timeoutMs !== undefined && `timeout ${formatDuration(task.timeoutMs)}`,
        task.retries && `retries ${task.retries}`,
      ]
        .filter(Boolean)
        .join(", "),
    ]);
    console.log(table(["TASK", "KIND", "NEEDS", "SETTINGS"], rows));
  }

  const inputs = inputSpecsOf(pipeline.inputs);
  if (inputs.length) {
    console.log();
    console.log(table(["INPUT", "TAKES", "GIVEN", "DESCRIPTION"], inputRows(inputs)));
  }

  if (pipeline.error) {
    console.log();
    const current = pipeline.version === null ? "" : ` (v${pipeline.version} stays current)`;
    console.log(paint("red", `load error${current}:`));
    for (const issue of pipeline.error.issues) {
      console.log(`  ${pipeline.error.file}: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
    }
  }
}

function firstIssue(issues: readonly { path: string; message: string }[]): string {
  const issue = issues[0];
  if (!issue) return "invalid";
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : "";
  return `${issue.path ? `${issue.path}: ` : ""}${issue.message}${more}`;
}

function describeTrigger(trigger: TriggerJson): string {
  const field = (name: string) => (typeof trigger[name] === "string" || typeof trigger[name] === "number" ? String(trigger[name]) : undefined);
  switch (trigger.kind) {
    case "cron":
      return `cron(${field("expression") ?? "?"})`;
    case "interval": {
      const every = trigger.every;
      return `every ${typeof every === "number" ? formatDuration(every) : (field("every") ?? "?")}`;
    }
    case "github":
      return `github(${field("repo") ?? "?"})`;
    default:
      return trigger.kind;
  }
}
