// `gantry run start|rerun|ls|get|cancel`: start a run with its typed inputs (a git source's
// pipeline as of an older commit, too) or re-run one (and with --wait follow it to its end),
// list and inspect runs — queued ones with why they wait, gates waiting for approval, tasks
// with their attempts — and cancel one. Deciding gates (`approve|reject|approvals`) is in
// run-approvals.ts, a shell in a running container task (`exec`) in run-exec.ts.
import { formatBytes } from "../domain/bytes.ts";
import { COMMIT_PATTERN } from "../domain/sources.ts";
import { createApiClient, type ApiClient, type ApiResult } from "./api-client.ts";
import { runAnswer, runListAnswer, type ExecutionJson, type RunJson } from "../api-contract/answers.ts";
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
import { UsageError } from "./errors.ts";
import { elapsed, formatTime, paint, paintState, printJson, stateSymbol, table, printFacts } from "./output.ts";
import { approvals, approve, decideHint, reject, waitingNote } from "./run-approvals.ts";
import { exec } from "./run-exec.ts";
import { formatInputs, resolveInputs } from "./run-inputs.ts";
import { followRun, reusedNote } from "./run-progress.ts";

const start: Subcommand = {
  usage: "gantry run start <ns/id> [-i NAME=VALUE]... [-v KEY=VALUE]... [--commit <sha>] [--wait] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      input: { type: "string", short: "i", multiple: true },
      var: { type: "string", short: "v", multiple: true },
      commit: { type: "string", short: "c" },
      wait: { type: "boolean", short: "w" },
      json: { type: "boolean" },
    });
    const [refText] = takePositionals(positionals, ["ns/id"]);
    const ref = parsePipelineRef(refText!);
    const variables = parseVariables(values.var ?? []);
    const given = parseVariables(values.input ?? [], "-i");
    const commit = values.commit === undefined ? undefined : parseCommit(values.commit);
    const client = createApiClient();
    // Typed by the pipeline's schemas (and asked for at a terminal) before the run is asked for.
    const inputs = await resolveInputs(client, ref, given);
    const started = await client.answer(
      client.typed.POST("/pipelines/{ns}/{id}/runs", { params: { path: { ns: ref.namespace, id: ref.id } }, body: { variables, ...(inputs && { inputs }), ...(commit && { commit }) } }),
      runAnswer,
      `POST ${pipelinePath(ref)}/runs`,
    );
    return announceAndFollow(client, ref, started, { wait: values.wait === true, json: values.json === true });
  },
};

const rerun: Subcommand = {
  usage: "gantry run rerun <ns/id> <run> [--failed] [--wait] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      failed: { type: "boolean" },
      wait: { type: "boolean", short: "w" },
      json: { type: "boolean" },
    });
    const [refText, runText] = takePositionals(positionals, ["ns/id", "run"]);
    const ref = parsePipelineRef(refText!);
    const id = parseRunNumber(runText!);
    const client = createApiClient();
    // A refusal (409: the run has not ended, its code or workspace was pruned, nothing
    // failed) is the server's message on stderr and exit 2, like every request error.
    const started = await client.answer(
      client.typed.POST("/pipelines/{ns}/{id}/runs/{run}/rerun", { params: { path: { ns: ref.namespace, id: ref.id, run: String(id) } }, body: { only: values.failed ? "failed" : "all" } }),
      runAnswer,
      `POST ${pipelinePath(ref)}/runs/${id}/rerun`,
    );
    return announceAndFollow(client, ref, started, { wait: values.wait === true, json: values.json === true });
  },
};

/** A commit sha as typed (7 to 40 hex digits, any case), as the API takes it. */
function parseCommit(text: string): string {
  const sha = text.trim().toLowerCase();
  if (!COMMIT_PATTERN.test(sha)) throw new UsageError(`--commit "${text}" is not a commit sha (7 to 40 hex digits; gantry source get <name> lists the synced ones)`);
  return sha;
}

/**
 * Says a run was started (its page; for a re-run the run it repeats; for a queued run why
 * it waits) and with `wait` follows it to its end: exit 0 when it succeeded, 1 otherwise.
 */
