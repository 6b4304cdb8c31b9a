// What createDeps joins in for artifacts and caches, built from the settings: the store (the
// data dir or a bucket), the artifacts and caches parts of createTaskFiles, and the janitor's
// sweep of blobs no row refers to.
//
//   const artifactParts = createArtifactParts({ config, db, now });
//   createTaskFiles({ db, artifacts: artifactParts.artifacts, caches: artifactParts.caches, ... })
//   createJanitor({ ..., pruneArtifacts: artifactParts.pruneBlobs })
//   deps.artifactStore = artifactParts.store   (the API and pages download through it)
import type { Config } from "../../config.ts";
import type { Db } from "../../db/client.ts";
import { createArtifactStore, type ArtifactStore } from "../../stores/artifact-store.ts";
import { pruneArtifactBlobs } from "../artifact-pruning.ts";
import { createArtifacts, type Artifacts } from "./artifacts.ts";
import { createCaches, type Caches } from "./caches.ts";

export interface ArtifactParts {
  store: ArtifactStore;
  artifacts: Artifacts;
  caches: Caches;
  /** Deletes blobs whose rows are gone (their runs deleted, a crash between blob and row); returns how many. */
  pruneBlobs(): Promise<number>;
}

export interface ArtifactPartsOptions {
  config: Config;
  db: Db;
  now?: () => Date;
  /** The store to use instead of the one the settings name (a test's). */
  store?: ArtifactStore;
}

export function createArtifactParts(options: ArtifactPartsOptions): ArtifactParts {
  const { config, db } = options;
  const now = options.now ?? (() => new Date());
  const store = options.store ?? createArtifactStore(config);
  return {
    store,
    artifacts: createArtifacts({ db, store, maxBytes: config.artifactMaxBytes, now }),
    caches: createCaches({ db, store, maxBytes: config.cacheMaxBytes, now }),
    pruneBlobs: () => pruneArtifactBlobs({ db, store, now }),
  };
}
