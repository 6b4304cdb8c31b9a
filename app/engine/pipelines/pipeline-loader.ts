// Keeps the database in step with the pipelines folder: loads each file into a version,
// records load errors without replacing the last good version, and watches for edits.
import { existsSync, readdirSync, readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { basename, join, relative, sep } from "node:path";
import type { Db } from "../../db/client.ts";
import { findPipelinesByFile, getPipeline, listLocalPipelineFiles, markPipelineDeleted } from "../../db/repos/pipelines.ts";
import { ID_PATTERN } from "../../domain/ids.ts";
import type { SpecIssue } from "../../domain/pipeline-spec.ts";
import { compilePipelineFile, type CompileResult } from "./pipeline-compiler.ts";
import type { BundleImporter } from "./sandboxed-import.ts";
import type { PipelineBuilder } from "./bundle-build.ts";
import { ownershipProblem, recordPipelineEvent, registerLoadFailure, registerVersion, versionFiles } from "./register-version.ts";
import type { ContainerPolicy } from "../../domain/container-policy.ts";
import type { EventBus } from "../event-bus.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";

export const DEFAULT_NAMESPACE = "default";

export interface PipelineLoaderOptions {
  db: Db;
  bus: EventBus;
  dir: string;
  bundlesDir: string;
  /** What container tasks may ask for; nothing beyond Docker's defaults when absent. */
  containerPolicy?: ContainerPolicy;
  /** Imports a bundle to read its spec (the server's sandbox); a Worker when absent. */
  importBundle?: BundleImporter;
  /** Bundles a file (the server's sandbox); in-process when absent. */
  buildBundle?: PipelineBuilder;
  now?: () => Date;
}

export interface LoadOutcome {
  file: string;
  key?: PipelineKey;
  version?: number;
  issues?: SpecIssue[];
}

export interface PipelineLoader {
  /** Loads every new or changed file and retires pipelines whose file is gone. */
  scan(): Promise<LoadOutcome[]>;
  /** Watches the folder and scans on every change until closed. */
  watch(): void;
  /** Stops watching; resolves once a scan under way has ended (before the database closes). */
  close(): Promise<void>;
}

/** A pipeline file's name: a script, not a helper (`_`), hidden, declaration or test file. */
export function isPipelineFile(name: string): boolean {
  return /\.(ts|js|mts|mjs)$/.test(name) && !name.startsWith("_") && !name.startsWith(".") && !/\.(d|test|spec)\.[mc]?[tj]s$/.test(name);
}

/** Pipeline files sit in the folder or one subfolder deep (the namespace); deeper files and `_`-prefixed ones are helpers. */
export function listPipelineFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && isPipelineFile(entry.name)) files.push(join(dir, entry.name));
    if (entry.isDirectory() && !entry.name.startsWith("_") && !entry.name.startsWith(".") && entry.name !== "node_modules") {
      for (const inner of readdirSync(join(dir, entry.name), { withFileTypes: true })) {
        if (inner.isFile() && isPipelineFile(inner.name)) files.push(join(dir, entry.name, inner.name));
      }
    }
  }
  return files.sort();
}

/** Source files in the folder that are not pipeline files: helpers pipeline files may import. */
function listHelperFiles(dir: string, pipelineFiles: Set<string>): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && /\.[mc]?[tj]sx?$/.test(entry.name) && !pipelineFiles.has(path)) found.push(path);
    }
  };
  walk(dir);
  return found.sort();
}

/** The namespace of a file: its subfolder, or "default" at the top. */
export function namespaceOf(dir: string, file: string): string {
  const parts = relative(dir, file).split(sep);
  return parts.length > 1 ? parts[0]! : DEFAULT_NAMESPACE;
}

/**
 * A file changed this recently may change again within its filesystem's timestamp granularity
 * (up to 2 s on FAT) and keep the same stat, as git's "racy" entries: its hash is not reused.
 */
const RACY_NS = 2_000_000_000n;

