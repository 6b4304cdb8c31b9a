// A task's artifacts: before it starts, those it takes in (from a task of this run, or from an
// earlier run of the pipeline) are checked against their sha256 and put back at their stored
// path; after it succeeds, each path it names is packed into a tar and stored with the run.
// Any problem fails the task with a reason naming the artifact; nothing half-stored is kept.
import { rm } from "node:fs/promises";
import type { Db } from "../../db/client.ts";
import { getArtifact, latestSuccessfulArtifact, producingRun, putArtifact, type ArtifactRow } from "../../db/repos/artifacts.ts";
import { formatBytes } from "../../domain/bytes.ts";
import type { ArtifactSource } from "../../domain/task-files.ts";
import type { ArtifactStore } from "../../stores/artifact-store.ts";
import { fetchVerified } from "../../stores/verified-blob.ts";
import { normaliseWorkspacePath, packWorkspacePaths, PackTooLargeError, unpackArchive, WorkspacePathError, type PackResult } from "../../stores/workspace-archive.ts";
import type { StepResult, TaskFilesContext } from "./index.ts";
import { messageOf } from "../../domain/errors.ts";

export interface ArtifactsOptions {
  db: Db;
  store: ArtifactStore;
  /** GANTRY_ARTIFACT_MAX_BYTES: the largest one artifact's tar may be (its default when absent). */
  maxBytes?: number;
  now?: () => Date;
}

/** GANTRY_ARTIFACT_MAX_BYTES when nothing says otherwise: 10 GiB, as app/config.ts. */
export const DEFAULT_ARTIFACT_MAX_BYTES = 10 * 1024 ** 3;

export interface Artifacts {
  takeIn(context: TaskFilesContext): Promise<StepResult>;
  storeOut(context: TaskFilesContext): Promise<StepResult>;
}

/** Where an artifact's blob is kept: under its run, with a fresh part so a replaced one never shares its key. */
export const artifactStorageKey = (row: { namespace: string; pipelineId: string; runId: number; name: string }) =>
  `runs/${row.namespace}/${row.pipelineId}/${row.runId}/${row.name}-${crypto.randomUUID()}.tar`;

const short = (sha256: string) => sha256.slice(0, 12);
const describe = (row: ArtifactRow) => `${row.path} (${row.kind}, ${formatBytes(row.size)}, sha256 ${short(row.sha256)})`;

export function createArtifacts(options: ArtifactsOptions): Artifacts {
  const { db, store } = options;
  const maxBytes = options.maxBytes ?? DEFAULT_ARTIFACT_MAX_BYTES;
  const now = options.now ?? (() => new Date());

  /** The stored row an `in` names, or why there is none. */
  const find = async (context: TaskFilesContext, name: string, from: ArtifactSource): Promise<{ row: ArtifactRow } | { reason: string }> => {
    const pipeline = { namespace: context.key.namespace, id: context.key.id };
    if ("task" in from) {
      // A task a re-run reused stored its artifacts in the run that executed it.
      const run = (await producingRun(db, context.key, from.task)) ?? context.key.run;
      const row = await getArtifact(db, { ...pipeline, run }, name);
      return row ? { row } : { reason: `artifact "${name}" of run ${run} does not exist (task ${from.task} stores it when it succeeds)` };
    }
    if (from.run === "latest-successful") {
      const row = await latestSuccessfulArtifact(db, pipeline, from.name);
      return row ? { row } : { reason: `artifact "${from.name}" of the latest successful run does not exist: no successful run of ${pipeline.namespace}/${pipeline.id} stored one` };
    }
    const row = await getArtifact(db, { ...pipeline, run: from.run }, from.name);
    return row ? { row } : { reason: `artifact "${from.name}" of run ${from.run} does not exist` };
  };

  return {
    async takeIn(context) {
      for (const { name, from } of context.task.artifacts?.in ?? []) {
        const found = await find(context, name, from);
        if ("reason" in found) return { ok: false, reason: found.reason };
        const { row } = found;
        const label = `artifact "${row.name}" of run ${row.runId}`;
        let file: string | undefined;
        try {
          file = (await fetchVerified(store, row.storageKey, row.sha256)).file;
          // fetchVerified checked its sha256 while copying it.
          await unpackArchive(file, context.workspace, { within: [row.path] });
        } catch (error) {
          const why = messageOf(error);
          const corrupted = (error as Error).name === "CorruptBlobError" || (error as Error).name === "CorruptArchiveError";
          return { ok: false, reason: corrupted ? `${label} is corrupted: ${why}; it was not used` : `${label} could not be put at ${row.path}: ${why}` };
        } finally {
          if (file) await rm(file, { force: true });
        }
        context.log(`${label} (task ${row.taskId}) taken in: ${describe(row)}`);
      }
      return { ok: true };
    },

    async storeOut(context) {
      const outs = context.task.artifacts?.out ?? [];
      const packed: { name: string; path: string; file: string; result: PackResult }[] = [];
      try {
        // Everything is packed first: one bad path stores none of them.
        for (const { name, path: asked } of outs) {
          const file = store.tempFile();
          let path: string;
          let result: PackResult;
          try {
            path = normaliseWorkspacePath(asked);
            // Stopped (and its temp file removed) as soon as it passes the limit.
            result = await packWorkspacePaths(context.workspace, [path], file, { missing: "error", maxBytes });
          } catch (error) {
            if (error instanceof PackTooLargeError) {
              return { ok: false, reason: `artifact "${name}" is over GANTRY_ARTIFACT_MAX_BYTES (${formatBytes(maxBytes)}); packing ${asked} stopped at ${error.path} and nothing was stored` };
            }
            if (error instanceof WorkspacePathError && error.code === "missing" && error.message.endsWith("does not exist in the workspace")) {
              return { ok: false, reason: `artifact "${name}": ${asked} does not exist in the workspace` };
            }
            return { ok: false, reason: `artifact "${name}": ${messageOf(error)}` };
          }
          packed.push({ name, path, file, result });
        }
        for (const { name, path, file, result } of packed) {
          const row: ArtifactRow = {
            namespace: context.key.namespace,
            pipelineId: context.key.id,
            runId: context.key.run,
            name,
            taskId: context.task.id,
            path,
            kind: result.packed[0]!.kind,
            size: result.size,
            sha256: result.sha256,
            storageKey: "",
            createdAt: now(),
          };
          row.storageKey = artifactStorageKey(row);
          try {
            await store.put(row.storageKey, file);
            const replaced = await putArtifact(db, row);
            if (replaced) await store.delete(replaced).catch(() => undefined);
          } catch (error) {
            await store.delete(row.storageKey).catch(() => undefined);
            return { ok: false, reason: `artifact "${name}" could not be stored: ${messageOf(error)}` };
          }
          context.log(`artifact "${name}" stored: ${describe(row)}`);
        }
        return { ok: true };
      } finally {
        for (const { file } of packed) await rm(file, { force: true });
      }
    },
  };
}
