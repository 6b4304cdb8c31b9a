// The object store: raw bytes kept per pipeline (at most `pipelineLimit`, the least recently
// written evicted) and per run (expired once `runExpiry` later runs of the pipeline exist).
// Rows hold the metadata; the bytes are files under `dir`, named by a hash of the key, so
// no key can name a path outside that folder, and no symlink planted there is followed out of it.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Db } from "../db/client.ts";
import { deleteObject, expireRunObjects, getObject, listObjects, putObject, type ObjectPlace, type ObjectRow } from "../db/repos/objects.ts";
import { requirePipeline } from "../db/repos/pipelines.ts";
import { runExists } from "../db/repos/runs.ts";
import { ConflictError, NotFoundError, TooLargeError, ValidationError } from "../domain/errors.ts";
import { ID_PATTERN } from "../domain/ids.ts";
import { objectKeyProblem } from "../domain/object-keys.ts";
import type { PipelineKey } from "../domain/pipeline-key.ts";
import type { RunKey } from "../domain/run-key.ts";
import { assertContained, makeContainedFolder, openContained } from "./contained-path.ts";
import { sweepStaleTemp } from "./stale-temp.ts";

export type ObjectScope = { kind: "pipeline"; pipeline: PipelineKey } | { kind: "run"; run: RunKey };

