// `gantry logs <ns/id> <run> <task> [-f] [--attempt N]`: print a task's log (or one
// attempt's part of it), or follow it live over SSE until the task ends.
import * as v from "valibot";
import { idSchema } from "../domain/ids.ts";
import { createApiClient } from "./api-client.ts";
import { logEndSchema } from "../api-contract/answers.ts";
import { parseArguments, parsePipelineRef, parsePositiveInteger, parseRunNumber, pipelinePath, takePositionals } from "./arguments.ts";
import { guard } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { readSse } from "./sse-reader.ts";

const USAGE = "usage: gantry logs <ns/id> <run> <task> [-f|--follow] [--attempt N]";

export function logsCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return Promise.resolve(0);
  }
  return guard(USAGE, async () => {
    const { values, positionals } = parseArguments(args, {
      follow: { type: "boolean", short: "f" },
      attempt: { type: "string", short: "a" },
    });
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

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
