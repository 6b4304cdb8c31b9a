// A dockerBuild() task: sends a folder of the workspace to the engine's BuildKit (POST /build
// with version=2), writes its progress into the task log step by step, and ends with the image
// tagged, or with the step that failed and why. Falls back to the classic builder when the
// engine has no BuildKit.
//
// Images belong to the pipeline that built them: the image is labelled with its namespace,
// pipeline and run (over any label of the task or the Dockerfile), built without a name, and
// only then given its tags, each checked first: a name may be free or name an image of the
// same pipeline, never another pipeline's image nor one Gantry did not build (a base image
// such as local/busybox:latest), so no pipeline can swap what another one runs.
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import { ownerLabels, splitImageReference, tagProblem, type ImageBuildSpec, type ImageOwner } from "../../domain/image-tasks.ts";
import { formatBytes } from "../../domain/bytes.ts";
import type { LogWriter } from "../../stores/logs.ts";
import type { TaskExit } from "./executor.ts";
import { BuildContextError, prepareBuildContext } from "./build-context.ts";
import { buildFailureReason, buildFailureSummary, createBuildProgress, type BuildMessage } from "./build-progress.ts";
import { describeDockerFailure, dockerMessage } from "./docker-client.ts";
import { readJsonLines } from "./json-lines.ts";

export interface ImageBuildOptions {
  docker: Docker;
  host: string;
  build: ImageBuildSpec;
  /** The pipeline (and run) the build is for: its image is labelled with them, and may only take names that are free or its pipeline's. */
  owner: ImageOwner;
  workspace: string;
  log: LogWriter;
  /** Pull newer base images (the task's pull policy "always"). */
  pull: boolean;
  /** "classic" skips BuildKit (an engine known to lack it; tests of the fallback). */
  builder: "buildkit" | "classic";
  /** Aborted to stop the build: the request is dropped and the engine cancels it. */
  signal: AbortSignal;
}

/** The engine answered version=2 with "no BuildKit here" (Windows engines, BuildKit turned off). */
const NO_BUILDKIT = /buildkit|builder version|unsupported.*version/i;

