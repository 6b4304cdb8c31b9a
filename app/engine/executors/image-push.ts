// A dockerPush() task: pushes an image of the engine to its registry (tagging it for the
// registry first when the task names one), with the registry credentials the engine resolved
// from the task's secret. The log gets one line per layer as it is pushed, not every byte;
// a refused push says so ("authentication required"). Only an image the same pipeline built
// (labelled with its namespace and pipeline) is pushed, and the registry's name for it is
// taken only when it is free or names an image of the pipeline already, as a build's tags are.
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import { pushOwnerProblem, pushTarget, type ImageOwner, type ImagePushSpec } from "../../domain/image-tasks.ts";
import { formatBytes } from "../../domain/bytes.ts";
import type { LogWriter } from "../../stores/logs.ts";
import type { TaskExit } from "./executor.ts";
import { describeDockerFailure, dockerMessage, parseRegistryAuth } from "./docker-client.ts";
import { giveNames } from "./image-build.ts";
import { readJsonLines } from "./json-lines.ts";

export interface ImagePushOptions {
  docker: Docker;
  host: string;
  push: ImagePushSpec;
  /** The pipeline (and run) the push is for: only an image that pipeline built is pushed. */
  owner: ImageOwner;
  /** The registry's credentials (`user:password` or Docker's JSON auth), already masked in the log. */
  registryAuth?: string;
  /** Where its lines go: the task's log, or a deploy's. */
  log: Pick<LogWriter, "line">;
  signal: AbortSignal;
}

interface PushMessage {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: { Tag?: string; Digest?: string; Size?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/** The registry would not take it: the credentials are missing or wrong, or they may not push there. */
const REFUSED = /unauthori[sz]ed|authentication required|no basic auth credentials|denied|forbidden|\b40[13]\b/i;

export async function runImagePush(options: ImagePushOptions): Promise<TaskExit> {
  const { docker, push, log } = options;
  const target = pushTarget(push);
  let image: Docker.ImageInspectInfo;
  try {
    image = await docker.getImage(push.image).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) {
      return { exitCode: null, reason: `image ${push.image} is not on the Docker engine (build it in an earlier task with dockerBuild, and list that task in needs)` };
    }
    return { exitCode: null, reason: describeDockerFailure(error, options.host, `inspecting image ${push.image}`) };
  }
  const notOurs = pushOwnerProblem(push.image, image.Config?.Labels, options.owner);
  if (notOurs) return { exitCode: null, reason: notOurs };
  if (push.registry) {
    // The image checked above, by its id: the name may have moved since.
    const problem = await giveNames(docker, options.host, image.Id, [target.reference], options.owner);
    if (problem) return { exitCode: null, reason: problem };
    log.line("gantry", `tagged ${push.image} as ${target.reference}`);
  }
  // The engine wants an X-Registry-Auth header even when the registry needs no credentials.
  const authconfig = options.registryAuth !== undefined ? parseRegistryAuth(options.registryAuth, target.reference) : {};
  log.line("gantry", `pushing ${target.reference}${options.registryAuth !== undefined ? " with the task's registry credentials" : ""}`);
  let stream: Readable;
  try {
    stream = (await docker.getImage(target.repository).push({ tag: target.tag, authconfig, abortSignal: options.signal })) as Readable;
  } catch (error) {
    if (options.signal.aborted) return { exitCode: null, reason: "stopped" };
    return { exitCode: null, reason: failureReason(target.reference, dockerMessage(error)) };
  }
  let failure: string | undefined;
  let digest: string | undefined;
  // Each layer's last state shown, so a state is written once however often the engine repeats it.
  const shown = new Map<string, string>();
  const handle = (message: PushMessage) => {
    if (message.error !== undefined || message.errorDetail !== undefined) {
      failure = (message.errorDetail?.message ?? message.error ?? "the push failed").trim();
      log.line("err", `ERROR: ${failure}`);
      return;
    }
    if (message.aux?.Digest) digest = message.aux.Digest;
    const status = message.status;
    if (!status) return;
    if (!message.id) {
      log.line("out", status);
      return;
    }
    const total = message.progressDetail?.total;
    const state = status === "Pushing" ? (total ? `Pushing ${formatBytes(total)}` : undefined) : status;
    // Waiting and Preparing say little; Pushing is shown once, with the layer's size.
    if (!state || status === "Waiting" || status === "Preparing" || shown.get(message.id)?.startsWith(status)) return;
    shown.set(message.id, state);
    log.line("out", `${message.id}: ${state}`);
  };
  try {
    await readJsonLines<PushMessage>(stream as AsyncIterable<Uint8Array>, handle, (text) => log.line("out", text));
  } catch (error) {
    if (options.signal.aborted) return { exitCode: null, reason: "stopped" };
    return { exitCode: null, reason: describeDockerFailure(error, options.host, `the push of ${target.reference} broke off`) };
  }
  if (options.signal.aborted) return { exitCode: null, reason: "stopped" };
  if (failure !== undefined) return { exitCode: null, reason: failureReason(target.reference, failure) };
  log.line("gantry", `pushed ${target.reference}${digest ? ` (${digest})` : ""}`);
  return { exitCode: 0 };
}

function failureReason(reference: string, message: string): string {
  return REFUSED.test(message) ? `push to ${reference} was refused: ${message}` : `push of ${reference} failed: ${message}`;
}
