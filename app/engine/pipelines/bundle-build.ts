// Bundles one pipeline file with Bun.build (its own imports included, "gantry" and "valibot" left to the
// host) into one ESM text with an inline source map naming the files it was made from.
// The server runs this in the sandbox (macros and imported files are the author's code);
// the CLI on a person's own files runs it in-process.
import { resolve } from "node:path";
import type { SpecIssue } from "../../domain/pipeline-spec.ts";

export type BuildResult =
  /** `sources`: absolute paths of every file bundled in, node_modules included. */
  | { ok: true; code: string; sources: string[] }
  | { ok: false; issues: SpecIssue[] };

export type PipelineBuilder = (file: string) => Promise<BuildResult>;

export async function buildBundle(file: string): Promise<BuildResult> {
  try {
    const built = await Bun.build({
      entrypoints: [file],
      target: "bun",
      format: "esm",
      // "valibot" is the host's too: input schemas are read by the host's JSON Schema
      // converter, and a pipeline folder needs no node_modules to declare inputs.
      external: ["gantry", "valibot"],
      // Stack traces of a failing task then point at the pipeline file, not the bundle.
      sourcemap: "inline",
      throw: false,
    });
    if (!built.success || !built.outputs[0]) {
      const messages = built.logs.filter((log) => log.level === "error").map((log) => formatBuildLog(log));
      return { ok: false, issues: (messages.length ? messages : ["the file could not be bundled"]).map((message) => ({ path: "", message })) };
    }
    return { ok: true, ...absoluteSourceMap(await built.outputs[0].text()) };
  } catch (error) {
    return { ok: false, issues: [{ path: "", message: `the file could not be bundled: ${(error as Error).message}` }] };
  }
}

function formatBuildLog(log: BuildMessage | ResolveMessage): string {
  const position = log.position ? `line ${log.position.line}:${log.position.column}: ` : "";
  return `${position}${log.message}`;
}

/**
 * Bun writes source paths relative to the working directory, but resolves them against
 * the bundle's folder when printing a stack trace; absolute paths point at the real file.
 */
function absoluteSourceMap(code: string): { code: string; sources: string[] } {
  const marker = "//# sourceMappingURL=data:application/json;base64,";
  const at = code.lastIndexOf(marker);
  if (at === -1) return { code, sources: [] };
  try {
    const map = JSON.parse(Buffer.from(code.slice(at + marker.length).trim(), "base64").toString("utf8")) as { sources?: string[] };
    const sources = (map.sources ?? []).map((source) => resolve(process.cwd(), source));
    map.sources = sources;
    return { code: `${code.slice(0, at)}${marker}${Buffer.from(JSON.stringify(map)).toString("base64")}\n`, sources };
  } catch {
    return { code, sources: [] };
  }
}