export function createPipelineLoader(options: PipelineLoaderOptions): PipelineLoader {
  const { db, bus, dir, bundlesDir } = options;
  const now = options.now ?? (() => new Date());
  /** What each file (and what it imports) looked like when last loaded, to skip unchanged ones. */
  const seen = new Map<string, string>();
  /** The helper files each file's last good bundle was made from: a change to one reloads it. */
  const inputsOf = new Map<string, string[]>();
  /** Content hashes with the stat they were taken at: a rescan reads only files whose stat changed. */
  const hashes = new Map<string, { stamp: string; hash: string }>();
  let watcher: FSWatcher | undefined;
  let rescanTimer: ReturnType<typeof setInterval> | undefined;
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let scanning: Promise<LoadOutcome[]> | undefined;
  let again = false;

  const context = { db, bus, now };

  const fail = async (file: string, key: PipelineKey, issues: SpecIssue[]): Promise<LoadOutcome> => {
    // A git source's pipeline is never marked with a local file's error: the event log says it.
    const existing = await getPipeline(db, key);
    if (existing?.source != null) {
      await recordPipelineEvent(context, "pipeline.load_failed", key, { file, issues, local: true });
      return { file, key, issues };
    }
    await registerLoadFailure(context, { key, file, source: null, issues, existing });
    return { file, key, issues };
  };

  const loadFile = async (file: string): Promise<LoadOutcome> => {
    const namespace = namespaceOf(dir, file);
    const previous = (await findPipelinesByFile(db, file))[0];
    const fallbackId = basename(file).replace(/\.[^.]+$/, "");
    const blameKey: PipelineKey = previous
      ? { namespace: previous.namespace, id: previous.id }
      : { namespace, id: ID_PATTERN.test(fallbackId) ? fallbackId : fallbackId.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 64) || "invalid" };
    if (!ID_PATTERN.test(namespace)) {
      return fail(file, blameKey, [{ path: "", message: `folder "${namespace}" is not a valid namespace: use 1-64 characters of a-z, 0-9 and -` }]);
    }
    let compiled: CompileResult;
    try {
      compiled = await compilePipelineFile(file, {
        bundlesDir,
        ...(options.containerPolicy && { policy: options.containerPolicy }),
        ...(options.buildBundle && { buildBundle: options.buildBundle }),
        ...(options.importBundle && { importBundle: options.importBundle }),
      });
    } catch (error) {
      // One file that breaks the compiler (whatever it fed it) must not stop the others loading.
      compiled = { ok: false, issues: [{ path: "", message: `the file could not be loaded: ${(error as Error).message}` }] };
    }
    if (compiled.ok) inputsOf.set(file, compiled.inputs);
    else inputsOf.delete(file);
    if (!compiled.ok) return fail(file, compiled.id ? { namespace, id: compiled.id } : blameKey, compiled.issues);

    const key = { namespace, id: compiled.spec.id };
    const owner = await getPipeline(db, key);
    // A local file the owner moved away from no longer defines it; a source's pipeline stays its own while the source has it.
    const taken = ownershipProblem(owner && owner.source === null ? { ...owner, file: relative(dir, owner.file) } : owner, relative(dir, file), null, owner?.source != null || (owner !== undefined && existsSync(owner.file)));
    if (taken) return fail(file, blameKey, [{ path: "id", message: taken }]);
    // The file now defines another id: the old pipeline is gone, and its triggers with it.
    if (previous && previous.id !== key.id && (await markPipelineDeleted(db, { namespace: previous.namespace, id: previous.id }, now()))) {
      bus.publish({ kind: "subscriptions.changed", namespace: previous.namespace, pipeline: previous.id });
    }
    const { version } = await registerVersion(context, { key, file, source: null, compiled, files: versionFiles(dir, file, compiled.inputs) });
    return { file, key, version };
  };

  /**
   * The hash of a file's content ("missing" if it cannot be read), reused while its stat is
   * unchanged: nanosecond mtime and ctime, size and inode, so two quick same-size edits, a
   * file swapped in by rename or one whose mtime a tool put back still read as changed.
   */
  const hashFile = (file: string): string => {
    try {
      // Stat before reading: a write in between leaves a stale stamp, which only means one more read.
      const stat = statSync(file, { bigint: true });
      const stamp = `${stat.mtimeNs}:${stat.ctimeNs}:${stat.size}:${stat.ino}`;
      const known = hashes.get(file);
      if (known?.stamp === stamp) return known.hash;
      const hash = String(Bun.hash(readFileSync(file)));
      // ctime, not mtime: a write or a touch sets it to now, whatever mtime it leaves.
      if (BigInt(Date.now()) * 1_000_000n - stat.ctimeNs > RACY_NS) hashes.set(file, { stamp, hash });
      else hashes.delete(file);
      return hash;
    } catch {
      return "missing";
    }
  };

  const scanOnce = async (): Promise<LoadOutcome[]> => {
    const outcomes: LoadOutcome[] = [];
    const files = listPipelineFiles(dir);
    const present = new Set(files);
    // Each file is hashed at most once a scan, however many pipelines import it.
    const hashedNow = new Map<string, string>();
    const contentOf = (file: string) => {
      let hash = hashedNow.get(file);
      if (hash === undefined) hashedNow.set(file, (hash = hashFile(file)));
      return hash;
    };
    // A file that loaded is fingerprinted with the helpers it bundled; one that did not (a
    // broken helper, say) with every helper in the folder, so fixing the helper reloads it.
    let allHelpers: string | undefined;
    const importsOf = (file: string) => {
      const inputs = inputsOf.get(file);
      if (inputs) return inputs.map(contentOf).join(",");
      allHelpers ??= listHelperFiles(dir, present).map((helper) => `${helper}:${contentOf(helper)}`).join(",");
      return allHelpers;
    };
    for (const file of files) {
      const content = contentOf(file);
      if (content === "missing") continue;
      if (seen.get(file) === `${content}|${importsOf(file)}`) continue;
      outcomes.push(await loadFile(file));
      // A helper hashed before the load keeps that hash: an edit made during the load shows at the next scan.
      seen.set(file, `${content}|${importsOf(file)}`);
    }
    for (const file of [...seen.keys()]) {
      if (!present.has(file)) {
        seen.delete(file);
        inputsOf.delete(file);
      }
    }
    for (const file of [...hashes.keys()]) if (!hashedNow.has(file)) hashes.delete(file);
    for (const pipeline of await listLocalPipelineFiles(db)) {
      if (!present.has(pipeline.file)) {
        if (await markPipelineDeleted(db, pipeline, now())) {
          bus.publish({ kind: "subscriptions.changed", namespace: pipeline.namespace, pipeline: pipeline.id });
        }
        await recordPipelineEvent(context, "pipeline.removed", pipeline, { file: pipeline.file });
      }
    }
    return outcomes;
  };

  // One scan at a time; a change during a scan asks for one more.
  const scan = async (): Promise<LoadOutcome[]> => {
    if (scanning) {
      again = true;
      return scanning;
    }
    scanning = (async () => {
      let outcomes = await scanOnce();
      while (again) {
        again = false;
        outcomes = outcomes.concat(await scanOnce());
      }
      return outcomes;
    })();
    try {
      return await scanning;
    } finally {
      scanning = undefined;
    }
  };

  const scheduleScan = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void scan().catch((error) => console.error("pipeline scan failed:", error)), 75);
  };

  return {
    scan,
    watch() {
      if (existsSync(dir)) {
        try {
          watcher = watch(dir, { recursive: true }, scheduleScan);
        } catch (error) {
          console.error(`cannot watch ${dir}: ${(error as Error).message}; checking every few seconds instead`);
        }
      }
      // Watch events can be missed (editors that swap files, network mounts): rescan now and then.
      rescanTimer = setInterval(scheduleScan, 5_000);
      rescanTimer.unref();
    },
    async close() {
      watcher?.close();
      clearInterval(rescanTimer);
      clearTimeout(debounce);
      again = false;
      await scanning?.catch(() => undefined);
    },
  };
}