export interface ObjectInfo {
  key: string;
  size: number;
  sha256: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface ObjectStore {
  /** Stores the bytes of `body` under `key`, refusing more than `maxBytes` (TooLargeError, nothing kept). */
  put(scope: ObjectScope, key: string, body: ReadableStream<Uint8Array> | Uint8Array | null): Promise<{ object: ObjectInfo; created: boolean }>;
  /** The object and its bytes, or undefined. */
  get(scope: ObjectScope, key: string): Promise<{ object: ObjectInfo; body: Bun.BunFile } | undefined>;
  list(scope: ObjectScope): Promise<ObjectInfo[]>;
  delete(scope: ObjectScope, key: string): Promise<boolean>;
  /** Removes the objects of runs that have `runExpiry` later runs (of one pipeline, or all); returns how many runs lost theirs. */
  expireRuns(pipeline?: PipelineKey): Promise<number>;
  readonly maxBytes: number;
}

export interface ObjectStoreOptions {
  db: Db;
  /** Where the bytes live, e.g. <data>/objects. */
  dir: string;
  maxBytes: number;
  /** Objects a pipeline keeps before the least recently written is evicted. */
  pipelineLimit: number;
  /** A run's objects expire once this many later runs of its pipeline exist. */
  runExpiry: number;
  now?: () => Date;
}

/** Throws ValidationError naming the rule a key breaks. */
function checkObjectKey(key: string): void {
  const problem = objectKeyProblem(key);
  if (problem) throw new ValidationError(`object key ${JSON.stringify(key)} ${problem}`);
}

const info = (row: ObjectRow): ObjectInfo => ({
  key: row.key,
  size: row.size,
  sha256: row.sha256,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

const sha256Hex = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");

export function createObjectStore(options: ObjectStoreOptions): ObjectStore {
  const { db, dir, maxBytes, runExpiry } = options;
  const now = options.now ?? (() => new Date());
  const tempDir = join(dir, ".tmp");
  mkdirSync(tempDir, { recursive: true });
  // Uploads a crash cut off.
  sweepStaleTemp(tempDir);

  const placeOf = (scope: ObjectScope): ObjectPlace =>
    scope.kind === "pipeline"
      ? { scope: "pipeline", namespace: scope.pipeline.namespace, pipelineId: scope.pipeline.id, runId: 0 }
      : { scope: "run", namespace: scope.run.namespace, pipelineId: scope.run.id, runId: scope.run.run };

  /** The folder of a place; its parts are checked again here, whatever the caller validated. */
  const folderOf = (place: ObjectPlace): string => {
    if (!ID_PATTERN.test(place.namespace) || !ID_PATTERN.test(place.pipelineId)) {
      throw new ValidationError(`"${place.namespace}/${place.pipelineId}" is not a pipeline`);
    }
    if (place.scope === "pipeline") return join(dir, place.namespace, place.pipelineId, "pipeline");
    if (!Number.isSafeInteger(place.runId) || place.runId < 1) throw new ValidationError(`${place.runId} is not a run number`);
    return join(dir, place.namespace, place.pipelineId, "runs", String(place.runId));
  };
  /** A hash of the key: a fixed-length name of hex digits, which can only ever be a file in the folder. */
  const fileOf = (place: ObjectPlace, key: string) => join(folderOf(place), sha256Hex(key));

  // Writes and deletes of one file happen one at a time, so a row and its file agree.
  const locks = new Map<string, Promise<unknown>>();
  const withLock = async <T>(path: string, body: () => Promise<T>): Promise<T> => {
    const previous = locks.get(path) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(body);
    locks.set(path, current);
    try {
      return await current;
    } finally {
      if (locks.get(path) === current) locks.delete(path);
    }
  };

  const runFolder = (run: { namespace: string; pipelineId: string; runId: number }) =>
    folderOf({ scope: "run", namespace: run.namespace, pipelineId: run.pipelineId, runId: run.runId });

  /** Checks the pipeline (and run) exist; for a run, whether its objects have expired. */
  const resolve = async (scope: ObjectScope): Promise<{ place: ObjectPlace; expired: boolean }> => {
    const place = placeOf(scope);
    folderOf(place);
    const pipeline = await requirePipeline(db, { namespace: place.namespace, id: place.pipelineId });
    if (scope.kind === "pipeline") return { place, expired: false };
    if (!(await runExists(db, scope.run))) throw new NotFoundError(`run ${scope.run.run} of ${place.namespace}/${place.pipelineId} not found`);
    return { place, expired: place.runId + runExpiry <= pipeline.lastRunId };
  };

  const expiredMessage = (place: ObjectPlace) =>
    `the objects of run ${place.runId} of ${place.namespace}/${place.pipelineId} have expired: ${runExpiry} later run${runExpiry === 1 ? "" : "s"} exist (GANTRY_OBJECT_RUN_EXPIRY)`;

  const expireRuns = async (pipeline?: PipelineKey): Promise<number> => {
    const runs = await expireRunObjects(db, runExpiry, pipeline);
    for (const run of runs) {
      const folder = runFolder(run);
      // rm -r removes a symlink itself, never what it points to; a symlinked parent would
      // point the removal elsewhere, so those are refused.
      assertContained(dir, dirname(folder));
      rmSync(folder, { recursive: true, force: true });
    }
    return runs.length;
  };

  /** Streams the body into a temp file with a running count; returns its size and hash. */
  const receive = async (body: ReadableStream<Uint8Array> | Uint8Array | null, temp: string): Promise<{ size: number; sha256: string }> => {
    const hasher = new Bun.CryptoHasher("sha256");
    const sink = Bun.file(temp).writer();
    let size = 0;
    const take = (chunk: Uint8Array) => {
      size += chunk.byteLength;
      if (size > maxBytes) throw new TooLargeError(`the object is larger than the limit of ${maxBytes} bytes (GANTRY_OBJECT_MAX_BYTES)`);
      hasher.update(chunk);
      sink.write(chunk);
    };
    try {
      if (body instanceof Uint8Array) take(body);
      else if (body) {
        const reader = body.getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            take(value);
          }
        } catch (error) {
          // Stop reading at the limit: the rest of the upload is never taken in.
          await reader.cancel().catch(() => undefined);
          throw error;
        }
      }
      await sink.end();
    } catch (error) {
      await Promise.resolve(sink.end()).catch(() => undefined);
      rmSync(temp, { force: true });
      throw error;
    }
    return { size, sha256: hasher.digest("hex") };
  };

  return {
    maxBytes,
    async put(scope, key, body) {
      checkObjectKey(key);
      const { place, expired } = await resolve(scope);
      if (expired) throw new ConflictError(expiredMessage(place));
      const path = fileOf(place, key);
      // A symlink in place of the temp folder would have the upload written out there.
      assertContained(dir, tempDir);
      const temp = join(tempDir, crypto.randomUUID());
      const received = await receive(body, temp);
      const { row, created, evicted } = await withLock(path, async () => {
        try {
          makeContainedFolder(dir, dirname(path));
        } catch (error) {
          rmSync(temp, { force: true });
          throw error;
        }
        // rename replaces a symlink at `path` itself; it never writes through one.
        renameSync(temp, path);
        return putObject(db, place, { key, ...received, now: now() }, place.scope === "pipeline" ? options.pipelineLimit : undefined);
      });
      for (const victim of evicted) {
        const victimPath = fileOf(place, victim.key);
        // Unless it was written again meanwhile, in which case its new file stays.
        await withLock(victimPath, async () => {
          if (!(await getObject(db, place, victim.key))) {
            assertContained(dir, dirname(victimPath));
            rmSync(victimPath, { force: true });
          }
        });
      }
      return { object: info(row), created };
    },
    async get(scope, key) {
      checkObjectKey(key);
      const { place, expired } = await resolve(scope);
      if (expired) throw new NotFoundError(expiredMessage(place));
      const row = await getObject(db, place, key);
      if (!row) return undefined;
      const path = fileOf(place, key);
      // Throws OutsideRootError (a 500, logged) for a symlink or a symlinked folder: never served.
      const file = await openContained(dir, path);
      // Evicted or deleted between the row and the file.
      if (!file) return undefined;
      await file.handle.close();
      // Served by path, checked just now: Bun sends a file by path with its length (a stream
      // would lose Content-Length, and a descriptor handed to Bun is never closed).
      return { object: info(row), body: Bun.file(path) };
    },
    async list(scope) {
      const { place, expired } = await resolve(scope);
      if (expired) return [];
      return (await listObjects(db, place)).map(info);
    },
    async delete(scope, key) {
      checkObjectKey(key);
      const { place, expired } = await resolve(scope);
      if (expired) return false;
      const path = fileOf(place, key);
      return withLock(path, async () => {
        const deleted = await deleteObject(db, place, key);
        // Removing a symlink at `path` is fine; through a symlinked folder it is not.
        assertContained(dir, dirname(path));
        rmSync(path, { force: true });
        return deleted;
      });
    },
    expireRuns,
  };
}
