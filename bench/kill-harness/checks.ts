// The invariants checked once every run has ended: nothing acknowledged was lost, every run
// and task ended, cancels and deliveries had their effect exactly once, no task ran more often
// than its retries allow or before its needs were met, and streamed logs hold every line once.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HOOK_SECRET, PIPELINES, STREAM_LINES, hmac } from "./pipelines.ts";
import type { KillReport } from "./report.ts";
import { FINAL_RUN_STATES, FINAL_TASK_STATES, runKey, type HarnessState, type RunJson } from "./state.ts";
import type { Paths } from "./workdir.ts";

/** run() markers by "pipeline#run" → task → attempt numbers; container markers from each run's workspace. */
function readMarkers(paths: Paths, pipeline: string, run: number, runMarks: Map<string, Map<string, number[]>>): Map<string, number[]> {
  const marks = new Map(runMarks.get(runKey(pipeline, run)) ?? []);
  const workspaceMarks = join(paths.dataDir, "workspaces", "default", pipeline, String(run), ".marks");
  if (existsSync(workspaceMarks)) {
    for (const task of readFileSync(workspaceMarks, "utf8").split("\n").filter(Boolean)) marks.set(task, [...(marks.get(task) ?? []), 0]);
  }
  return marks;
}

export function checkRuns(state: HarnessState, runs: Map<string, RunJson>, paths: Paths, report: KillReport): void {
  const violations = state.violations;
  const runMarks = new Map<string, Map<string, number[]>>();
  for (const line of readFileSync(paths.marksFile, "utf8").split("\n").filter(Boolean)) {
    const [pipeline, run, task, attempt] = line.split(" ");
    const key = runKey(pipeline!, Number(run));
    const tasks = runMarks.get(key) ?? new Map<string, number[]>();
    tasks.set(task!, [...(tasks.get(task!) ?? []), Number(attempt)]);
    runMarks.set(key, tasks);
  }
  for (const key of runMarks.keys()) if (!runs.has(key)) violations.push(`run() markers exist for run ${key}, which the API does not know`);

  // Every acknowledged run exists.
  for (const [key, record] of state.acked) {
    if (!runs.has(key)) violations.push(`run ${key} (${record.via}) was acknowledged but does not exist`);
  }
  report.runsAcknowledged = state.acked.size;
  report.runsChecked = runs.size;
  report.runsUnacknowledged = [...runs.keys()].filter((key) => !state.acked.has(key)).length;

  const nonces = new Map<string, string>();
  for (const [key, run] of runs) {
    const pipeline = key.slice(0, key.indexOf("#"));
    const def = PIPELINES.find((candidate) => `${state.prefix}${candidate.name}` === pipeline)!;
    report.runStates[run.state] = (report.runStates[run.state] ?? 0) + 1;
    // Every run reaches a final state, and so do its tasks.
    if (!FINAL_RUN_STATES.has(run.state)) {
      violations.push(`run ${key} is still ${run.state} at the end (tasks: ${run.tasks.map((task) => `${task.id}=${task.state}`).join(", ")})`);
      continue;
    }
    for (const task of run.tasks) if (!FINAL_TASK_STATES.has(task.state)) violations.push(`run ${key} ended ${run.state} with task ${task.id} still ${task.state}`);
    // Cancelled only when asked, and always when a cancel was acknowledged.
    if (state.cancelsAcked.has(key) && run.state !== "cancelled") violations.push(`run ${key}: its cancel was acknowledged (202) but it ended ${run.state}${run.reason ? ` (${run.reason})` : ""}`);
    if (run.state === "cancelled" && !state.cancelsSent.has(key)) violations.push(`run ${key} ended cancelled (${run.reason}) but nobody cancelled it`);
    if (state.cancelsAcked.has(key)) report.cancelsChecked++;
    // One POST or delivery, one run.
    const nonce = run.variables.NONCE;
    if (nonce) {
      if (nonces.has(nonce)) violations.push(`runs ${nonces.get(nonce)} and ${key} both came from request ${nonce}`);
      nonces.set(nonce, key);
    }
    if (run.reason?.startsWith("internal error") || /can no longer be found|could not find this attempt again/.test(run.reason ?? "")) {
      violations.push(`run ${key} ended ${run.state}: ${run.reason}`);
    }

    const marks = readMarkers(paths, pipeline, run.id, runMarks);
    for (const task of run.tasks) {
      const taskDef = def.tasks[task.id];
      if (!taskDef) {
        violations.push(`run ${key} has a task ${task.id} its pipeline does not define`);
        continue;
      }
      report.executionsChecked++;
      const attempts = task.attempts ?? [];
      const taskMarks = marks.get(task.id) ?? [];
      report.attempts += attempts.length;
      report.markers += taskMarks.length;
      if (task.state === "failed" || task.state === "cancelled") {
        const reason = task.reason ?? "(none)";
        report.taskReasons[reason] = (report.taskReasons[reason] ?? 0) + 1;
      }
      const where = `run ${key} task ${task.id}`;
      // No task ran more often than its retries allow, nor more often than its recorded attempts.
      if (taskMarks.length > 1 + taskDef.retries) violations.push(`${where} ran ${taskMarks.length} times with ${taskDef.retries} retries`);
      if (attempts.length > 1 + taskDef.retries) violations.push(`${where} has ${attempts.length} attempts with ${taskDef.retries} retries`);
      if (taskMarks.length > attempts.length) violations.push(`${where} ran ${taskMarks.length} times but ${attempts.length} attempt(s) are recorded`);
      if (taskDef.kind === "run") {
        const seen = new Set<number>();
        for (const attempt of taskMarks) {
          if (seen.has(attempt)) violations.push(`${where} ran attempt ${attempt} twice`);
          seen.add(attempt);
          if (!attempts.some((recorded) => recorded.attempt === attempt)) violations.push(`${where} ran attempt ${attempt}, which is not recorded`);
        }
        if (task.state === "successful" && !seen.has(task.attempt)) violations.push(`${where} is successful in attempt ${task.attempt}, which never ran`);
      } else if (task.state === "successful" && taskMarks.length === 0) {
        violations.push(`${where} is successful but its container never ran`);
      }
      for (const attempt of attempts) if (attempt.state === "running") violations.push(`${where} attempt ${attempt.attempt} is still running in an ended run`);
      if (task.reason?.startsWith("internal error") || /can no longer be found|could not find this attempt again/.test(task.reason ?? "")) {
        violations.push(`${where} ended ${task.state}: ${task.reason}`);
      }
      // A task that started had its conditions met.
      if (attempts.length > 0) {
        for (const [upstream, condition] of Object.entries(taskDef.needs ?? {})) {
          const up = run.tasks.find((candidate) => candidate.id === upstream)?.state ?? "missing";
          const met = condition === "success" ? up === "successful" || up === "reused" : condition === "failure" ? up === "failed" : FINAL_TASK_STATES.has(up);
          if (!met) violations.push(`${where} ran although it needs ${upstream}: ${condition} and ${upstream} is ${up}`);
        }
      }
    }
  }
}

