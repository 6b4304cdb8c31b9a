// Bundles a pipeline file in a fresh sandbox that sees the pipelines folder, the
// node_modules (and package.json, tsconfig.json) of the folders above it, and nothing else:
// a macro or an `import ... with { type: "text" }` cannot reach the data dir or any host file.
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import * as v from "valibot";
import type { BuildResult, PipelineBuilder } from "./bundle-build.ts";
import { buildCommand } from "./sandboxed-commands.ts";
import { sandboxRefusal, type RunSandbox } from "../executors/run-sandbox.ts";
import { runSandboxed } from "./sandboxed-process.ts";

const BUILD_TIMEOUT_MS = 30_000;
/** A bundle with all its packages can be large, but not larger than this. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** What a build may need from the folders above the pipelines folder. */
const ANCESTOR_ENTRIES = ["node_modules", "package.json", "tsconfig.json"];

export function createSandboxedBuilder(sandbox: RunSandbox, pipelinesDir: string): PipelineBuilder {
  const root = resolve(pipelinesDir);
  const readOnly = [root];
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    for (const entry of ANCESTOR_ENTRIES) if (existsSync(join(dir, entry))) readOnly.push(join(dir, entry));
    if (dir === dirname(dir)) break;
  }
  return async (file) => {
    if (sandbox.status.state === "unavailable") {
      return { ok: false, issues: [{ path: "", message: sandboxRefusal(sandbox.status.reason) }] };
    }
    const outcome = await runSandboxed(sandbox, buildCommand(file), {
      cwd: root,
      readOnly,
      writable: [],
      network: "none",
      timeoutMs: BUILD_TIMEOUT_MS,
      maxOutputBytes: MAX_OUTPUT_BYTES,
    });
    let result: BuildResult;
    try {
      result = v.parse(buildResultSchema, JSON.parse(outcome.report));
    } catch {
      if (outcome.timedOut) return { ok: false, issues: [{ path: "", message: `bundling the file took longer than ${BUILD_TIMEOUT_MS / 1000}s` }] };
      return { ok: false, issues: [{ path: "", message: `the file could not be bundled (exit code ${outcome.code})${outcome.said ? `: ${outcome.said}` : ""}` }] };
    }
    if (!result.ok) return result;
    // The file names are the build's word: only those under the pipelines folder are kept
    // (the loader watches them for changes), never a path elsewhere on the host.
    return { ...result, sources: result.sources.filter((source) => !relative(root, source).startsWith("..")) };
  };
}

const issuesSchema = v.pipe(
  v.array(v.object({ path: v.pipe(v.string(), v.maxLength(500)), message: v.pipe(v.string(), v.maxLength(4_000)) })),
  v.maxLength(100),
);
const buildResultSchema = v.variant("ok", [
  v.object({ ok: v.literal(true), code: v.string(), sources: v.pipe(v.array(v.pipe(v.string(), v.startsWith("/"))), v.maxLength(10_000)) }),
  v.object({ ok: v.literal(false), issues: issuesSchema }),
]);
