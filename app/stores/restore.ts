// Reads a backup archive back: checks it whole (gzip, tar headers, the manifest, a sha256 per
// file, the database) and restores it into an empty data dir — through a staging folder beside
// it, so a damaged archive leaves the target exactly as it was.
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, copyFileSync, unlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import * as v from "valibot";
import { openDatabase } from "../db/client.ts";
import { checkDatabase, relocateBundlePaths } from "../db/repos/backup.ts";
import {
  backupEntryProblem,
  backupManifestSchema,
  CHECKSUMS_ENTRY,
  DATABASE_ENTRY,
  MANIFEST_ENTRY,
  parseChecksums,
  type BackupManifest,
} from "../domain/backup-format.ts";
import { TarError, readTar } from "./tar.ts";

/** A backup that cannot be read or restored; the message says why and what to do. */
export class BackupError extends Error {
  override name = "BackupError";
}

export interface BackupSummary {
  manifest: BackupManifest;
  databaseBytes: number;
  /** Files per folder (logs, objects, bundles). */
  files: Record<string, number>;
  /** Bytes of every file, the database included. */
  bytes: number;
}

/** The manifest and checksum list are read into memory; nothing that large is ever written. */
const MAX_TEXT_ENTRY = 256 * 1024 * 1024;

/** The archive's bytes, gunzipped; a gzip error becomes a TarError (a damaged archive). */
async function* gunzip(file: string): AsyncGenerator<Uint8Array> {
  const stream = Bun.file(file).stream().pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
  const reader = stream.getReader();
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (error) {
        throw new TarError(`it is not a whole gzip file (${(error as Error).message})`);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

async function readText(chunks: AsyncIterable<Uint8Array>, path: string): Promise<{ text: string; sha256: string; size: number }> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (size > MAX_TEXT_ENTRY) throw new BackupError(`${path} in the archive is implausibly large (over ${MAX_TEXT_ENTRY} bytes)`);
    parts.push(chunk.slice());
  }
  const bytes = Buffer.concat(parts);
  return { text: bytes.toString("utf8"), sha256: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"), size };
}

/**
 * Reads the whole archive and checks it; with `into`, writes each file there (folders 0700,
 * files with their recorded mode, never writable by others). Throws BackupError naming what is wrong.
 */
async function readBackup(file: string, into?: string): Promise<BackupSummary> {
  if (!existsSync(file)) throw new BackupError(`${file} does not exist`);
  if (!statSync(file).isFile()) throw new BackupError(`${file} is not a file`);
  let manifest: BackupManifest | undefined;
  let checksums: Map<string, string> | undefined;
  const seen = new Map<string, string>();
  const files: Record<string, number> = {};
  let bytes = 0;
  let databaseBytes = 0;
  try {
    for await (const entry of readTar(gunzip(file))) {
      if (checksums) throw new BackupError(`${entry.path} comes after ${CHECKSUMS_ENTRY}, which ends a backup`);
      if (!manifest && entry.path !== MANIFEST_ENTRY) throw new BackupError(`it is not a Gantry backup: it does not begin with ${MANIFEST_ENTRY}`);
      const problem = backupEntryProblem(entry.path);
      if (problem) throw new BackupError(`it holds "${entry.path}", which ${problem}`);
      if (entry.type === "directory") {
        if (into) mkdirSync(join(into, entry.path), { recursive: true, mode: 0o700 });
        continue;
      }
      if (seen.has(entry.path)) throw new BackupError(`it holds ${entry.path} twice`);
      if (entry.path === MANIFEST_ENTRY) {
        const { text, sha256 } = await readText(entry.read(), entry.path);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new BackupError(`its ${MANIFEST_ENTRY} is not JSON`);
        }
        const checked = v.safeParse(backupManifestSchema, json);
        if (!checked.success) {
          const issue = checked.issues[0];
          throw new BackupError(`its ${MANIFEST_ENTRY}: ${v.getDotPath(issue) ?? "manifest"} ${issue.message}`);
        }
        manifest = checked.output;
        // Checked, not restored: the data dir holds only what the server itself writes.
        seen.set(entry.path, sha256);
        continue;
      }
      if (entry.path === CHECKSUMS_ENTRY) {
        const parsed = parseChecksums((await readText(entry.read(), entry.path)).text);
        if ("problem" in parsed) throw new BackupError(`its ${CHECKSUMS_ENTRY}: ${parsed.problem}`);
        checksums = parsed.sums;
        continue;
      }
      const hasher = new Bun.CryptoHasher("sha256");
      const target = into ? join(into, entry.path) : undefined;
      if (target) mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      // "wx": a path is written once; nothing in a fresh staging folder is there to be followed.
      const handle = target ? await open(target, "wx", 0o600) : undefined;
      try {
        // The recorded mode (bundles 0644 for the sandbox user, the rest 0600), at most 0755 and always the owner's.
        await handle?.chmod((entry.mode & 0o755) | 0o600);
        for await (const chunk of entry.read()) {
          hasher.update(chunk);
          if (handle) await handle.write(chunk);
        }
      } finally {
        await handle?.close();
      }
      seen.set(entry.path, hasher.digest("hex"));
      bytes += entry.size;
      if (entry.path === DATABASE_ENTRY) databaseBytes = entry.size;
      else {
        const folder = entry.path.split("/")[0]!;
        files[folder] = (files[folder] ?? 0) + 1;
      }
    }
  } catch (error) {
    if (error instanceof TarError) throw new BackupError(`it is damaged: ${error.message}`);
    throw error;
  }
  if (!manifest) throw new BackupError("it is empty: not a Gantry backup");
  if (!checksums) throw new BackupError(`${CHECKSUMS_ENTRY} is missing: the archive was cut short`);
  for (const [path, sum] of checksums) {
    const got = seen.get(path);
    if (got === undefined) throw new BackupError(`${path} is listed in ${CHECKSUMS_ENTRY} but missing from the archive`);
    if (got !== sum) throw new BackupError(`${path} is damaged: its sha256 is not the one recorded`);
  }
  for (const path of seen.keys()) {
    if (!checksums.has(path)) throw new BackupError(`${path} is not listed in ${CHECKSUMS_ENTRY}`);
  }
  if (!seen.has(DATABASE_ENTRY)) throw new BackupError(`it holds no ${DATABASE_ENTRY}`);
  return { manifest, databaseBytes, files, bytes };
}

