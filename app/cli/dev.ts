// `gantry dev <file>`: runs one pipeline file locally with the real engine, no server,
// printing each task's log lines and state changes as they happen; with --watch, again on
// each save of the file.
import { mkdtempSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { loadConfig } from "../config.ts";
import { createDeps } from "../deps.ts";
import { addVersion } from "../db/repos/pipelines.ts";
import { getRun } from "../db/repos/runs.ts";
import { formatDuration } from "../domain/duration.ts";
import { isFinalTaskState } from "../domain/states.ts";
import { compilePipelineFile } from "../engine/pipelines/pipeline-compiler.ts";
import { parseArguments, parseVariables, takePositionals } from "./arguments.ts";
import { guard } from "./command.ts";
import { paint, stateSymbol } from "./output.ts";
import { CliError } from "./errors.ts";
import { canPrompt } from "./input-prompt.ts";
import { completeInputs } from "./run-inputs.ts";
import { createInterface } from "node:readline/promises";

/**
 * A gate's decision in `gantry dev`: the flag's, or a y/n at the terminal. Off a terminal
 * without a flag nobody can answer: rejected, saying how to choose.
 */
async function decideLocally(mode: GateMode, label: string): Promise<"approved" | "rejected"> {
  if (mode !== "ask") return mode === "approve" ? "approved" : "rejected";
  if (!canPrompt()) {
    console.log(`${paint("dim", `${label} │`)} not on a terminal: rejected (run with --approve or --reject to choose)`);
    return "rejected";
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    for (;;) {
      const answer = (await rl.question(`approve ${label.trim()}? [y/n] `)).trim().toLowerCase();
      if (/^(y|yes)$/.test(answer)) return "approved";
      if (/^(n|no)$/.test(answer)) return "rejected";
    }
  } finally {
    rl.close();
  }
}

const USAGE = "usage: gantry dev <file> [-i NAME=VALUE]... [-v KEY=VALUE]... [--approve | --reject] [-w|--watch]";
/** Saves come in bursts (an editor writes, renames, touches): one run per burst. */
const WATCH_SETTLE_MS = 150;

/** How approval gates are decided locally: asked at the terminal, or all approved or rejected. */
type GateMode = "ask" | "approve" | "reject";

export function devCommand(args: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values, positionals } = parseArguments(args, {
      var: { type: "string", short: "v", multiple: true },
      input: { type: "string", short: "i", multiple: true },
      approve: { type: "boolean" },
      reject: { type: "boolean" },
      watch: { type: "boolean", short: "w" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const [file] = takePositionals(positionals, ["file"]);
    if (values.approve && values.reject) throw new CliError("--approve and --reject: choose one");
    const gates: GateMode = values.approve ? "approve" : values.reject ? "reject" : "ask";
    const variables = parseVariables(values.var ?? []);
    const inputs = parseVariables(values.input ?? []);
    if (!values.watch) return runLocally(file!, variables, inputs, gates);
    return watchLocally(file!, () => runLocally(file!, variables, inputs, gates));
  });
}

/**
 * `--watch`: runs the file, then again after each save, until Ctrl-C. A run's failure (or a
 * file that does not load) waits for the next save instead of ending the watch.
 */
async function watchLocally(file: string, runOnce: () => Promise<number>): Promise<number> {
  const path = resolve(file);
  let stopping = false;
  let changed = false;
  let wake: (() => void) | undefined;
  const watcher = watch(dirname(path), (_event, name) => {
    if (name !== basename(path)) return;
    changed = true;
    wake?.();
  });
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.on("SIGINT", stop);
  try {
    for (;;) {
      changed = false;
      try {
        await runOnce();
      } catch (error) {
        // A file that cannot be read or run now may be fixed by the next save.
        console.error(`${file}: ${(error as Error).message}`);
      }
      if (stopping) return 0;
      console.log(paint("dim", `watching ${file}: runs again on each save (Ctrl-C stops)`));
      while (!changed && !stopping) await new Promise<void>((resolve) => (wake = resolve));
      if (stopping) return 0;
      // The rest of the save's burst.
      await Bun.sleep(WATCH_SETTLE_MS);
      console.log(paint("bold", `\n${file} changed: running it again`));
    }
  } finally {
    watcher.close();
    process.off("SIGINT", stop);
  }
}

async function runLocally(file: string, variables: Record<string, string>, given: Record<string, string>, gates: GateMode): Promise<number> {
  const path = resolve(file);
  const scratch = mkdtempSync(join(tmpdir(), "gantry-dev-"));
  try {
    const compiled = await compilePipelineFile(path, { bundlesDir: join(scratch, "bundles") });
    if (!compiled.ok) {
      for (const issue of compiled.issues) console.error(`${file}: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
      return 1;
    }
    // Checked (and asked for at a terminal) before anything starts; a CliError lists every problem.
    const inputs = await completeInputs(compiled.spec.inputs ?? [], given, file);
    // The scratch folder holds everything, whatever the environment or gantry.toml say. One
    // run: no warm runners booted for runs that never come.
    const config = loadConfig({
      env: { ...process.env, GANTRY_DATA_DIR: scratch, GANTRY_PIPELINES_DIR: join(scratch, "pipelines"), GANTRY_DB_URL: `file:${join(scratch, "dev.db")}`, GANTRY_RUN_POOL: "0" },
    });
    const deps = await createDeps(config);
    const key = { namespace: "dev", id: compiled.spec.id };
    await addVersion(deps.db, key, { ...compiled, file: path }, new Date());
    const started = Date.now();
    const run = await deps.orchestrator.startRun(key, { variables, ...(inputs && { inputs }), trigger: { kind: "dev" } });
    const runKey = { ...key, run: run.id };
    const width = Math.max(...compiled.spec.tasks.map((task) => task.id.length));
    const followers: Promise<void>[] = [];
    const seen = new Map<string, string>();

    console.log(`${paint("bold", compiled.spec.name)}: ${compiled.spec.tasks.length} task(s), run locally`);
    const interrupt = () => void deps.orchestrator.cancelRun(runKey, "Ctrl-C").catch(() => undefined);
    process.once("SIGINT", interrupt);
    const unsubscribe = deps.bus.subscribe(async (message) => {
      if (message.run !== run.id || !message.task) return;
      const current = await getRun(deps.db, runKey);
      const task = current?.tasks.find((candidate) => candidate.taskId === message.task);
      if (!task || seen.get(task.taskId) === `${task.state}:${task.attempt}`) return;
      seen.set(task.taskId, `${task.state}:${task.attempt}`);
      const label = task.taskId.padEnd(width);
      if (task.state === "waiting" && task.gate) {
        console.log(`${paint("yellow", "⧗")} ${label} waiting for approval${task.gate.message ? `: ${task.gate.message}` : ""}`);
        const spec = compiled.spec.tasks.find((candidate) => candidate.id === task.taskId)?.approval;
        void decideLocally(gates, label).then((outcome) =>
          deps.orchestrator
            .decideApproval(runKey, task.taskId, {
              outcome,
              comment: gates === "ask" ? "decided at the terminal (gantry dev)" : `gantry dev --${gates === "approve" ? "approve" : "reject"}`,
              // Locally you are every approver the gate names, and not the run's starter.
              decider: { name: "you", tokenId: "dev", roles: spec?.approvers ?? [], mayApprove: true },
            })
            .catch((error: Error) => console.error(`${label} could not be decided: ${error.message}`)),
        );
        return;
      }
      if (task.state === "running" && task.attempt === 1 && task.kind !== "approval") {
        console.log(`${paint("cyan", "▶")} ${label} started`);
        const controller = new AbortController();
        followers.push(
          (async () => {
            const logKey = { namespace: key.namespace, pipeline: key.id, run: run.id, task: task.taskId };
            const finished = async () => {
              const latest = await getRun(deps.db, runKey);
              const state = latest?.tasks.find((candidate) => candidate.taskId === task.taskId)?.state;
              return !state || isFinalTaskState(state);
            };
            for await (const chunk of deps.logs.follow(logKey, finished, controller.signal)) {
              for (const line of chunk.replace(/\n$/, "").split("\n")) {
                // Drop the stored timestamp: the terminal is live already.
                console.log(`${paint("dim", `${label} │`)} ${line.replace(/^\S+ /, "")}`);
              }
            }
          })(),
        );
      } else if (isFinalTaskState(task.state)) {
        const took = task.startedAt && task.endedAt ? ` in ${formatDuration(task.endedAt.getTime() - task.startedAt.getTime())}` : "";
        console.log(`${stateSymbol(task.state)} ${label} ${task.state}${took}${task.reason ? `: ${task.reason}` : ""}`);
      }
    });
    await deps.orchestrator.idle();
    await Promise.all(followers);
    unsubscribe();
    process.off("SIGINT", interrupt);
    const final = await getRun(deps.db, runKey);
    const state = final?.state ?? "failed";
    const summary = `${state}${final?.reason ? ` (${final.reason})` : ""} in ${formatDuration(Date.now() - started)}`;
    console.log(paint(state === "successful" ? "green" : "red", summary));
    // Executors closed too: --watch makes a fresh set for each run.
    await deps.orchestrator.shutdown().catch(() => undefined);
    deps.database.close();
    return state === "successful" ? 0 : 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
