// `gantry logs <ns/id> <run> <task> [-f] [--attempt N]`: print a task's log (or one
// attempt's part of it), or follow it live over SSE until the task ends.
// `gantry logs <ns/id> <run> [task] --grep TEXT [--only stderr|errors]`: search the run's logs
// on the server, printing each match as `<task>:<line>: <text>`; exit 1 when none matches (as
// grep). Matches come a page of 1,000 at a time: a task still writing may add some meanwhile.
import * as v from "valibot";
import { idSchema } from "../domain/ids.ts";
import { createApiClient } from "./api-client.ts";
import { logEndSchema, logSearchAnswer } from "../api-contract/answers.ts";
import { parseArguments, parsePipelineRef, parsePositiveInteger, parseRunNumber, pipelinePath, takePositionals } from "./arguments.ts";
import { guard } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { readSse } from "./sse-reader.ts";

const USAGE = "usage: gantry logs <ns/id> <run> <task> [-f|--follow] [--attempt N]\n       gantry logs <ns/id> <run> [task] --grep TEXT [--only stderr|errors] [--json]";

const ONLY = ["all", "stderr", "errors"] as const;
/** Matches asked for at once; a search prints them all, a page at a time. */
const SEARCH_PAGE = 1000;

export function logsCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return Promise.resolve(0);
  }
  return guard(USAGE, async () => {
    const { values, positionals } = parseArguments(args, {
      follow: { type: "boolean", short: "f" },
      attempt: { type: "string", short: "a" },
      grep: { type: "string", short: "g" },
      only: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.grep !== undefined || values.only !== undefined) return searchLogs(positionals, { grep: values.grep ?? "", only: values.only ?? "all", json: values.json === true, follow: values.follow === true });
    const [refText, runText, task] = takePositionals(positionals, ["ns/id", "run", "task"]);
    const ref = parsePipelineRef(refText!);
    const run = parseRunNumber(runText!);
    if (!v.is(idSchema, task)) throw new UsageError(`"${task}" is not a task id (a-z, 0-9 and -)`);
    const path = `${pipelinePath(ref)}/runs/${run}/tasks/${encodeURIComponent(task)}/logs`;
    const attempt = values.attempt === undefined ? undefined : parsePositiveInteger("--attempt", values.attempt);
    // The server follows the whole log, not one attempt's part of it.
    if (attempt !== undefined && values.follow) throw new UsageError("--attempt prints one attempt's part of the log; it cannot be combined with --follow");
    const client = createApiClient();

    if (attempt !== undefined) {
      process.stdout.write(await client.text(`${path}?attempt=${attempt}`));
      return 0;
    }
    if (!values.follow) {
      process.stdout.write(await client.text(path));
      return 0;
    }

    const controller = new AbortController();
    const response = await client.stream(`${path}?follow=1`, controller.signal);
    if (!response.body) throw new CliError(`${client.url} sent an empty log stream`);
    let ended = false;
    try {
      for await (const message of readSse(response.body)) {
        if (message.event === "message") {
          process.stdout.write(`${message.data}\n`);
        } else if (message.event === "end") {
          ended = true;
          const end = v.safeParse(logEndSchema, safeJson(message.data));
          if (end.success) {
            const exit = end.output.exitCode === null ? "" : ` (exit ${end.output.exitCode})`;
            // On stderr, so stdout stays exactly the log.
            console.error(`-- task ${task} ended: ${end.output.state}${exit}`);
          }
          break;
        }
      }
    } catch (error) {
      // Bun adds advice meant for developers ("pass `verbose: true`..."); users need the cause.
      throw new CliError(`the log stream from ${client.url} broke: ${(error as Error).message.replace(/\. For more information.*$/s, "")}`);
    } finally {
      controller.abort();
    }
    // Without the final "end" message the server went away mid-task: the log may be incomplete.
    if (!ended) throw new CliError(`the log stream from ${client.url} ended before the task did`);
    return 0;
  });
}

/** `--grep`/`--only`: the run's logs (or one task's) searched on the server, every page of matches. */
async function searchLogs(positionals: string[], options: { grep: string; only: string; json: boolean; follow: boolean }): Promise<number> {
  if (options.follow) throw new UsageError("--grep and --only search the logs as they are; they cannot be combined with --follow");
  if (!v.is(v.picklist(ONLY), options.only)) throw new UsageError(`--only must be stderr or errors, not "${options.only}"`);
  if (options.grep === "" && options.only === "all") throw new UsageError("--grep needs a text to find (or give --only stderr or --only errors)");
  if (positionals.length < 2 || positionals.length > 3) throw new UsageError("give the pipeline, the run and optionally a task");
  const [refText, runText, task] = positionals;
  const ref = parsePipelineRef(refText!);
  const run = parseRunNumber(runText!);
  if (task !== undefined && !v.is(idSchema, task)) throw new UsageError(`"${task}" is not a task id (a-z, 0-9 and -)`);
  const client = createApiClient();
  const matches: v.InferOutput<typeof logSearchAnswer>["matches"] = [];
  let total = 0;
  let perTask: Record<string, number> = {};
  for (let offset = 0; ; offset += SEARCH_PAGE) {
    const query = new URLSearchParams({ q: options.grep, only: options.only, offset: String(offset), limit: String(SEARCH_PAGE), ...(task && { task }) });
    const { data } = await client.json("GET", `${pipelinePath(ref)}/runs/${run}/logs/search?${query}`, logSearchAnswer);
    total = data.total;
    perTask = data.perTask;
    if (options.json) matches.push(...data.matches);
    else for (const match of data.matches) process.stdout.write(`${match.task}:${match.line}: ${match.text}\n`);
    if (data.matches.length < SEARCH_PAGE || offset + SEARCH_PAGE >= total) break;
  }
  if (options.json) console.log(JSON.stringify({ total, perTask, matches }, null, 2));
  // On stderr, so stdout stays exactly the matches.
  else console.error(`-- ${total} ${total === 1 ? "match" : "matches"}${task ? ` in ${task}` : ` in ${Object.keys(perTask).length} ${Object.keys(perTask).length === 1 ? "task" : "tasks"}`}`);
  // As grep: 1 when nothing matched, so scripts can test for a line.
  return total > 0 ? 0 : 1;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
