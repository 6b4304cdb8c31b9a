// `gantry run approve|reject|approvals`: decide a run's approval gate (with a comment) and
// list the gates waiting for a decision, marking those the caller may decide. The server
// judges who may decide; its refusal (not an approver, their own run, already decided) is
// printed as it gives it, exit 2.
import { MAX_DECISION_COMMENT } from "../domain/approvals.ts";
import { createApiClient } from "./api-client.ts";
import { approvalListAnswer, runAnswer, type ExecutionJson, type RunJson, type WaitingApprovalJson } from "../api-contract/answers.ts";
import { formatPipelineRef, parseArguments, parsePipelineRef, parseRunNumber, pipelinePath, takePositionals, type PipelineRef } from "./arguments.ts";
import type { Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { ago, formatTime, paint, printJson, table } from "./output.ts";

type Verdict = "approve" | "reject";

const PAST: Record<Verdict, string> = { approve: "approved", reject: "rejected" };

function decide(verdict: Verdict): Subcommand {
  return {
    usage: `gantry run ${verdict} <ns/id> <run> <task> [-m comment] [--json]`,
    async run(args) {
      const { values, positionals } = parseArguments(args, {
        message: { type: "string", short: "m" },
        json: { type: "boolean" },
      });
      const [refText, runText, task] = takePositionals(positionals, ["ns/id", "run", "task"]);
      const ref = parsePipelineRef(refText!);
      const id = parseRunNumber(runText!);
      const comment = values.message?.trim();
      // The server's limit, checked here so a long comment fails before the request.
      if (comment !== undefined && [...comment].length > MAX_DECISION_COMMENT) throw new UsageError(`-m: a comment is at most ${MAX_DECISION_COMMENT} characters`);
      const path = `${pipelinePath(ref)}/runs/${id}/tasks/${encodeURIComponent(task!)}/${verdict}`;
      const { data, raw } = await createApiClient().json("POST", path, runAnswer, comment ? { comment } : {});
      if (values.json) {
        printJson(raw);
        return 0;
      }
      console.log(`${PAST[verdict]} ${task} of ${formatPipelineRef(ref)} run ${id}`);
      const next = afterDecision(data.run, task!);
      if (next) console.log(`  ${next}`);
      return 0;
    },
  };
}

export const approve = decide("approve");
export const reject = decide("reject");

/** What the decision did: the run goes on, the gate failed (and why), or what else waits. */
function afterDecision(run: RunJson, task: string): string {
  const gate = run.tasks.find((execution) => execution.id === task);
  const others = run.tasks.filter((execution) => execution.state === "waiting" && execution.id !== task).map((execution) => execution.id);
  const parts: string[] = [];
  if (gate?.state === "failed" && gate.reason) parts.push(`the gate failed: ${gate.reason}`);
  if (others.length > 0) parts.push(`still waiting for approval: ${others.join(", ")}`);
  return parts.join("; ");
}

export const approvals: Subcommand = {
  usage: "gantry run approvals [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    takePositionals(positionals, []);
    const { data, raw } = await createApiClient().json("GET", "/approvals", approvalListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.approvals.length === 0) {
      console.log("no approvals waiting");
      return 0;
    }
    const now = Date.now();
    const rows = data.approvals.map((gate) => [
      `${gate.namespace}/${gate.pipeline} #${gate.run}`,
      gate.task,
      gate.message ?? "",
      ago(gate.waitingSince, now),
      formatTime(gate.decideBy),
      gate.startedBy ?? "",
      youMay(gate),
    ]);
    console.log(table(["RUN", "TASK", "MESSAGE", "WAITING", "DECIDE BY", "STARTED BY", "YOU"], rows));
    const mine = data.approvals.find((gate) => gate.mayDecide);
    if (mine) console.log(`\ndecide: gantry run approve|reject ${mine.namespace}/${mine.pipeline} ${mine.run} ${mine.task} [-m comment]`);
    return 0;
  },
};

/** "✓ may decide", or why not. */
function youMay(gate: WaitingApprovalJson): string {
  return gate.mayDecide ? paint("green", "✓ may decide") : paint("dim", `✗ ${gate.refusal ?? "may not decide"}`);
}

/** "waiting for approval: ship? (approvers: release; decide by 2026-12-07 17:00:00, then reject)". */
export function waitingNote(task: ExecutionJson): string {
  const gate = task.approval;
  const head = gate?.message ? `waiting for approval: ${gate.message}` : "waiting for approval";
  if (!gate) return head;
  const details = [
    gate.approvers.length > 0 ? `approvers: ${gate.approvers.join(", ")}` : "",
    gate.decideBy ? `decide by ${formatTime(gate.decideBy)}${gate.onTimeout ? `, then ${gate.onTimeout}` : ""}` : "",
    gate.autoApproveNote ? `autoApprove: ${gate.autoApproveNote}` : "",
  ].filter(Boolean);
  return details.length > 0 ? `${head} (${details.join("; ")})` : head;
}

/** How to decide a waiting gate from here. */
export function decideHint(ref: PipelineRef, run: number, task: string): string {
  return `gantry run approve|reject ${formatPipelineRef(ref)} ${run} ${task} [-m comment]`;
}
