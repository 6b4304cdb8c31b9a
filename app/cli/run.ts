// `gantry run start|ls|get|cancel`: start a run (and with --wait follow it to its end),
// list and inspect runs, and cancel one.
import { createApiClient } from "./api-client.ts";
import { runAnswer, runListAnswer, type RunJson } from "./api-schemas.ts";
import {
  formatPipelineRef,
  parseArguments,
  parsePipelineRef,
  parsePositiveInteger,
  parseRunNumber,
  parseVariables,
  pipelinePath,
  takePositionals,
  type PipelineRef,
} from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { elapsed, formatTime, paint, paintState, printJson, stateSymbol, table } from "./output.ts";
import { followRun } from "./run-progress.ts";

const start: Subcommand = {
  usage: "gantry run start <ns/id> [-v KEY=VALUE]... [--wait] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      var: { type: "string", short: "v", multiple: true },
      wait: { type: "boolean", short: "w" },
      json: { type: "boolean" },
    });
    const [refText] = takePositionals(positionals, ["ns/id"]);
    const ref = parsePipelineRef(refText!);
    const variables = parseVariables(values.var ?? []);
    const client = createApiClient();
    const started = await client.json("POST", `${pipelinePath(ref)}/runs`, runAnswer, { variables });
    const run = started.data.run;
    // The run's page in the web UI (same paths as the API, without /api/v1).
    const page = `${client.url}${pipelinePath(ref)}/runs/${run.id}`;
    if (!values.wait) {
      if (values.json) printJson(started.raw);
      else console.log(`started run ${runLabel(ref, run.id)}: ${page}`);
      return 0;
    }
    if (!values.json) console.log(`started run ${runLabel(ref, run.id)}, waiting for it to end (also at ${page})`);
    // Ctrl-C stops watching, not the run: say so, and how to stop the run too.
    const onInterrupt = () => {
      if (process.stdout.isTTY) process.stdout.write("\x1b[?25h");
      console.error(`\nstopped following; run ${runLabel(ref, run.id)} continues (cancel it: gantry run cancel ${formatPipelineRef(ref)} ${run.id})`);
      process.exit(130);
    };
    process.once("SIGINT", onInterrupt);
    try {
      const style = values.json ? "none" : process.stdout.isTTY ? "live" : "lines";
      const { run: final, raw } = await followRun(client, `${pipelinePath(ref)}/runs/${run.id}`, style);
      if (values.json) printJson(raw);
      else console.log(runSummary(ref, final));
      return final.state === "successful" ? 0 : 1;
    } finally {
      process.off("SIGINT", onInterrupt);
    }
  },
};

const ls: Subcommand = {
  usage: "gantry run ls <ns/id> [--limit N] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      limit: { type: "string", short: "n" },
      json: { type: "boolean" },
    });
    const [refText] = takePositionals(positionals, ["ns/id"]);
    const ref = parsePipelineRef(refText!);
    const limit = values.limit === undefined ? undefined : parsePositiveInteger("--limit", values.limit);
    const query = limit === undefined ? "" : `?limit=${limit}`;
    const { data, raw } = await createApiClient().json("GET", `${pipelinePath(ref)}/runs${query}`, runListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.runs.length === 0) {
      console.log(`no runs of ${formatPipelineRef(ref)} yet (start one: gantry run start ${formatPipelineRef(ref)})`);
      return 0;
    }
    const now = Date.now();
    const rows = data.runs.map((run) => [
      `#${run.id}`,
      `${stateSymbol(run.state)} ${paintState(run.state)}`,
      describeTrigger(run),
      `v${run.version}`,
      formatTime(run.startedAt ?? run.createdAt),
      elapsed(run.startedAt, run.endedAt, now),
      run.reason ?? "",
    ]);
    console.log(table(["RUN", "STATE", "TRIGGER", "VERSION", "STARTED", "DURATION", "REASON"], rows));
    return 0;
  },
};

const get: Subcommand = {
  usage: "gantry run get <ns/id> <run> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [refText, runText] = takePositionals(positionals, ["ns/id", "run"]);
    const ref = parsePipelineRef(refText!);
    const id = parseRunNumber(runText!);
    const { data, raw } = await createApiClient().json("GET", `${pipelinePath(ref)}/runs/${id}`, runAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    printRun(ref, data.run);
    return 0;
  },
};

const cancel: Subcommand = {
  usage: "gantry run cancel <ns/id> <run>",
  async run(args) {
    const { positionals } = parseArguments(args, {});
    const [refText, runText] = takePositionals(positionals, ["ns/id", "run"]);
    const ref = parsePipelineRef(refText!);
    const id = parseRunNumber(runText!);
    const { data } = await createApiClient().json("POST", `${pipelinePath(ref)}/runs/${id}/cancel`, runAnswer);
    const stopping = data.run.tasks.filter((task) => task.state === "running").length;
    console.log(
      `cancelling run ${runLabel(ref, id)}` +
        (stopping ? `: ${stopping === 1 ? "1 running task gets" : `${stopping} running tasks get`} SIGTERM, then SIGKILL after the grace period` : ""),
    );
    return 0;
  },
};

export function runCommand(args: string[]): Promise<number> {
  return dispatch("run", args, { start, ls, get, cancel }, { list: "ls", show: "get" });
}

function runLabel(ref: PipelineRef, id: number): string {
  return `${formatPipelineRef(ref)} #${id}`;
}

function describeTrigger(run: RunJson): string {
  return run.trigger.by ? `${run.trigger.kind} (${run.trigger.by})` : run.trigger.kind;
}

/** "run default/hello #3 successful in 1.2s", with the reason when it did not succeed. */
function runSummary(ref: PipelineRef, run: RunJson): string {
  const took = elapsed(run.startedAt, run.endedAt);
  const text = `${stateSymbol(run.state)} run ${runLabel(ref, run.id)} ${paintState(run.state)}${took ? ` in ${took}` : ""}`;
  return run.reason ? `${text}: ${run.reason}` : text;
}

function printRun(ref: PipelineRef, run: RunJson): void {
  console.log(`${paint("bold", `run ${runLabel(ref, run.id)}`)}  ${stateSymbol(run.state)} ${paintState(run.state)}`);
  const facts: [string, string][] = [
    ["version", `v${run.version}`],
    ["trigger", describeTrigger(run)],
  ];
  const variables = Object.entries(run.variables);
  if (variables.length) facts.push(["variables", variables.map(([name, value]) => `${name}=${value}`).join(" ")]);
  if (run.startedAt) facts.push(["started", formatTime(run.startedAt)]);
  if (run.endedAt) facts.push(["ended", formatTime(run.endedAt)]);
  const took = elapsed(run.startedAt, run.endedAt);
  if (took) facts.push(["duration", took]);
  if (run.reason) facts.push(["reason", run.reason]);
  const width = Math.max(...facts.map(([label]) => label.length));
  for (const [label, value] of facts) console.log(`${paint("dim", label.padEnd(width))}  ${value}`);
  console.log();
  const now = Date.now();
  const rows = run.tasks.map((task) => [
    task.id,
    task.kind,
    `${stateSymbol(task.state)} ${paintState(task.state)}`,
    task.exitCode === null ? "-" : String(task.exitCode),
    String(task.attempt),
    elapsed(task.startedAt, task.endedAt, now) || "-",
    task.reason ?? "",
  ]);
  console.log(table(["TASK", "KIND", "STATE", "EXIT", "ATTEMPT", "DURATION", "REASON"], rows));
}
