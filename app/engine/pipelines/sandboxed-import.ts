// Imports a pipeline bundle in a fresh bubblewrap sandbox (no network, nothing of the data
// dir but the bundle itself) and reads back its spec: top-level code of a pipeline file
// never runs with the server's rights.
import * as v from "valibot";
import { toPipelineSpec, type SpecResult } from "../../domain/pipeline-spec.ts";
import { reviveDefinition, type ImportReport } from "./import-report.ts";
import { importCommand } from "./import-command.ts";
import { sandboxRefusal, type RunSandbox } from "../executors/run-sandbox.ts";

export type BundleImporter = (bundlePath: string) => Promise<SpecResult>;

const IMPORT_TIMEOUT_MS = 10_000;

export function createSandboxedImporter(sandbox: RunSandbox): BundleImporter {
  return async (bundlePath) => {
    if (sandbox.status.state === "unavailable") {
      return { ok: false, issues: [{ path: "", message: sandboxRefusal(sandbox.status.reason) }] };
    }
    const argv = sandbox.wrap(importCommand(bundlePath), { cwd: "/tmp", readOnly: [bundlePath], writable: [], network: "none" });
    const child = Bun.spawn(argv, {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", TMPDIR: "/tmp" },
      detached: true,
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // ended meanwhile
      }
    }, IMPORT_TIMEOUT_MS);
    const [stdout, stderr, code] = await Promise.all([readCapped(child.stdout), readCapped(child.stderr), child.exited]);
    clearTimeout(timer);
    const last = stdout.trimEnd().split("\n").at(-1) ?? "";
    let report: ImportReport;
    try {
      report = v.parse(importReportSchema, JSON.parse(last));
    } catch {
      if (child.signalCode === "SIGKILL" || code === 137) {
        return { ok: false, issues: [{ path: "", message: `loading the file took longer than ${IMPORT_TIMEOUT_MS / 1000}s` }] };
      }
      const said = stderr.trim().split("\n").slice(-3).join(" ").slice(0, 500);
      return { ok: false, issues: [{ path: "", message: `the file crashed while loading (exit code ${code})${said ? `: ${said}` : ""}` }] };
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

/** Most a sandboxed import may print: a pipeline's export is small, a flood is cut. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

async function readCapped(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    // Past the cap only the newest output is kept: the report is the last line.
    chunks.push(chunk);
    size += chunk.length;
    while (size > MAX_OUTPUT_BYTES && chunks.length > 1) size -= chunks.shift()!.length;
  }
  return Buffer.concat(chunks).toString("utf8");
}