async function announceAndFollow(client: ApiClient, ref: PipelineRef, started: ApiResult<{ run: RunJson }>, options: { wait: boolean; json: boolean }): Promise<number> {
  const run = started.data.run;
  // The run's page in the web UI (same paths as the API, without /api/v1).
  const page = `${client.url}${pipelinePath(ref)}/runs/${run.id}`;
  const rerun = describeRerun(run, ", a re-run of ");
  // A run of a git source's pipeline says the commit (and so the version) it runs.
  const commit = run.commit ? ` at commit ${run.commit.slice(0, 12)} (v${run.version})` : "";
  if (!options.wait) {
    if (options.json) {
      printJson(started.raw);
      return 0;
    }
    // "started" says running for a plain run; a re-run, or a run that waits, says its state.
    const state = run.state === "running" && !rerun ? "" : ` (${run.state})`;
    console.log(`started run ${runLabel(ref, run.id)}${state}${rerun}${commit}: ${page}`);
    if (run.state === "queued") console.log(`  ${queueNote(run)}`);
    return 0;
  }
  if (!options.json) console.log(`started run ${runLabel(ref, run.id)}${rerun}${commit}, waiting for it to end (also at ${page})`);
  // Ctrl-C stops watching, not the run: say so, and how to stop the run too.
  const onInterrupt = () => {
    if (process.stdout.isTTY) process.stdout.write("\x1b[?25h");
    console.error(`\nstopped following; run ${runLabel(ref, run.id)} continues (cancel it: gantry run cancel ${formatPipelineRef(ref)} ${run.id})`);
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);
  try {
    const style = options.json ? "none" : process.stdout.isTTY ? "live" : "lines";
    const { run: final, raw } = await followRun(client, `${pipelinePath(ref)}/runs/${run.id}`, style);
    if (options.json) printJson(raw);
    else console.log(runSummary(ref, final));
    return final.state === "successful" ? 0 : 1;
  } finally {
    process.off("SIGINT", onInterrupt);
  }
}

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
    const client = createApiClient();
    const { data, raw } = await client.answer(
      client.typed.GET("/pipelines/{ns}/{id}/runs", { params: { path: { ns: ref.namespace, id: ref.id }, ...(limit !== undefined && { query: { limit: String(limit) } }) } }),
      runListAnswer,
      `GET ${pipelinePath(ref)}/runs`,
    );
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
      `${stateSymbol(run.state)} ${paintState(run.state)}${run.state === "queued" && run.position !== undefined ? ` (${run.position})` : ""}`,
      describeTrigger(run) + describeRerun(run, ", re-run of "),
      `v${run.version}`,
      formatTime(run.startedAt ?? run.queuedAt ?? run.createdAt),
      elapsed(run.startedAt, run.endedAt, now),
      run.reason ?? waitNote(run),
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
    const client = createApiClient();
    const { data, raw } = await client.answer(
      client.typed.GET("/pipelines/{ns}/{id}/runs/{run}", { params: { path: { ns: ref.namespace, id: ref.id, run: String(id) } } }),
      runAnswer,
      `GET ${pipelinePath(ref)}/runs/${id}`,
    );
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
    const client = createApiClient();
    const { data } = await client.answer(
      client.typed.POST("/pipelines/{ns}/{id}/runs/{run}/cancel", { params: { path: { ns: ref.namespace, id: ref.id, run: String(id) } } }),
      runAnswer,
      `POST ${pipelinePath(ref)}/runs/${id}/cancel`,
    );
    const stopping = data.run.tasks.filter((task) => task.state === "running").length;
    console.log(
      `cancelling run ${runLabel(ref, id)}` +
        (stopping ? `: ${stopping === 1 ? "1 running task gets" : `${stopping} running tasks get`} SIGTERM, then SIGKILL after the grace period` : ""),
    );
    return 0;
  },
};

export function runCommand(args: string[]): Promise<number> {
  return dispatch("run", args, { start, rerun, ls, get, cancel, approve, reject, approvals, exec }, { list: "ls", show: "get", "re-run": "rerun" });
}

/** A run that has not ended has no reason yet, but what it waits for: its queue, or a person. */
function waitNote(run: RunJson): string {
  if (run.state === "queued") return run.waitingFor ?? "";
  const gates = waitingGates(run);
  return gates.length ? `waiting for approval: ${gates.map((task) => task.id).join(", ")}` : "";
}

/** The run's approval gates waiting for a decision. */
function waitingGates(run: RunJson): ExecutionJson[] {
  return run.tasks.filter((task) => task.state === "waiting");
}

