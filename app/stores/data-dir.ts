// The data dir's permissions: everything the server keeps there is its own (the database
// and keys 0600, log and object folders 0700), except the few folders the sandbox user must pass through to reach what
// it is given (its workspace, its bundle), which it may traverse but not list (0711).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** Files and folders that hold secrets or everything: private whatever made them. */
const PRIVATE_FILES = ["gantry.db", "gantry.db-wal", "gantry.db-shm", "gantry.db-journal", "secret-key", "bootstrap-token", "node-id"];
const PRIVATE_DIRS = ["logs", "objects", "artifacts"];
/** Folders the sandbox passes through to its workspace and bundle. */
const PASSABLE_DIRS = ["workspaces", "bundles", "sources"];

/**
 * Makes the data dir private and tightens what an older version left open, before the
 * database opens: a new database file is made 0600 first, and SQLite gives its -wal and
 * -shm files the database's mode. Logs and objects sit in 0700 folders, so whatever mode
 * their files get, no one else reaches them. `sandboxed`: the data dir and the passable
 * folders let the sandbox user through to what it is given.
 */
export function secureDataDir(dataDir: string, options: { sandboxed: boolean; databaseFile?: string }): void {
  const { sandboxed } = options;
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, sandboxed ? 0o711 : 0o700);
  for (const name of PRIVATE_FILES) {
    const path = join(dataDir, name);
    if (existsSync(path)) chmodSync(path, 0o600);
  }
  if (options.databaseFile && !existsSync(options.databaseFile)) closeSync(openSync(options.databaseFile, "a", 0o600));
  for (const name of PRIVATE_DIRS) {
    const path = join(dataDir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) mkdirSync(path, { mode: 0o700 });
    // Only a folder an older version left open is walked: once it is 0700, what is inside is
    // out of reach whatever its mode, and a start need not read every log file again.
    else if ((stat.mode & 0o077) !== 0) chmodTree(path);
  }
  for (const name of PASSABLE_DIRS) {
    const path = join(dataDir, name);
    mkdirSync(path, { recursive: true });
    chmodSync(path, sandboxed ? 0o711 : 0o700);
  }
}

/** Folders 0700 and files 0600, all the way down (log and object trees of an older version). */
function chmodTree(path: string): void {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isDirectory()) {
    if ((stat.mode & 0o077) !== 0) chmodSync(path, 0o600);
    return;
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(path, 0o700);
  for (const entry of readdirSync(path)) chmodTree(join(path, entry));
}
