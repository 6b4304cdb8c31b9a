// After a scan task succeeded: its SARIF report is read from the workspace (never through
// a symlink: pipeline code wrote it and the server may be root), its findings replace those
// an earlier attempt stored, a summary goes to the log, and findings at or above the task's
// failOn fail it.
import { unlinkSync } from "node:fs";
import { join } from "node:path";
import { WorkspaceDirs } from "../../stores/workspace-dirs.ts";
import type { Db } from "../../db/client.ts";
import { replaceTaskFindings } from "../../db/repos/findings.ts";
import { formatBytes } from "../../domain/bytes.ts";
import { failureReason, parseSarif, SarifError, scanSummary } from "../../domain/sarif.ts";
import { openContained, OutsideRootError } from "../../stores/contained-path.ts";
import { CONTAINER_WORKSPACE } from "../executors/container-plan.ts";
import type { StepResult, TaskFilesContext } from "./index.ts";

/** The largest report read: a scanner's output, but written by pipeline code. */
export const MAX_SARIF_BYTES = 50 * 1024 * 1024;
/** The most findings stored per task; the gate still counts every one. */
export const MAX_STORED_FINDINGS = 10_000;

export interface FindingsCollectorOptions {
  db: Db;
  maxBytes?: number;
  maxStored?: number;
}

export interface FindingsCollector {
  /** Before an attempt: removes a report left in the workspace (an earlier attempt's, or a re-run's copy), so only this attempt's is read. */
  clear(context: TaskFilesContext): Promise<void>;
  collect(context: TaskFilesContext): Promise<StepResult>;
}

/** Removes the report at `path` (never through a link out of the workspace; a link itself is removed, not followed). */
function clearReport(workspace: string, path: string): void {
  const dirs = new WorkspaceDirs(workspace);
  try {
    const found = dirs.locate(path, { followLast: false });
    if (found.stats && !found.stats.isDirectory()) unlinkSync(dirs.at(found.parent, found.name));
  } catch {
    // Outside, or not there: the read after the attempt says so.
  } finally {
    dirs.close();
  }
}

export function createFindingsCollector({ db, maxBytes = MAX_SARIF_BYTES, maxStored = MAX_STORED_FINDINGS }: FindingsCollectorOptions): FindingsCollector {
  return {
    async clear(context) {
      if (context.task.sarif) clearReport(context.workspace, context.task.sarif.path);
    },
    async collect(context) {
      const spec = context.task.sarif;
      if (!spec) return { ok: true };
      const read = await readReport(context.workspace, spec.path, maxBytes);
      if (!read.ok) return read;
      let report;
      try {
        // Tools write absolute file URIs: made relative to the workspace, as either side saw it.
        report = parseSarif(read.text, { ...(spec.tool !== undefined && { tool: spec.tool }), roots: [context.workspace, CONTAINER_WORKSPACE] });
      } catch (error) {
        if (!(error instanceof SarifError)) throw error;
        return { ok: false, reason: `scan: the SARIF file ${spec.path} cannot be read: ${error.message}` };
      }
      const { findings, tools } = report;
      const stored = findings.length > maxStored ? findings.slice(0, maxStored) : findings;
      await replaceTaskFindings(db, context.key, context.task.id, stored);
      context.log(scanSummary(findings, tools));
      if (stored.length < findings.length) context.log(`scan: stored the first ${stored.length} of ${findings.length} findings`);
      const reason = failureReason(findings, spec.failOn);
      return reason ? { ok: false, reason } : { ok: true };
    },
  };
}

type ReadReport = { ok: true; text: string } | { ok: false; reason: string };

async function readReport(workspace: string, path: string, maxBytes: number): Promise<ReadReport> {
  const fail = (why: string): ReadReport => ({ ok: false, reason: `scan: the SARIF file ${path} ${why}` });
  let file;
  try {
    file = await openContained(workspace, join(workspace, path));
  } catch (error) {
    if (error instanceof OutsideRootError) return fail(`was refused: it is a symlink, leads through one, or is not a regular file (${error.message.replace(`${workspace}/`, "")})`);
    return fail(`could not be opened: ${(error as Error).message}`);
  }
  if (!file) return fail("is missing: the task wrote no report there (did the scanner run, and write to that path in the workspace?)");
  try {
    if (file.size > maxBytes) return fail(`is ${formatBytes(file.size)}, over the limit of ${formatBytes(maxBytes)}`);
    // Read through the handle opened without following links, no more than the limit.
    const buffer = Buffer.alloc(Math.min(file.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) return fail(`grew past the limit of ${formatBytes(maxBytes)} while it was read`);
    return { ok: true, text: buffer.subarray(0, length).toString("utf8") };
  } finally {
    await file.handle.close();
  }
}