/** The streaming container's successful attempts hold each of its lines exactly once, in order. */
export async function checkStreamLogs(api: (path: string) => Promise<Response>, runs: Map<string, RunJson>, prefix: string, report: KillReport, violations: string[]): Promise<void> {
  const expected = Array.from({ length: STREAM_LINES }, (_, i) => `line ${i + 1}`).join("|");
  for (const [key, run] of runs) {
    if (!key.startsWith(`${prefix}box#`)) continue;
    const stream = run.tasks.find((task) => task.id === "stream");
    const success = stream?.attempts?.find((attempt) => attempt.state === "successful");
    if (!success) continue;
    const response = await api(`/pipelines/default/${prefix}box/runs/${run.id}/tasks/stream/logs?attempt=${success.attempt}`);
    const text = await response.text();
    // "<time> [stream] text"; Gantry's own notes are the [gantry] stream.
    const lines = text
      .split("\n")
      .filter(Boolean)
      .map((line) => line.replace(/^\S+ /, ""))
      .filter((line) => !line.startsWith("[gantry]"));
    report.logsChecked++;
    if (lines.join("|") !== expected) violations.push(`run ${key} task stream: its log should hold lines 1 to ${STREAM_LINES} once each, it holds ${JSON.stringify(lines)}`);
  }
}

/** Each acknowledged delivery's run exists, came from it, and sending it again starts nothing. */
export async function checkDeliveries(state: HarnessState, api: (path: string) => Promise<Response>, hooksUrl: string, report: KillReport): Promise<void> {
  const pipeline = `${state.prefix}hook`;
  const newestHookRun = async () => {
    const response = await api(`/pipelines/default/${pipeline}/runs?limit=1`);
    return ((await response.json()) as { runs: RunJson[] }).runs[0]?.id ?? 0;
  };
  const newestBefore = await newestHookRun();
  for (const delivery of state.deliveries) {
    const where = `delivery ${delivery.id} (run ${delivery.run})`;
    const response = await api(`/pipelines/default/${pipeline}/runs/${delivery.run}`);
    if (response.status !== 200) {
      state.violations.push(`${where} was acknowledged but its run answers ${response.status}`);
      continue;
    }
    const { run } = (await response.json()) as { run: RunJson };
    if (run.variables.DELIVERY !== delivery.id) state.violations.push(`${where}: the run carries delivery ${run.variables.DELIVERY}`);
    if (run.trigger.kind !== "webhook") state.violations.push(`${where}: the run's trigger is ${run.trigger.kind}`);
    const again = await fetch(`${hooksUrl}/hooks/webhook/default/${pipeline}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gantry-signature-256": hmac(HOOK_SECRET, delivery.body), "x-gantry-delivery": delivery.id },
      body: delivery.body,
      signal: AbortSignal.timeout(15_000),
    });
    const answer = (await again.json().catch(() => ({}))) as { run?: { id: number; duplicate: boolean } };
    if (again.status !== 202 || !answer.run?.duplicate || answer.run.id !== delivery.run) {
      state.violations.push(`${where} sent again answered ${again.status} ${JSON.stringify(answer)}, not a duplicate of run ${delivery.run}`);
    }
    report.deliveriesChecked++;
  }
  const newestAfter = await newestHookRun();
  if (newestAfter !== newestBefore) state.violations.push(`sending the acknowledged deliveries again started runs ${newestBefore + 1} to ${newestAfter}`);
}
