// Where the tars of artifacts and caches are kept: one interface, two backends — the data dir
// (default, <data>/artifacts, private to the server) and an S3-compatible bucket
// (GANTRY_ARTIFACTS_URL=s3://bucket/prefix). Rows in the database say what a blob is and its
// sha256; the store only keeps bytes under keys. Temp files (packing, verified downloads) are
// always local, in <data>/artifacts/.tmp.
import { chmodSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { open, rm, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Config } from "../config.ts";
import { assertContained, makeContainedFolder, openContained } from "./contained-path.ts";
import { createS3ArtifactStore } from "./artifact-store-s3.ts";
import { sweepStaleTemp } from "./stale-temp.ts";

/** A key is not a key of this store, or the backend failed (with the backend's words, never a credential). */
export class ArtifactStoreError extends Error {
  override name = "ArtifactStoreError";
}

export interface BlobInfo {
  key: string;
  size: number;
  modifiedAt: Date;
}

export interface ArtifactStore {
  /** Where the blobs are, for messages: a folder or s3://bucket/prefix (never a credential). */
  readonly location: string;
  /** A new path for a local temp file (the caller removes it). */
  tempFile(suffix?: string): string;
  /** Stores a local file under `key` (replacing a blob there); the file is consumed. */
  put(key: string, file: string): Promise<void>;
  /** Copies the blob at `key` into the local file `toFile`, hashing it; undefined when there is no blob. */
  download(key: string, toFile: string): Promise<{ size: number; sha256: string } | undefined>;
  /** Removes the blob (nothing when there is none). */
  delete(key: string): Promise<void>;
  /** Blobs whose key starts with `prefix`: for sweeping the ones no row refers to. */
  list(prefix: string): AsyncGenerator<BlobInfo>;
}

/** Keys are made by the server: parts of [A-Za-z0-9._-], never "." or "..". */
const KEY_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export function checkBlobKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.split("/").some((part) => part === "." || part === "..")) throw new ArtifactStoreError(`${JSON.stringify(key)} is not a blob key`);
}

/**
 * Keys this process is storing right now ("storing") or stored lately (when it finished). A
 * blob is stored before its row is written, and a bucket dates a multipart upload from its
 * start, so a blob just stored may look old and no one's to the sweep: it leaves these alone.
 */
const puts = new Map<string, number | "storing">();
/** How long a finished put is remembered: longer than any sweep's grace period. */
const PUT_MEMORY_MS = 24 * 3_600_000;

/** Marks `key` as being stored until the returned function is called (then as stored now). */
export function notePut(key: string): () => void {
  puts.set(key, "storing");
  return () => {
    const now = Date.now();
    puts.delete(key);
    puts.set(key, now);
    // Finished puts are in the order they finished: the old ones are at the front.
    for (const [other, at] of puts) {
      if (at === "storing") continue;
      if (at > now - PUT_MEMORY_MS) break;
      puts.delete(other);
    }
  };
}

/** Whether this process is storing `key`, or finished storing it after `since` (ms). */
export function putSince(key: string, since: number): boolean {
  const at = puts.get(key);
  return at === "storing" || (at !== undefined && at > since);
}

/** Streams `source` into a new local file, hashing it. */
export async function copyToFile(source: AsyncIterable<Uint8Array>, toFile: string): Promise<{ size: number; sha256: string }> {
  const hasher = new Bun.CryptoHasher("sha256");
  const handle = await open(toFile, "wx", 0o600);
  let size = 0;
  try {
    for await (const chunk of source) {
      hasher.update(chunk);
      size += chunk.length;
      let written = 0;
      while (written < chunk.length) written += (await handle.write(chunk, written, chunk.length - written)).bytesWritten;
    }
  } catch (error) {
    await handle.close();
    await rm(toFile, { force: true });
    throw error;
  }
  await handle.close();
  return { size, sha256: hasher.digest("hex") };
}

