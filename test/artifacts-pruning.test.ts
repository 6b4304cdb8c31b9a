// The sweep of artifact and cache blobs no row refers to, against a real database and the
// data-dir store: a key the server never makes (a blob put in the bucket by hand) is skipped
// and reported, not the end of every sweep; a blob whose row is written while the sweep lists
// is kept (each blob is looked up again just before it goes); a blob this process is still
// storing, or stored within the grace period, is kept whatever date the backend gives it.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, type Database } from "../app/db/client.ts";
import { migrate } from "../app/db/migrate.ts";
import { putCacheEntry } from "../app/db/repos/cache-entries.ts";
import { pruneArtifactBlobs } from "../app/engine/artifact-pruning.ts";
import { createDataDirArtifactStore, notePut, type ArtifactStore } from "../app/stores/artifact-store.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

let database: Database;
beforeAll(async () => {
  database = await openDatabase(":memory:");
  await migrate(database.client);
});
afterAll(() => database?.close());

const HOURS = 3_600_000;
const folder = "caches/default/sweep";

/** A blob in the store's folder, dated `ageMs` ago. */
const blob = (dataDir: string, name: string, ageMs = 2 * HOURS) => {
  const path = writeFile(join(dataDir, "artifacts", folder, name), "a blob");
  const when = new Date(Date.now() - ageMs);
  utimesSync(path, when, when);
  return path;
};

const cacheRow = (key: string, storageKey: string) => ({
  namespace: "default",
  pipelineId: "sweep",
  key,
  size: 6,
  sha256: "0".repeat(64),
  storageKey,
  runId: 1,
  createdAt: new Date(),
  lastUsedAt: new Date(),
});

describe("the artifact sweep", () => {
  it("skips and reports a key the server never makes, and sweeps the rest", async () => {
    const dataDir = tempDir("gantry-data-");
    const store = createDataDirArtifactStore(dataDir);
    const odd = blob(dataDir, "hand put.tar");
    const orphan = blob(dataDir, "orphan.tar");
    const warnings: string[] = [];
    expect(await pruneArtifactBlobs({ db: database.db, store, warn: (line) => warnings.push(line) })).toBe(1);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(odd)).toBe(true);
    expect(warnings).toEqual([`artifact sweep: left ${store.location}/${folder}/hand put.tar alone: "${folder}/hand put.tar" is not a blob key`]);
  });

  it("keeps a blob whose row is written while the sweep lists, and one still being stored", async () => {
    const dataDir = tempDir("gantry-data-");
    const real = createDataDirArtifactStore(dataDir);
    const late = blob(dataDir, "late-row.tar");
    const storing = blob(dataDir, "storing.tar");
    const orphan = blob(dataDir, "orphan.tar");
    // The row of late-row.tar is written after the sweep read the keys in use, as a put that just ended writes it.
    const store: ArtifactStore = {
      ...real,
      async *list(prefix) {
        for await (const info of real.list(prefix)) {
          if (info.key.endsWith("/late-row.tar")) await putCacheEntry(database.db, cacheRow("late", info.key));
          yield info;
        }
      },
    };
    // As a bucket dates a multipart upload: from its start, hours ago, while it is still going.
    const stored = notePut(`${folder}/storing.tar`);
    expect(await pruneArtifactBlobs({ db: database.db, store, warn: () => {} })).toBe(1);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(late)).toBe(true);
    expect(existsSync(storing)).toBe(true);
    // Stored now: kept through the grace period after that, swept once past it (still no row).
    stored();
    expect(await pruneArtifactBlobs({ db: database.db, store, warn: () => {} })).toBe(0);
    expect(await pruneArtifactBlobs({ db: database.db, store, now: () => new Date(Date.now() + 2 * HOURS), warn: () => {} })).toBe(1);
    expect(existsSync(storing)).toBe(false);
    expect(existsSync(late)).toBe(true);
  });
});
