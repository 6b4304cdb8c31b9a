// Imports a pipeline bundle in a fresh bubblewrap sandbox (no network, nothing of the data
// dir but the bundle itself) and reads back its spec: top-level code of a pipeline file
// never runs with the server's rights.
import * as v from "valibot";
import { toPipelineSpec, type SpecResult } from "../../domain/pipeline-spec.ts";
import { reviveDefinition } from "./import-report.ts";
import { importCommand } from "./sandboxed-commands.ts";
import { sandboxRefusal, type RunSandbox } from "../executors/run-sandbox.ts";
import { runSandboxed } from "./sandboxed-process.ts";

export type BundleImporter = (bundlePath: string) => Promise<SpecResult>;

const IMPORT_TIMEOUT_MS = 10_000;
/** Most a sandboxed import may print: a pipeline's export is small, a flood is cut. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export function createSandboxedImporter(sandbox: RunSandbox): BundleImporter {
  return async (bundlePath) => {
    if (sandbox.status.state === "unavailable") {
      return { ok: false, issues: [{ path: "", message: sandboxRefusal(sandbox.status.reason) }] };
    }
    const outcome = await runSandboxed(sandbox, importCommand(bundlePath), {
      cwd: "/tmp",
      readOnly: [bundlePath],
      writable: [],
      network: "none",
      timeoutMs: IMPORT_TIMEOUT_MS,
      maxOutputBytes: MAX_OUTPUT_BYTES,
    });
    let report: v.InferOutput<typeof importReportSchema>;
    try {
      report = v.parse(importReportSchema, JSON.parse(outcome.report));
    } catch {
      if (outcome.timedOut) return { ok: false, issues: [{ path: "", message: `loading the file took longer than ${IMPORT_TIMEOUT_MS / 1000}s` }] };
      return { ok: false, issues: [{ path: "", message: `the file crashed while loading (exit code ${outcome.code})${outcome.said ? `: ${outcome.said}` : ""}` }] };
    }
    if (!report.ok) return { ok: false, issues: [{ path: "", message: report.message.slice(0, 2_000) }] };
    // The sandbox's word is data, not a verdict: the server validates the export itself,
    // and whatever it was fed (nested to hurt, shaped to throw) ends as this file's error.
    try {
      return toPipelineSpec(reviveDefinition(report.definition));
    } catch (error) {
      return { ok: false, issues: [{ path: "", message: `the file's default export cannot be read: ${(error as Error).message}` }] };
    }
  };
}

const importReportSchema = v.variant("ok", [
  v.object({ ok: v.literal(true), definition: v.unknown() }),
  v.object({ ok: v.literal(false), message: v.string() }),
]);
