// /api/v1/pipelines/:ns/:id/runs/:run/findings: what the run's scans found, counted by
// level, each marked new when the pipeline's last successful run before it did not have it.
import { Hono } from "hono";
import { requirePermission } from "../../auth/roles.ts";
import { readRunFindings } from "../../db/repos/findings.ts";
import { requireRunExists } from "../../db/repos/runs.ts";
import type { AppEnv } from "../env.ts";
import { runParams } from "../params.ts";
import { validate } from "../validate.ts";
import { findingsAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

export const findingsApi = new Hono<AppEnv>().get("/:ns/:id/runs/:run/findings", doc({ summary: "What the run's scans found (their SARIF reports): findings [{ task, tool, ruleId, level, message, file, line, new }] and counts { error, warning, note }; new: not among the findings of the pipeline's last successful run before it (since: that run's number, null when none)", permission: "runs:read", response: findingsAnswer }), validate("param", runParams), async (c) => {
  const { ns, id, run } = c.req.valid("param");
  // Before anything is read: a caller without runs:read learns nothing, not even whether the run exists.
  requirePermission(c, "runs", "read", `${ns}/${id}`);
  const { db } = c.get("deps");
  const key = { namespace: ns, id, run };
  await requireRunExists(db, key);
  const { findings, counts, baseline } = await readRunFindings(db, key);
  return c.json({
    findings: findings.map((finding) => ({
      task: finding.taskId,
      tool: finding.tool,
      ruleId: finding.ruleId,
      level: finding.level,
      message: finding.message,
      file: finding.file,
      line: finding.line,
      new: finding.isNew,
    })),
    counts,
    // The run the findings were compared with; null when none succeeded before (all are new).
    since: baseline ?? null,
  });
});
