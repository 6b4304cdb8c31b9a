// Writes a backup while the server runs: a consistent snapshot of the database (VACUUM INTO),
// then the logs, objects and bundles it refers to, as one gzip'd tar streamed to the caller.
// The secret key is never in it; symlinks in the data dir are skipped, never followed.
import type { Client } from "@libsql/client";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { snapshotDatabase } from "../db/repos/backup.ts";
import {
  BACKUP_FOLDERS,
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  CHECKSUMS_ENTRY,
  DATABASE_ENTRY,
  isPartialFile,
  MANIFEST_ENTRY,
  SECRET_KEY_NOTE,
  type BackupManifest,
} from "../domain/backup-format.ts";
import { ConflictError } from "../domain/errors.ts";
import { GANTRY_VERSION } from "../version.ts";
import { OutsideRootError, openContained, type ContainedFile } from "./contained-path.ts";
import { TAR_END, tarHeader, tarPadding } from "./tar.ts";

export interface BackupOptions {
  dataDir: string;
  /** GANTRY_DB_URL: only an embedded database (file:) can be snapshot here. */
  dbUrl: string;
  /** The live database connection; the snapshot is taken through it. */
  client: Client;
  secretKey: BackupManifest["secretKey"];
  now: Date;
  /** Told of files left out (symlinks, files that vanished); defaults to console.warn. */
  warn?: (message: string) => void;
}

export interface Backup {
  /** A name for the download: gantry-backup-<time>.tar.gz. */
  filename: string;
  /** The gzip'd tar; cancelling it closes every file and removes the snapshot. */
  stream: ReadableStream<Uint8Array>;
}

/** Where snapshots wait to be streamed: inside the data dir (0700), which no backup reads. */
const WORK_FOLDER = ".backup";
/** A snapshot older than this was left by a crash (a stream holds its own open copy). */
const STALE_MS = 24 * 3_600_000;
const READ_CHUNK = 1 << 20;

/** Relative paths of the regular files under `folder`, partial files and symlinks left out. */
function listFiles(dataDir: string, folder: string, warn: (message: string) => void): string[] {
  const files: string[] = [];
  const walk = (relative: string) => {
    let entries;
    try {
      entries = readdirSync(join(dataDir, relative), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (isPartialFile(entry.name)) continue;
      const path = `${relative}/${entry.name}`;
      if (entry.isSymbolicLink()) warn(`backup: left out ${path}: a symlink (never followed)`);
      else if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
      else warn(`backup: left out ${path}: not a regular file`);
    }
  };
  walk(folder);
  return files;
}

/** Exactly `size` bytes of an opened file (zeros if it shrank meanwhile, so the tar stays whole). */
async function* fileBytes(file: ContainedFile, size: number): AsyncGenerator<Uint8Array> {
  let position = 0;
  while (position < size) {
    const buffer = new Uint8Array(Math.min(READ_CHUNK, size - position));
    const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) {
      yield buffer;
      position += buffer.length;
      continue;
    }
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Pulls the generator as the reader asks (backpressure); `cleanup` runs however the stream ends. */
function toStream(chunks: AsyncGenerator<Uint8Array>, cleanup: () => Promise<void>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await chunks.next();
        if (next.done) {
          await cleanup();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (error) {
        console.error("backup: failed while streaming:", error);
        await cleanup().catch(() => undefined);
        controller.error(error);
      }
    },
    async cancel() {
      // A generator not started yet skips its finally blocks: the cleanup does not rely on them.
      await chunks.return(undefined);
      await cleanup();
    },
  });
}

/**
 * Takes the database snapshot now (so a failure is a plain error, before any byte is sent) and
 * returns the archive as a stream: manifest, database, the folders' files, checksums.
 */
