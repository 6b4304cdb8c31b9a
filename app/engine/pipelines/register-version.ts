// What both loaders (the local folder's and a git source's sync) do with a compiled file: store
// a new version (or a load error that leaves the last good version current), keep the file's
// triggers as subscriptions, and tell the event log and live pages.
import { readFileSync, statSync } from "node:fs";
import { relative } from "node:path";
import type { Db } from "../../db/client.ts";
import { addVersion, setLoadError, upsertPipeline, type PipelineRow } from "../../db/repos/pipelines.ts";
import { insertEvent } from "../../db/repos/events.ts";
import { replaceFileSubscriptions } from "../../db/repos/subscriptions.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { PipelineSpec, SpecIssue } from "../../domain/pipeline-spec.ts";
import type { VersionOrigin } from "../../domain/sources.ts";
import { triggerSubscription } from "../../domain/trigger-subscriptions.ts";
import { notificationSubscription } from "../../domain/notifications.ts";
import type { EventBus } from "../event-bus.ts";

export interface RegistrationContext {
  db: Db;
  bus: EventBus;
  now: () => Date;
}

/** The text kept with a version for diffs: the file and its helpers, up to this much in all. */
export const VERSION_FILES_MAX_BYTES = 512 * 1024;

export async function recordPipelineEvent(context: RegistrationContext, kind: EventKind, key: PipelineKey, data: Record<string, unknown>): Promise<void> {
  await insertEvent(context.db, { kind, namespace: key.namespace, pipelineId: key.id, data, at: context.now() });
  context.bus.publish({ kind, namespace: key.namespace, pipeline: key.id });
}

/**
 * Records a file's load error; the pipeline keeps its last good version (or is created without one).
 * `existing`: the pipeline as the caller just read it (getPipeline), undefined when there is none.
 */
export async function registerLoadFailure(
  context: RegistrationContext,
  failure: { key: PipelineKey; file: string; source: string | null; issues: SpecIssue[]; origin?: VersionOrigin; existing: PipelineRow | undefined },
): Promise<void> {
  const { key, file, source, issues, existing } = failure;
  if (!existing) await upsertPipeline(context.db, key, file, context.now(), source);
  await setLoadError(context.db, key, { file, issues }, context.now());
  await recordPipelineEvent(context, "pipeline.load_failed", key, { file, issues, ...(failure.origin && { commit: failure.origin.sha }) });
}

/** Stores a compiled file as the pipeline's current version and updates its subscriptions. */
export async function registerVersion(
  context: RegistrationContext,
  registration: {
    key: PipelineKey;
    file: string;
    source: string | null;
    compiled: { hash: string; bundlePath: string; spec: PipelineSpec };
    origin?: VersionOrigin;
    files?: Record<string, string>;
  },
): Promise<{ version: number; created: boolean }> {
  const { key, file, compiled } = registration;
  const now = context.now();
  const { version, created } = await addVersion(
    context.db,
    key,
    {
      hash: compiled.hash,
      bundlePath: compiled.bundlePath,
      spec: compiled.spec,
      file,
      source: registration.source,
      ...(registration.origin && { origin: registration.origin }),
      ...(registration.files && { files: registration.files }),
    },
    now,
  );
  // Triggers in the file are subscriptions; editing the file updates them.
  const subscriptions = [...compiled.spec.triggers.map(triggerSubscription), ...(compiled.spec.notifications ?? []).map(notificationSubscription)];
  if (await replaceFileSubscriptions(context.db, key, subscriptions, now)) {
    context.bus.publish({ kind: "subscriptions.changed", namespace: key.namespace, pipeline: key.id });
  }
  await recordPipelineEvent(context, created ? "pipeline.version_added" : "pipeline.loaded", key, {
    file,
    version,
    ...(registration.origin && { commit: registration.origin.sha }),
  });
  return { version, created };
}

/**
 * Why another file may not define this pipeline, or undefined when `file` of `source` may:
 * a pipeline belongs to the folder or source that defined it first while that still does.
 */
export function ownershipProblem(owner: PipelineRow | undefined, file: string, source: string | null, ownerStillDefines: boolean): string | undefined {
  if (!owner || !ownerStillDefines) return undefined;
  if (owner.source === source && owner.file === file) return undefined;
  if (owner.source === source) return `pipeline "${owner.id}" is already defined by ${owner.file}`;
  return `pipeline ${owner.namespace}/${owner.id} is already defined by ${owner.source === null ? `the local pipelines folder (${owner.file})` : `source "${owner.source}" (${owner.file})`}`;
}

/**
 * The text of a pipeline file and the local files it bundled, by path relative to `root`,
 * for the diff between versions; helpers are left out once the total passes the cap.
 */
export function versionFiles(root: string, file: string, helpers: string[]): Record<string, string> {
  const files: Record<string, string> = {};
  let total = 0;
  for (const path of [file, ...helpers]) {
    try {
      const size = statSync(path).size;
      if (total + size > VERSION_FILES_MAX_BYTES) continue;
      files[relative(root, path)] = readFileSync(path, "utf8");
      total += size;
    } catch {
      // gone since it was bundled: the diff shows it missing
    }
  }
  return files;
}
