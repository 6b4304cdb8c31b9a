// Caches in a test run, as the server keeps them for a pipeline: a task's key (filled by the
// engine's own template rules, its hashFiles over the run's workspace) is restored before it
// starts, the exact key or else the newest entry of a restore key, and saved after it
// succeeds when it missed. A test run starts with no cache: what one task saves, a later task
// of the same run restores.
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fillKeyTemplate } from "../domain/cache-key.ts";
import type { CacheSpec, CacheResult } from "../domain/task-files.ts";

/** sha256 over the matching files' paths and contents, sorted by path, as the engine hashes them. */
async function hashFiles(workspace: string, globs: string[]): Promise<{ hash: string; files: number }> {
  const paths = new Set<string>();
  for (const glob of globs) for await (const path of new Bun.Glob(glob).scan({ cwd: workspace, onlyFiles: true, followSymlinks: false })) paths.add(path);
  const hasher = new Bun.CryptoHasher("sha256");
  for (const path of [...paths].sort()) {
    const digest = new Bun.CryptoHasher("sha256").update(await Bun.file(join(workspace, path)).bytes()).digest("hex");
    hasher.update(`${path}\0${digest}\n`);
  }
  return { hash: paths.size === 0 ? "" : hasher.digest("hex"), files: paths.size };
}

export interface TestCaches {
  /** Before the task starts: what its key is and whether (and what) it restored; its log lines. */
  restore(spec: CacheSpec, env: Readonly<Record<string, string>>, log: (line: string) => void): Promise<CacheResult>;
  /** After it succeeded: saves its paths under the key when it missed. */
  save(spec: CacheSpec, result: CacheResult, log: (line: string) => void): void;
  close(): void;
}

export function createTestCaches(workspace: string): TestCaches {
  const store = mkdtempSync(join(tmpdir(), "gantry-test-caches-"));
  /** Saved entries, oldest first: a restore key takes the newest with its prefix. */
  const entries: { key: string; dir: string }[] = [];
  const fill = (template: string, env: Readonly<Record<string, string>>) => fillKeyTemplate(template, { env, hashFiles: (globs) => hashFiles(workspace, globs) });
  return {
    async restore(spec, env, log) {
      const filled = await fill(spec.key, env);
      for (const note of filled.notes) log(`cache: ${note}`);
      const { key } = filled;
      if (key === "") {
        log("cache: the key is empty once filled in; nothing is restored or saved");
        return { key, hit: "miss", error: "the key is empty" };
      }
      let entry = entries.find((candidate) => candidate.key === key);
      let hit: CacheResult["hit"] = entry ? "exact" : "miss";
      for (const template of entry ? [] : spec.restoreKeys) {
        const prefix = (await fill(template, env)).key;
        if (prefix === "") continue;
        entry = entries.findLast((candidate) => candidate.key.startsWith(prefix));
        if (entry) {
          hit = "prefix";
          break;
        }
      }
      if (!entry) {
        log(`cache miss: ${key}`);
        return { key, hit: "miss" };
      }
      cpSync(entry.dir, workspace, { recursive: true });
      log(hit === "exact" ? `cache hit: ${key}` : `cache hit: ${key} (restored ${entry.key} by a restore key)`);
      return hit === "exact" ? { key, hit } : { key, hit, restoredKey: entry.key };
    },
    save(spec, result, log) {
      if (result.hit === "exact" || result.key === "" || result.error) return;
      const dir = join(store, String(entries.length));
      mkdirSync(dir, { recursive: true });
      let saved = 0;
      for (const path of spec.paths) {
        const from = join(workspace, path);
        if (!existsSync(from)) {
          log(`cache: ${path} does not exist in the workspace; not saved`);
          continue;
        }
        cpSync(from, join(dir, path), { recursive: true });
        saved++;
      }
      if (saved === 0) {
        log(`cache: nothing to save for ${result.key}`);
        return;
      }
      entries.push({ key: result.key, dir });
      result.saved = true;
      log(`cache saved: ${result.key}`);
    },
    close: () => rmSync(store, { recursive: true, force: true }),
  };
}
