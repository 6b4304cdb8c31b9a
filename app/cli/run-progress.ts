// Follows a run until it ends, by polling its JSON (simple, and it cannot miss the end),
// and shows its progress — why it waits while queued, then its tasks: a redrawn status
// block on a terminal, one line per change otherwise — a task waiting to retry says when,
// a gate waiting for approval what it asks and how to decide it (following goes on).
import { retryNote } from "../domain/retry-delay.ts";
import { taskPhase } from "../domain/states.ts";
import { ApiError, type ApiClient } from "./api-client.ts";
import { runAnswer, type ExecutionJson, type RunJson } from "../api-contract/answers.ts";
import { elapsed, paint, paintState, stateSymbol, textWidth, truncate } from "./output.ts";
import { decideHint, waitingNote } from "./run-approvals.ts";

const POLL_MS = 200;
/** While the run only waits for a person (a gate, nothing running), a slower poll is soon enough. */
const PERSON_POLL_MS = 1000;
/** How long the server may be unreachable or failing before following gives up. */
const OUTAGE_LIMIT_MS = 15_000;
const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

const FINAL_RUN_STATES = new Set(["successful", "failed", "cancelled"]);

function isFinalRunState(state: string): boolean {
  return FINAL_RUN_STATES.has(state);
}

export type ProgressStyle = "live" | "lines" | "none";

export interface FollowedRun {
  run: RunJson;
  /** The last answer as the API sent it, for --json. */
  raw: unknown;
}

/** Polls `GET <runPath>` until the run reaches a final state, showing progress in `style`. */
export async function followRun(client: ApiClient, runPath: string, style: ProgressStyle): Promise<FollowedRun> {
  const view = style === "live" ? createLiveView() : style === "lines" ? createLineView() : undefined;
  let failingSince: number | undefined;
  try {
    for (;;) {
      let answer;
      try {
        answer = await client.json("GET", runPath, runAnswer);
        failingSince = undefined;
      } catch (error) {
        // A server restart or a blip should not end the wait; a real refusal (404, 401) should.
        const transient = error instanceof ApiError && (error.status === 0 || error.status >= 500);
        failingSince ??= Date.now();
        if (!transient || Date.now() - failingSince > OUTAGE_LIMIT_MS) throw error;
        await Bun.sleep(POLL_MS * 5);
        continue;
      }
      const run = answer.data.run;
      view?.update(run);
      if (isFinalRunState(run.state)) return { run, raw: answer.raw };
      await Bun.sleep(waitsForPerson(run) ? PERSON_POLL_MS : POLL_MS);
    }
  } finally {
    view?.close();
  }
}

/** A gate waits and no task runs: the run moves only when someone decides (or the gate times out). */
function waitsForPerson(run: RunJson): boolean {
  return run.tasks.some((task) => task.state === "waiting") && !run.tasks.some((task) => task.state === "running");
}

interface ProgressView {
  update(run: RunJson): void;
  close(): void;
}

/** Not a terminal (a CI log, a pipe): print a line each time the queue place or a task's state, attempt or phase changes. */
function createLineView(): ProgressView {
  const seen = new Map<string, string>();
  let queue: string | undefined;
  return {
    update(run) {
      if (run.state === "queued") {
        // Print the reason again only when it changes ("paused" → "waiting for run 12").
        const place = queuePlace(run);
        if (place !== queue) console.log(`${stateSymbol("queued")} ${place}`);
        queue = place;
        return;
      }
      if (queue !== undefined && run.startedAt) {
        console.log(`${stateSymbol("running")} started after ${queueWait(run)} in the queue`);
        queue = undefined;
      }
      const width = Math.max(...run.tasks.map((task) => task.id.length));
      const changed = run.tasks.filter((task) => {
        const mark = `${task.state}:${task.attempt}:${taskPhase(task) ?? ""}`;
        const before = seen.get(task.id);
        seen.set(task.id, mark);
        // The first sight of a pending task is not news.
        return before !== mark && !(before === undefined && task.state === "pending");
      });
      // Several changes can land between two polls: print them in the order they happened.
      const when = (task: ExecutionJson) => Date.parse(task.endedAt ?? task.startedAt ?? "") || 0;
      changed.sort((a, b) => when(a) - when(b));
      for (const task of changed) {
        console.log(`${stateSymbol(task.state)} ${task.id.padEnd(width)}  ${describeTask(task, Date.now())}`);
        if (task.state === "waiting") console.log(`  ${" ".repeat(width)}  decide: ${decideHint({ namespace: run.namespace, id: run.pipeline }, run.id, task.id)}`);
      }
    },
    close() {},
  };
}