/** The image the engine has under `name`, with its labels; undefined when no image has the name. */
async function imageNamed(docker: Docker, name: string): Promise<{ id: string; labels: Record<string, string> | null; tags: string[] } | undefined> {
  try {
    const info = await docker.getImage(name).inspect();
    return { id: info.Id, labels: info.Config?.Labels ?? null, tags: info.RepoTags ?? [] };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/**
 * Why `name` may not be pointed at an image of `owner`, or undefined: it is free or names an
 * image of the same pipeline. Asks the engine what the name is now (a failure to ask is a problem too).
 */
export async function nameProblem(docker: Docker, host: string, name: string, owner: ImageOwner): Promise<string | undefined> {
  let current;
  try {
    current = await imageNamed(docker, name);
  } catch (error) {
    return describeDockerFailure(error, host, `looking up image ${name}`);
  }
  return tagProblem(name, current, owner);
}

let tagQueue: Promise<unknown> = Promise.resolve();

/**
 * Runs `work` (check what names point at, then tag) after every earlier one of this server
 * is done, so two builds or pushes cannot both find a name free and both take it.
 */
export function inTagQueue<T>(work: () => Promise<T>): Promise<T> {
  const result = tagQueue.then(work, work);
  tagQueue = result.catch(() => undefined);
  return result;
}

/** Gives image `id` the names `names`, each checked for its owner first (all before any is given); the problem when one may not be taken. */
export function giveNames(docker: Docker, host: string, id: string, names: string[], owner: ImageOwner): Promise<string | undefined> {
  return inTagQueue(async () => {
    for (const name of names) {
      const problem = await nameProblem(docker, host, name, owner);
      if (problem) return problem;
    }
    for (const name of names) {
      const { repository, tag } = splitImageReference(name);
      try {
        await docker.getImage(id).tag({ repo: repository, tag });
      } catch (error) {
        return describeDockerFailure(error, host, `tagging the image as ${name}`);
      }
    }
    return undefined;
  });
}

export async function runImageBuild(options: ImageBuildOptions): Promise<TaskExit> {
  const { build, log } = options;
  // Checked before the build too (a refused name fails at once), and again when it is given.
  for (const tag of build.tags) {
    const problem = await nameProblem(options.docker, options.host, tag, options.owner);
    if (problem) return { exitCode: null, reason: problem };
  }
  let context;
  try {
    context = await prepareBuildContext(options.workspace, build.context, build.dockerfile);
  } catch (error) {
    if (error instanceof BuildContextError) return { exitCode: null, reason: error.message };
    throw error;
  }
  log.line("gantry", `building ${build.tags.join(", ")} from ${build.context} (${context.dockerfile}; ${context.files} files, ${formatBytes(context.bytes)})`);
  let version: "1" | "2" = options.builder === "classic" ? "1" : "2";
  for (;;) {
    let stream: Readable;
    try {
      stream = await requestBuild(options, context.stream(), context.dockerfile, version);
    } catch (error) {
      if (options.signal.aborted) return { exitCode: null, reason: "stopped" };
      const broken = context.problem();
      if (broken) return { exitCode: null, reason: broken };
      if (version === "2" && (error as { statusCode?: number }).statusCode !== undefined && NO_BUILDKIT.test(dockerMessage(error))) {
        log.line("gantry", `BuildKit is not available on this engine (${dockerMessage(error)}); building with the classic builder`);
        version = "1";
        continue;
      }
      return { exitCode: null, reason: describeDockerFailure(error, options.host, "the image build was refused") };
    }
    const built = await follow(options, stream, () => context.problem());
    if (!("imageId" in built)) return built;
    return name(options, built.imageId, built.buildKit);
  }
}

/** Gives the built image its tags; an image left without a name when one is refused is removed. */
async function name(options: ImageBuildOptions, id: string, buildKit: boolean): Promise<TaskExit> {
  const { docker, build, log } = options;
  const short = id.replace(/^sha256:/, "").slice(0, 12);
  if (options.signal.aborted) return { exitCode: null, reason: "stopped" };
  const problem = await giveNames(docker, options.host, id, build.tags, options.owner);
  if (problem) {
    log.line("gantry", `built ${short}, but did not tag it: ${problem}`);
    const image = await imageNamed(docker, id).catch(() => undefined);
    if (image && image.tags.length === 0) await docker.getImage(id).remove().catch(() => undefined);
    return { exitCode: null, reason: problem };
  }
  log.line("gantry", `built ${short} (${buildKit ? "BuildKit" : "classic builder"}), tagged ${build.tags.join(", ")}`);
  return { exitCode: 0 };
}

function requestBuild(options: ImageBuildOptions, body: Readable, dockerfile: string, version: "1" | "2"): Promise<Readable> {
  const { build } = options;
  const query: Record<string, unknown> = {
    // No t=: the image is built without a name and tagged once its names are checked again.
    dockerfile,
    version,
    rm: true,
    forcerm: true,
    ...(options.pull && { pull: true }),
    ...(build.noCache && { nocache: true }),
    ...(build.buildArgs && { buildargs: build.buildArgs }),
    ...(build.target !== undefined && { target: build.target }),
    ...(build.cacheFrom && { cachefrom: JSON.stringify(build.cacheFrom) }),
    // Gantry's labels last: they win over the task's and the Dockerfile's LABEL lines.
    labels: { ...build.labels, ...ownerLabels(options.owner) },
  };
  return dialBuild(options.docker, body, query, options.signal);
}

/**
 * POST /build with a tar as the body, answering the engine's stream of JSON messages. Dialled
 * directly, not through docker.buildImage: for version=2 that opens a gRPC session (an auth
 * provider for base image pulls) that is left open when a build is aborted; the tar body is
 * all the engine needs. `gantry runner-image` builds through it too.
 */
export function dialBuild(docker: Docker, body: Readable, query: Record<string, unknown>, signal?: AbortSignal): Promise<Readable> {
  return new Promise((resolve, reject) =>
    docker.modem.dial(
      {
        path: "/build?",
        method: "POST",
        file: body,
        options: query,
        ...(signal && { abortSignal: signal }),
        isStream: true,
        statusCodes: { 200: true, 400: "bad parameter", 500: "server error" },
      },
      (error: unknown, stream: unknown) => (error ? reject(error) : resolve(stream as Readable)),
    ),
  );
}

/** Reads the build's JSON messages into the log until the engine ends the stream: the image built, or how the build failed. */
async function follow(options: ImageBuildOptions, stream: Readable, contextProblem: () => string | undefined): Promise<TaskExit | { imageId: string; buildKit: boolean }> {
  const { log } = options;
  const progress = createBuildProgress((stream, text) => log.line(stream, text));
  try {
    await readJsonLines<BuildMessage>(stream as AsyncIterable<Uint8Array>, (message) => progress.message(message), (line) => log.line("out", line));
  } catch (error) {
    progress.end();
    if (options.signal.aborted) return { exitCode: null, reason: "stopped" };
    return { exitCode: null, reason: contextProblem() ?? describeDockerFailure(error, options.host, "the image build broke off") };
  }
  progress.end();
  if (options.signal.aborted) return { exitCode: null, reason: "stopped" };
  const failure = progress.failure();
  if (failure) {
    for (const line of buildFailureSummary(failure)) log.line("gantry", line);
    return { exitCode: null, reason: buildFailureReason(failure) };
  }
  const problem = contextProblem();
  if (problem) return { exitCode: null, reason: problem };
  const id = progress.imageId();
  if (!id) return { exitCode: null, reason: "the image build ended without an image (the engine sent no image id)" };
  return { imageId: id, buildKit: progress.usedBuildKit() };
}
