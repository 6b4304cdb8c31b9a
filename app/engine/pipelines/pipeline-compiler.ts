// Turns one pipeline file into a version candidate: bundles it (its own imports included,
// "gantry" left to the host) into a content-addressed file, then imports and validates it
// (in the server, both in its sandbox; in the CLI, in-process and in a Worker).
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PipelineSpec, SpecIssue, SpecResult } from "../../domain/pipeline-spec.ts";
import type { BundleImporter } from "./sandboxed-import.ts";
import { buildBundle, type PipelineBuilder } from "./bundle-build.ts";
import { checkContainerPolicy, DEFAULT_CONTAINER_POLICY, type ContainerPolicy } from "../../domain/container-policy.ts";

export type CompileResult =
  /** `inputs`: the other local files bundled in (helpers), so a change to one reloads this file. */
  | { ok: true; spec: PipelineSpec; hash: string; bundlePath: string; inputs: string[] }
  /** `id` is known when the file evaluated but broke a rule (the container policy). */
  | { ok: false; issues: SpecIssue[]; id?: string };

const IMPORT_TIMEOUT_MS = 10_000;

// Inside the compiled binary every bundled module shares the executable's URL
// (file:///$bunfs/root/gantry), so a path relative to this file would miss; the Worker is an
// extra entrypoint that scripts/build-binary.ts places at engine/pipelines/ under the binary's root.
const IMPORT_WORKER = Bun.isStandaloneExecutable
  ? new URL("./engine/pipelines/pipeline-import-worker.ts", import.meta.url).href
  : new URL("./pipeline-import-worker.ts", import.meta.url).href;

export interface CompileOptions {
  /** Where content-addressed bundles are written. */
  bundlesDir: string;
  policy?: ContainerPolicy;
  /** How the file is bundled: the server uses its sandbox; the CLI on a person's own files, in-process. */
  buildBundle?: PipelineBuilder;
  /** How the bundle is imported: the server uses its sandbox; the CLI on a person's own files a Worker. */
  importBundle?: BundleImporter;
}

export async function compilePipelineFile(file: string, options: CompileOptions): Promise<CompileResult> {
  const { bundlesDir, policy = DEFAULT_CONTAINER_POLICY, buildBundle: build = buildBundle, importBundle = importInWorker } = options;
  const built = await build(file);
  if (!built.ok) return built;
  const code = built.code;
  const inputs = built.sources.filter((source) => source !== resolve(file) && !source.includes("/node_modules/"));
  const hash = new Bun.CryptoHasher("sha256").update(code).digest("hex");
  mkdirSync(bundlesDir, { recursive: true });
  const bundlePath = join(bundlesDir, `${hash}.js`);
  if (!existsSync(bundlePath)) {
    // Write then rename: a reader never sees half a bundle.
    const partial = `${bundlePath}.${process.pid}.tmp`;
    writeFileSync(partial, code);
    // Readable by the sandbox user that imports and runs it (the folder lets it pass, not list).
    chmodSync(partial, 0o644);
    renameSync(partial, bundlePath);
  }
  const result = await importBundle(bundlePath);
  if (!result.ok) return result;
  const policyIssues = checkContainerPolicy(result.spec, policy);
  if (policyIssues.length > 0) return { ok: false, issues: policyIssues, id: result.spec.id };
  return { ok: true, spec: result.spec, hash, bundlePath, inputs };
}

export function importInWorker(bundlePath: string): Promise<SpecResult> {
  return new Promise((resolve) => {
    const worker = new Worker(IMPORT_WORKER);
    const finish = (result: SpecResult) => {
      clearTimeout(timer);
      worker.terminate();
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ ok: false, issues: [{ path: "", message: `loading the file took longer than ${IMPORT_TIMEOUT_MS / 1000}s` }] }),
      IMPORT_TIMEOUT_MS,
    );
    worker.onmessage = (event: MessageEvent<SpecResult>) => finish(event.data);
    worker.onerror = (event) => finish({ ok: false, issues: [{ path: "", message: `the file crashed while loading: ${event.message}` }] });
    worker.postMessage({ bundlePath });
  });
}
