// A dockerBuild() task: sends a folder of the workspace to the engine's BuildKit (POST /build
// with version=2), writes its progress into the task log step by step, and ends with the image
// tagged, or with the step that failed and why. Falls back to the classic builder when the
// engine has no BuildKit.
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import type { ImageBuildSpec } from "../../domain/image-tasks.ts";
import { formatBytes } from "../../domain/bytes.ts";
import type { LogWriter } from "../../stores/logs.ts";
import type { TaskExit } from "./executor.ts";
import { BuildContextError, prepareBuildContext } from "./build-context.ts";
import { buildFailureReason, buildFailureSummary, createBuildProgress, type BuildMessage } from "./build-progress.ts";
import { describeDockerFailure, dockerMessage } from "./docker-client.ts";

export interface ImageBuildOptions {
  docker: Docker;
  host: string;
  build: ImageBuildSpec;
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

export async function runImageBuild(options: ImageBuildOptions): Promise<TaskExit> {
  const { build, log } = options;
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
    return follow(options, stream, () => context.problem());
  }
}

function requestBuild(options: ImageBuildOptions, body: Readable, dockerfile: string, version: "1" | "2"): Promise<Readable> {
  const { build } = options;
  const query: Record<string, unknown> = {
    // Repeated as t=a&t=b: each tag given.
    t: build.tags,
    dockerfile,
    version,
    rm: true,
    forcerm: true,
    ...(options.pull && { pull: true }),
    ...(build.noCache && { nocache: true }),
    ...(build.buildArgs && { buildargs: build.buildArgs }),
    ...(build.target !== undefined && { target: build.target }),
    ...(build.cacheFrom && { cachefrom: JSON.stringify(build.cacheFrom) }),
    ...(build.labels && { labels: build.labels }),
  };
  // Dialled directly, not through docker.buildImage: for version=2 that opens a gRPC session
  // (an auth provider for base image pulls) that is left open when a build is aborted; the
  // tar body is all the engine needs.
  return new Promise((resolve, reject) =>
    options.docker.modem.dial(
      {
        path: "/build?",
        method: "POST",
        file: body,
        options: query,
        abortSignal: options.signal,
        isStream: true,
        statusCodes: { 200: true, 400: "bad parameter", 500: "server error" },
      },
      (error: unknown, stream: unknown) => (error ? reject(error) : resolve(stream as Readable)),
    ),
  );
}

/** Reads the build's JSON messages into the log until the engine ends the stream. */
async function follow(options: ImageBuildOptions, stream: Readable, contextProblem: () => string | undefined): Promise<TaskExit> {
  const { log, build } = options;
  const progress = createBuildProgress((stream, text) => log.line(stream, text));
  const decoder = new TextDecoder();
  let pending = "";
  const handle = (line: string) => {
    if (line.trim() === "") return;
    let message: BuildMessage;
    try {
      message = JSON.parse(line) as BuildMessage;
    } catch {
      log.line("out", line);
      return;
    }
    progress.message(message);
  };
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let newline = pending.indexOf("\n");
      while (newline !== -1) {
        handle(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
      }
    }
    handle(pending + decoder.decode());
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
  log.line("gantry", `built ${id.replace(/^sha256:/, "").slice(0, 12)} (${progress.usedBuildKit() ? "BuildKit" : "classic builder"}), tagged ${build.tags.join(", ")}`);
  return { exitCode: 0 };
}