function runLabel(ref: PipelineRef, id: number): string {
  return `${formatPipelineRef(ref)} #${id}`;
}

/** `${prefix}#3 (failed tasks)` for a re-run, "" for any other run. */
function describeRerun(run: RunJson, prefix: string): string {
  if (run.rerunOf === undefined) return "";
  const scope = run.rerunOnly === "failed" ? "failed tasks" : run.rerunOnly === "all" || run.rerunOnly === undefined ? "all tasks" : run.rerunOnly;
  return `${prefix}#${run.rerunOf} (${scope})`;
}

/** "position 1 in the queue: Gantry is paused: new runs wait until it is resumed". */
function queueNote(run: RunJson): string {
  const position = run.position === undefined ? "queued" : `position ${run.position} in the queue`;
  return run.waitingFor ? `${position}: ${run.waitingFor}` : position;
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
  ];
  if (run.commit) facts.push(["commit", run.commit]);
  facts.push(["trigger", describeTrigger(run)]);
  if (run.rerunOf !== undefined) facts.push(["re-run of", describeRerun(run, "")]);
  const variables = Object.entries(run.variables);
  if (variables.length) facts.push(["variables", variables.map(([name, value]) => `${name}=${value}`).join(" ")]);
  if (Object.keys(run.inputs).length) facts.push(["inputs", formatInputs(run.inputs)]);
  if (run.group !== undefined) facts.push(["group", run.group]);
  if (run.state === "queued") {
    if (run.queuedAt) facts.push(["queued", formatTime(run.queuedAt)]);
    const why = run.waitingFor ? ` — ${run.waitingFor}` : "";
    if (run.position !== undefined || why) facts.push(["position", `${run.position ?? "?"}${why}`]);
  }
  if (run.startedAt) facts.push(["started", formatTime(run.startedAt)]);
  if (run.endedAt) facts.push(["ended", formatTime(run.endedAt)]);
  const took = elapsed(run.startedAt, run.endedAt);
  if (took) facts.push(["duration", took]);
  if (run.node && !run.endedAt) facts.push(["node", run.node]);
  if (run.cancelRequestedAt) facts.push(["cancel", `requested ${formatTime(run.cancelRequestedAt)}, tasks stopping`]);
  if (run.reason) facts.push(["reason", run.reason]);
  for (const gate of waitingGates(run)) facts.push(["approval", `${gate.id}: ${waitingNote(gate)}`], ["decide", decideHint(ref, run.id, gate.id)]);
  printFacts(facts);
  console.log();
  const now = Date.now();
  const rows = run.tasks.flatMap((task) => [
    [
      task.id,
      task.kind,
      `${stateSymbol(task.state)} ${paintState(task.state)}`,
      task.exitCode === null ? "-" : String(task.exitCode),
      String(task.attempt),
      elapsed(task.startedAt, task.endedAt, now) || "-",
      [task.state === "reused" ? [`reused ${reusedNote(task)}`.trim(), task.reason].filter(Boolean).join(": ") : (task.reason ?? ""), truncationNote(task)]
        .filter(Boolean)
        .join("; "),
    ],
    ...attemptRows(task, now),
  ]);
  console.log(table(["TASK", "KIND", "STATE", "EXIT", "ATTEMPT", "DURATION", "REASON"], rows));
}

/** "log truncated: 1,234 lines (2.1 MiB) dropped" when the task's log lost lines to its cap. */
function truncationNote(task: ExecutionJson): string {
  if (!task.log?.truncated) return "";
  return `log truncated: ${task.log.droppedLines.toLocaleString("en-US")} lines (${formatBytes(task.log.droppedBytes)}) dropped`;
}

/**
 * One row per attempt under a task that was tried more than once or failed, so what went
 * wrong before a retry (or on each try of a failure) stays visible.
 */
function attemptRows(task: ExecutionJson, now: number): string[][] {
  if (task.attempts.length === 0 || (task.attempts.length === 1 && task.state !== "failed")) return [];
  return task.attempts.map((attempt) => [
    `  ↳ attempt ${attempt.attempt}`,
    "",
    `${stateSymbol(attempt.state)} ${paintState(attempt.state)}`,
    attempt.exitCode === null ? "-" : String(attempt.exitCode),
    "",
    elapsed(attempt.startedAt, attempt.endedAt, now) || "-",
    attempt.reason ?? "",
  ]);
}
