// Temporary folders for tests, removed after the last test (test/setup.ts) or at process exit.
import { chmodSync, existsSync, mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const made: string[] = [];

/** Removes every folder tempDir made so far. bun test runs no exit listeners: its preload calls this after the last test. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", removeTempDirs);

export function tempDir(prefix = "gantry-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Readable as a pipelines folder is: the sandbox user bundles the files in it.
  chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

/**
 * Where tests and run() tasks meet: test servers bind it into every sandbox read-write
 * (GANTRY_RUN_SANDBOX_PATHS), since a task sees nothing else of the host's /tmp.
 */
export const SHARED_ROOT = tempDir("gantry-shared-");
chmodSync(SHARED_ROOT, 0o755);

/**
 * SHARED_ROOT, made again when the folders went after a pass while the same process goes on
 * (`bun test --rerun-each` runs the preload's afterAll after each pass): a server binds it.
 */
export function sharedRoot(): string {
  if (!existsSync(SHARED_ROOT)) {
    mkdirSync(SHARED_ROOT, { recursive: true });
    chmodSync(SHARED_ROOT, 0o755);
    made.push(SHARED_ROOT);
  }
  return SHARED_ROOT;
}

/** A folder tasks in the sandbox can read and write, e.g. for flags a test sets. */
export function sharedDir(prefix = "gantry-flags-"): string {
  const dir = mkdtempSync(join(sharedRoot(), prefix));
  // The sandbox user writes marks here too.
  chmodSync(dir, 0o777);
  return dir;
}

/** Writes a file, creating its folders. */
export function writeFile(path: string, content: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

export const REPO_ROOT = join(import.meta.dir, "..", "..");