/** The bytes of an open file, in chunks of up to 1 MiB. */
async function* chunksOf(handle: FileHandle): AsyncGenerator<Uint8Array> {
  for (;;) {
    const buffer = new Uint8Array(1 << 20);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * The private temp folder of the store (0700, like the rest of <data>/artifacts). Files a
 * crash left are removed; fresh ones stay, since another store on the same data dir (a CLI
 * command, a second server) may be writing them.
 */
export function prepareTempDir(dataDir: string): string {
  const root = join(dataDir, "artifacts");
  mkdirSync(root, { recursive: true, mode: 0o700 });
  chmodSync(root, 0o700);
  const temp = join(root, ".tmp");
  assertContained(root, temp);
  mkdirSync(temp, { recursive: true, mode: 0o700 });
  sweepStaleTemp(temp);
  return temp;
}

/** The data-dir backend: blobs are files under `dir` (0700), put in place by rename, read without following links. */
export function createDataDirArtifactStore(dataDir: string): ArtifactStore {
  const tempDir = prepareTempDir(dataDir);
  const dir = join(dataDir, "artifacts");
  const pathOf = (key: string) => {
    checkBlobKey(key);
    return join(dir, key);
  };
  async function* walk(folder: string, prefix: string): AsyncGenerator<BlobInfo> {
    let names: string[];
    try {
      names = readdirSync(folder).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (folder === dir && name === ".tmp") continue;
      const path = join(folder, name);
      const stats = lstatSync(path, { throwIfNoEntry: false });
      const key = prefix ? `${prefix}/${name}` : name;
      if (!stats || stats.isSymbolicLink()) continue;
      if (stats.isDirectory()) yield* walk(path, key);
      else if (stats.isFile()) yield { key, size: stats.size, modifiedAt: stats.mtime };
    }
  }
  return {
    location: dir,
    tempFile: (suffix = ".tar") => join(tempDir, `${crypto.randomUUID()}${suffix}`),
    async put(key, file) {
      const path = pathOf(key);
      const stored = notePut(key);
      try {
        makeContainedFolder(dir, dirname(path));
        // rename replaces a link at `path` itself; it never writes through one.
        renameSync(file, path);
      } finally {
        stored();
      }
    },
    async download(key, toFile) {
      const found = await openContained(dir, pathOf(key));
      if (!found) return undefined;
      try {
        return await copyToFile(chunksOf(found.handle), toFile);
      } finally {
        await found.handle.close();
      }
    },
    async delete(key) {
      const path = pathOf(key);
      // Removing a link at `path` is fine; through a linked folder it is not.
      assertContained(dir, dirname(path));
      rmSync(path, { force: true });
    },
    async *list(prefix) {
      const clean = prefix.replace(/\/+$/, "");
      if (clean) checkBlobKey(clean);
      const start = clean ? join(dir, clean) : dir;
      if (clean) assertContained(dir, start);
      yield* walk(start, clean);
    },
  };
}

export type ArtifactStoreSettings = Pick<
  Config,
  "dataDir" | "artifactsUrl" | "artifactsS3Endpoint" | "artifactsS3Region" | "artifactsS3AccessKeyId" | "artifactsS3SecretAccessKey"
>;

/** The store the settings name: a bucket when GANTRY_ARTIFACTS_URL is set, else the data dir. */
export function createArtifactStore(settings: ArtifactStoreSettings): ArtifactStore {
  if (!settings.artifactsUrl) return createDataDirArtifactStore(settings.dataDir);
  const url = new URL(settings.artifactsUrl);
  return createS3ArtifactStore({
    bucket: url.hostname,
    prefix: url.pathname.replace(/^\/+|\/+$/g, ""),
    tempDir: prepareTempDir(settings.dataDir),
    ...(settings.artifactsS3Endpoint !== undefined && { endpoint: settings.artifactsS3Endpoint }),
    ...(settings.artifactsS3Region !== undefined && { region: settings.artifactsS3Region }),
    ...(settings.artifactsS3AccessKeyId !== undefined && { accessKeyId: settings.artifactsS3AccessKeyId }),
    ...(settings.artifactsS3SecretAccessKey !== undefined && { secretAccessKey: settings.artifactsS3SecretAccessKey }),
  });
}