export async function createBackup(options: BackupOptions): Promise<Backup> {
  const { dataDir, now } = options;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  if (!options.dbUrl.startsWith("file:")) {
    throw new ConflictError("backups need the embedded database (GANTRY_DB_URL file:...); back up a libSQL server with its own tools");
  }
  const work = join(dataDir, WORK_FOLDER);
  mkdirSync(work, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(work)) {
    const path = join(work, name);
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats && now.getTime() - stats.mtimeMs > STALE_MS) rmSync(path, { force: true, recursive: true });
  }
  const snapshotPath = join(work, `${crypto.randomUUID()}.db`);
  let snapshot: ContainedFile;
  try {
    await snapshotDatabase(options.client, snapshotPath);
    const handle = await open(snapshotPath, "r");
    const stats = await handle.stat();
    snapshot = { handle, size: stats.size, stats };
  } finally {
    // Open or not, the name goes now: the stream reads the open file, and a crash leaves nothing.
    rmSync(snapshotPath, { force: true });
  }

  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    version: BACKUP_FORMAT_VERSION,
    gantryVersion: GANTRY_VERSION,
    createdAt: now.toISOString(),
    dataDir,
    database: DATABASE_ENTRY,
    folders: [...BACKUP_FOLDERS],
    secretKey: options.secretKey,
    note: SECRET_KEY_NOTE,
  };

  async function* archive(): AsyncGenerator<Uint8Array> {
    const sums: string[] = [];
    async function* entry(path: string, size: number, mtime: Date, body: AsyncIterable<Uint8Array>, mode = 0o600): AsyncGenerator<Uint8Array> {
      const hasher = new Bun.CryptoHasher("sha256");
      yield tarHeader({ path, type: "file", size, mode, mtime });
      for await (const chunk of body) {
        hasher.update(chunk);
        yield chunk;
      }
      yield tarPadding(size);
      sums.push(`${hasher.digest("hex")}  ${path}\n`);
    }
    async function* bytes(data: Uint8Array) {
      yield data;
    }
    const text = (value: string) => new TextEncoder().encode(value);

    const manifestBytes = text(`${JSON.stringify(manifest, null, 2)}\n`);
    yield* entry(MANIFEST_ENTRY, manifestBytes.length, now, bytes(manifestBytes));
    yield* entry(DATABASE_ENTRY, snapshot.size, now, fileBytes(snapshot, snapshot.size));
    await closeSnapshot();
    // After the snapshot: every file it refers to was written before it, so it is here
    // (unless deleted since); files newer than the snapshot are harmless extras.
    for (const folder of BACKUP_FOLDERS) {
      for (const path of listFiles(dataDir, folder, warn)) {
        let file: ContainedFile | undefined;
        try {
          // Each folder is its own root, as for its store: it may itself be a link (to another
          // disk); nothing below it may.
          file = await openContained(join(dataDir, folder), join(dataDir, path));
        } catch (error) {
          if (!(error instanceof OutsideRootError)) throw error;
          warn(`backup: left out ${path}: ${error.message}`);
          continue;
        }
        // Removed since it was listed (an expired object, a pruned bundle).
        if (!file) continue;
        try {
          // Modes are kept: bundles are readable by the sandbox user, logs and objects private.
          yield* entry(path, file.size, file.stats.mtime, fileBytes(file, file.size), file.stats.mode & 0o777);
        } finally {
          await file.handle.close();
        }
      }
    }
    const checksums = text(sums.join(""));
    yield* entry(CHECKSUMS_ENTRY, checksums.length, now, bytes(checksums));
    yield TAR_END;
  }

  let snapshotOpen = true;
  const closeSnapshot = async () => {
    if (!snapshotOpen) return;
    snapshotOpen = false;
    await snapshot.handle.close();
  };
  const stamp = now.toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
  return {
    filename: `gantry-backup-${stamp}.tar.gz`,
    // The DOM typings give CompressionStream a BufferSource input; Uint8Array chunks are what it takes.
    stream: toStream(archive(), closeSnapshot).pipeThrough(new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>),
  };
}