/** Checks a backup through and through without writing anything. */
export async function verifyBackup(file: string): Promise<BackupSummary> {
  try {
    return await readBackup(file);
  } catch (error) {
    if (error instanceof BackupError) throw new BackupError(`${file}: ${error.message}`);
    throw error;
  }
}

export interface RestoreOptions {
  /** The archive written by `gantry backup`. */
  file: string;
  /** The data dir to fill: it must be empty or not exist yet. */
  dataDir: string;
  /** Where the database goes (GANTRY_DB_URL's file); <dataDir>/gantry.db by default. */
  dbPath: string;
}

export interface RestoreResult extends BackupSummary {
  /** Pipeline versions whose bundle path was moved to the new data dir. */
  bundlesRelocated: number;
}

function refuseOccupied(dataDir: string, dbPath: string): void {
  if (existsSync(dataDir)) {
    if (!statSync(dataDir).isDirectory()) throw new BackupError(`${dataDir} exists and is not a folder`);
    const entries = readdirSync(dataDir);
    if (entries.length > 0) {
      const shown = entries.slice(0, 3).join(", ") + (entries.length > 3 ? ", ..." : "");
      throw new BackupError(
        `refusing to restore into ${dataDir}: it is not empty (${shown}). Restore into a new or empty folder (--data-dir), or move this one away first; nothing was changed`,
      );
    }
  }
  if (dbPath !== join(dataDir, DATABASE_ENTRY) && existsSync(dbPath)) {
    throw new BackupError(`refusing to restore: the database file ${dbPath} (GANTRY_DB_URL) already exists; nothing was changed`);
  }
}

/** Moves a file, across filesystems too. */
function moveFile(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    copyFileSync(from, to);
    unlinkSync(from);
  }
}

/**
 * Restores a backup into an empty (or new) data dir. Everything is read, checked and written
 * into a staging folder beside the target first; only a backup found whole is moved into place.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const { file, dataDir, dbPath } = options;
  refuseOccupied(dataDir, dbPath);
  if (!existsSync(file)) throw new BackupError(`${file} does not exist`);
  const parent = dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  // Beside the target, so moving it into place is a rename on the same filesystem.
  const staging = join(parent, `.${basename(dataDir)}.restoring-${crypto.randomUUID().slice(0, 8)}`);
  mkdirSync(staging, { mode: 0o700 });
  try {
    let summary: BackupSummary;
    try {
      summary = await readBackup(file, staging);
    } catch (error) {
      if (error instanceof BackupError) throw new BackupError(`${file}: ${error.message}; nothing was restored`);
      throw error;
    }
    const database = await openDatabase(`file:${join(staging, DATABASE_ENTRY)}`);
    let bundlesRelocated: number;
    try {
      const check = await checkDatabase(database.client);
      if (check !== "ok") throw new BackupError(`${file}: its database fails SQLite's check (${check}); nothing was restored`);
      // Runs of a stored version execute its bundle by path: point those at the new data dir.
      bundlesRelocated = await relocateBundlePaths(database.db, join(summary.manifest.dataDir, "bundles"), join(dataDir, "bundles"));
    } finally {
      database.close();
    }
    // Checked while the staging folder was filled; checked again: someone may have started a server meanwhile.
    refuseOccupied(dataDir, dbPath);
    if (existsSync(dataDir)) {
      for (const name of readdirSync(staging)) renameSync(join(staging, name), join(dataDir, name));
      rmdirSync(staging);
    } else {
      renameSync(staging, dataDir);
    }
    const restoredDb = join(dataDir, DATABASE_ENTRY);
    if (dbPath !== restoredDb) {
      moveFile(restoredDb, dbPath);
      for (const suffix of ["-wal", "-shm"]) if (existsSync(restoredDb + suffix)) moveFile(restoredDb + suffix, dbPath + suffix);
    }
    return { ...summary, bundlesRelocated };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