/** A terminal: redraw a compact block, one line per task, in place. */
function createLiveView(): ProgressView {
  let drawn = 0;
  let frame = 0;
  // Once the run has waited in the queue, the block keeps a first line about it, so the
  // number of lines never shrinks (a shorter redraw would leave stale lines below).
  let queued = false;
  const out = process.stdout;
  // Hide the cursor while redrawing, and give it back however we leave.
  const showCursor = () => out.write("\x1b[?25h");
  out.write("\x1b[?25l");
  process.once("exit", showCursor);
  return {
    update(run) {
      frame++;
      const now = Date.now();
      const columns = (out.columns || 100) - 1;
      const width = Math.max(...run.tasks.map((task) => task.id.length));
      const lines: string[] = [];
      if (run.state === "queued") queued = true;
      if (queued) {
        const waiting = run.state === "queued";
        const symbol = waiting ? paint("blue", SPINNER[frame % SPINNER.length]!) : stateSymbol(run.startedAt ? "running" : run.state);
        const text = waiting ? queuePlace(run) : run.startedAt ? `started after ${queueWait(run)} in the queue` : `${run.state} while queued`;
        lines.push(`  ${symbol} ${truncate(text, columns - 4)}`);
      }
      lines.push(...run.tasks.map((task) => {
        const symbol = task.state === "running" ? paint("cyan", SPINNER[frame % SPINNER.length]!) : stateSymbol(task.state);
        const head = `  ${symbol} ${task.id.padEnd(width)}  `;
        const shown = taskPhase(task) ?? task.state;
        const state = (shown === task.state ? paintState(task.state) : paint("cyan", shown)) + " ".repeat(Math.max(0, 10 - shown.length));
        const took = elapsed(task.startedAt, task.endedAt, now).padStart(7);
        const detail = taskDetail(task, now);
        const room = columns - textWidth(head) - textWidth(state) - took.length - 2;
        // Cut plain text before colouring so a long reason never wraps and breaks the redraw.
        return `${head}${state}${took}${detail && room > 3 ? `  ${paint("dim", truncate(detail, room))}` : ""}`;
      }));
      let text = drawn ? `\x1b[${drawn}F` : "";
      for (const line of lines) text += `\x1b[2K${line}\n`;
      out.write(text);
      drawn = lines.length;
    },
    close() {
      showCursor();
      process.off("exit", showCursor);
    },
  };
}

/** "queued (position 2): waiting for run 12 of group deploy-main". */
function queuePlace(run: RunJson): string {
  const position = run.position === undefined ? "" : ` (position ${run.position})`;
  return `queued${position}${run.waitingFor ? `: ${run.waitingFor}` : ""}`;
}

/** How long a run that has started waited before it did. */
function queueWait(run: RunJson): string {
  return elapsed(run.queuedAt ?? run.createdAt ?? null, run.startedAt) || "0ms";
}

/** "running (attempt 2)", "failed in 1.2s (exit 1): reason", "reused from run 3", "retrying at 14:03:05 (in 4s) (attempt 1)". */
function describeTask(task: ExecutionJson, now: number): string {
  if (task.state === "reused") return `${paintState(task.state)} ${reusedNote(task)}`.trimEnd();
  if (task.state === "waiting") return paint("yellow", waitingNote(task));
  const took = elapsed(task.startedAt, task.endedAt, now);
  const retry = retryText(task, now);
  let text = retry ? paint("cyan", retry) : paintState(task.state);
  if (task.state !== "running" && took) text += ` in ${took}`;
  const note = taskNote(task);
  if (note) text += ` (${note})`;
  const reason = reasonOf(task);
  if (reason) text += `: ${reason}`;
  return text;
}

/** The short form for the live block: "attempt 2, exit 1: reason", "retrying at 14:03:05 (in 4s)". */
function taskDetail(task: ExecutionJson, now: number): string {
  if (task.state === "reused") return reusedNote(task);
  if (task.state === "waiting") return task.approval?.message ? `for approval: ${task.approval.message}` : "for approval";
  return [retryText(task, now), taskNote(task), reasonOf(task)].filter(Boolean).join(": ");
}

/** The task's reason; while it waits to retry, why its last attempt failed. */
function reasonOf(task: ExecutionJson): string | undefined {
  if (task.reason || taskPhase(task) !== "retrying") return task.reason;
  return task.attempts[task.attempts.length - 1]?.reason;
}

/** "retrying at 14:03:05 (in 4s)" while the task waits out its retry delay. */
function retryText(task: ExecutionJson, now: number): string | undefined {
  return taskPhase(task) === "retrying" && task.retryAt ? retryNote(new Date(task.retryAt), new Date(now)) : undefined;
}

function taskNote(task: ExecutionJson): string {
  const parts: string[] = [];
  if (task.attempt > 1) parts.push(`attempt ${task.attempt}`);
  if (task.exitCode !== null && task.exitCode !== 0) parts.push(`exit ${task.exitCode}`);
  return parts.join(", ");
}

/** "from run 3": where a reused task's successful execution (and its log) is. */
export function reusedNote(task: ExecutionJson): string {
  return task.reusedFrom === undefined ? "" : `from run ${task.reusedFrom}`;
}
