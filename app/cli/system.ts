// `gantry system status|pause|resume`: the pause switch (while paused, new runs wait queued
// and running ones finish) and the nodes — server processes — working on the database.
import { createApiClient } from "./api-client.ts";
import { systemAnswer, type SystemJson } from "../api-contract/answers.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { ago, formatTime, paint, printJson, table } from "./output.ts";

/** A subcommand that makes one call about the system and prints its answer (or, with --json, the answer as it came). */
function systemCall(name: string, method: "GET" | "POST", path: string, print: (system: SystemJson) => void): Subcommand {
  return {
    usage: `gantry system ${name} [--json]`,
    async run(args) {
      const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
      takePositionals(positionals, []);
      const { data, raw } = await createApiClient().json(method, path, systemAnswer);
      if (values.json) printJson(raw);
      else print(data);
      return 0;
    },
  };
}

const status = systemCall("status", "GET", "/system", printStatus);

const pause = systemCall("pause", "POST", "/system/pause", (system) => {
  const running = system.nodes.reduce((sum, node) => sum + node.runs, 0);
  console.log(`${pausedLine(system)}: new runs wait queued until \`gantry system resume\``);
  if (running) console.log(`${running === 1 ? "1 running run finishes" : `${running} running runs finish`} as usual`);
});

const resume = systemCall("resume", "POST", "/system/resume", () => console.log("resumed: queued runs start in order"));

export function systemCommand(args: string[]): Promise<number> {
  return dispatch("system", args, { status, pause, resume }, { show: "status" });
}

/** "paused by alice since 2025-01-31 14:05:09 (3m ago)". */
function pausedLine(system: SystemJson): string {
  const by = system.pausedBy ? ` by ${system.pausedBy}` : "";
  const since = system.pausedAt ? ` since ${formatTime(system.pausedAt)} (${ago(system.pausedAt)})` : "";
  return `paused${by}${since}`;
}

function printStatus(system: SystemJson): void {
  console.log(system.paused ? `runs: ${paint("yellow", pausedLine(system))}; new runs wait queued` : `runs: ${paint("green", "not paused")}`);
  if (system.runners) console.log(runnersLine(system.runners));
  console.log();
  if (system.nodes.length === 0) {
    console.log("no nodes have registered yet");
    return;
  }
  const now = Date.now();
  const rows = system.nodes.map((node) => [
    node.self ? `${node.id} (self)` : node.id,
    node.hostname,
    String(node.pid),
    node.version,
    node.alive ? paint("green", "alive") : node.stoppedAt ? paint("dim", "stopped") : paint("red", "no heartbeat"),
    ago(node.heartbeatAt, now),
    String(node.runs),
  ]);
  console.log(table(["NODE", "HOST", "PID", "VERSION", "STATE", "HEARTBEAT", "RUNS"], rows));
}

/** "warm runners (this server): 4 of 4 ready; run() tasks in its sandbox since it started: 21 warm, 0 waited for one booting, 5 started their own". */
function runnersLine({ pool, started }: NonNullable<SystemJson["runners"]>): string {
  // Not full is normal: the pool refills once runs stop taking runners for a moment.
  const ready = pool.size === 0 ? paint("dim", "off or stopped (GANTRY_RUN_POOL is 0, or see the server's log)") : pool.ready === pool.size ? paint("green", `${pool.ready} of ${pool.size} ready`) : `${pool.ready} of ${pool.size} ready`;
  const misses = pool.misses > 0 ? `; ${pool.misses} new ${pool.misses === 1 ? "run" : "runs"} found none ready (if that keeps growing, GANTRY_RUN_POOL may be too small)` : "";
  return `warm runners (this server): ${ready}; run() tasks in its sandbox since it started: ${started.warm} warm, ${started.booting} waited for one booting, ${started.own} started their own${misses}`;
}
