// dockerBuild() and dockerPush(): container tasks the Docker executor does through the
// Engine API (a build with BuildKit, a push with the registry's credentials), no container.
// Re-exported by the "gantry" module (index.ts). Only types come from index.ts (it imports
// this file back), and only pure domain code otherwise: every run() task loads the SDK.
import type { ContainerTask, SecretRef, TaskOptions } from "./index.ts";
import { reservedLabelProblem, type ImageBuildSpec, type ImagePushSpec } from "../domain/image-tasks.ts";

/** Task options an image build or push takes (it runs no container of its own). */
export type ImageTaskOptions = Pick<TaskOptions, "needs" | "timeout" | "retries" | "retryDelay" | "artifacts" | "cache">;

/** Options of {@link dockerBuild}. */
export interface DockerBuildOptions extends ImageTaskOptions {
  /** The build context: a folder of the run's workspace (relative, e.g. `"."` or `"app"`), sent as it is when the task starts. */
  context: string;
  /** The Dockerfile's path inside the context; `"Dockerfile"` by default. */
  dockerfile?: string;
  /**
   * Names the image gets, e.g. `["app:1", "127.0.0.1:5000/app:1"]`; at least one. `${NAME}`
   * takes a variable of the run (`"app:${GANTRY_RUN_ID}"`, `"app:${VERSION}"`), as do build args and labels.
   * Each name must be free on the engine or name an image this pipeline built: the build
   * fails rather than take a name from another pipeline's image, or from an image Gantry did
   * not build (a base image such as `local/busybox:latest`).
   */
  tags: string[];
  /** `ARG` values, e.g. `{ VERSION: "1.2.3" }`. */
  buildArgs?: Record<string, string>;
  /** The stage of a multi-stage Dockerfile to build. */
  target?: string;
  /** Images whose layers may serve as cache (for BuildKit, built with `BUILDKIT_INLINE_CACHE=1`). */
  cacheFrom?: string[];
  /** Labels of the image. `gantry.*` ones are Gantry's own (`gantry.namespace`, `gantry.pipeline`, `gantry.run` name who built it) and may not be set. */
  labels?: Record<string, string>;
  /** Look for newer base images in their registries (`docker build --pull`); by default base images on the engine are used. */
  pull?: boolean;
  /** Build every step again, using no cached layers (`docker build --no-cache`). */
  noCache?: boolean;
}

/** A container task that builds an image instead of running one. Create it with {@link dockerBuild}. */
export interface ImageBuildTask extends ContainerTask {
  readonly build: ImageBuildSpec;
}

/** Options of {@link dockerPush}. */
export interface DockerPushOptions extends ImageTaskOptions {
  /**
   * The image to push, as the engine knows it, e.g. `"app:1"` (tag `latest` when it names none); `${NAME}` takes a variable of the run.
   * It must be an image a {@link dockerBuild} task of this pipeline built: another pipeline's image, or one Gantry did not build, is refused.
   */
  image: string;
  /**
   * A registry (`host[:port]`) to push to: the image is tagged `<registry>/<image>` first.
   * Leave it out when the image's name starts with its registry already.
   */
  registry?: string;
  /** The registry's credentials: a secret holding `user:password` or Docker's JSON `{ "username", "password" }`; masked in the log. */
  auth?: SecretRef;
}

/** A container task that pushes an image instead of running one. Create it with {@link dockerPush}. */
export interface ImagePushTask extends ContainerTask {
  readonly push: ImagePushSpec;
}

/**
 * Builds an image from a folder of the run's workspace with the Docker engine's BuildKit
 * (the classic builder where the engine has none). The log shows each step as it runs
 * (`#5 [2/3] RUN make`) with its output; a failed step fails the task with the step and its
 * error as the reason. The image stays on the engine: later tasks of the run can run it
 * (`pull: "never"` or `"if-missing"`) or {@link dockerPush} it. `.dockerignore` is honoured.
 *
 * Images belong to the pipeline that built them. The image is labelled `gantry.namespace`,
 * `gantry.pipeline` and `gantry.run` (over any label of the task or the Dockerfile), and is
 * given its tags only when each tag is free on the engine or names an image this pipeline
 * built: a tag naming another pipeline's image fails the build ("tag app:1 names an image
 * built by pipeline default/other"), as does one naming an image Gantry did not build
 * ("tag local/busybox:latest would replace an image Gantry did not build"). So a pipeline
 * cannot swap the image another pipeline runs, nor a base image the engine was given.
 *
 * @example
 * ```ts
 * tasks: {
 *   prepare: run(async (ctx) => {
 *     await Bun.write(`${ctx.workspace}/app/Dockerfile`, "FROM local/busybox:latest\nCOPY . /app\nRUN ls /app\n");
 *   }),
 *   image: dockerBuild({ context: "app", tags: ["app:${GANTRY_RUN_ID}", "app:latest"], buildArgs: { MODE: "release" }, needs: { prepare: "success" } }),
 *   smoke: container({ image: "app:latest", pull: "never", command: ["ls", "/app"], needs: { image: "success" } }),
 * }
 * ```
 */
export function dockerBuild(options: DockerBuildOptions): ImageBuildTask {
  const { context, dockerfile, tags, buildArgs, target, cacheFrom, labels, pull, noCache, ...task } = options;
  // A mistake found without the run is a load error of the pipeline file, not a failed run.
  const labelProblem = reservedLabelProblem(labels);
  if (labelProblem) throw new Error(`dockerBuild: ${labelProblem}`);
  return {
    ...task,
    kind: "container",
    image: tags?.[0] ?? "",
    pull: pull ? "always" : "if-missing",
    build: {
      context,
      tags,
      ...(dockerfile !== undefined && { dockerfile }),
      ...(buildArgs !== undefined && { buildArgs }),
      ...(target !== undefined && { target }),
      ...(cacheFrom !== undefined && { cacheFrom }),
      ...(labels !== undefined && { labels }),
      ...(noCache !== undefined && { noCache }),
    },
  };
}

/**
 * Pushes an image of the Docker engine (built by an earlier {@link dockerBuild} task) to a
 * registry, with credentials from the secret store. The log shows each layer once as it is
 * pushed and the digest; a registry that refuses the credentials fails the task with
 * "push to <image> was refused: ...". The secret's value never appears in the log.
 *
 * Only an image a {@link dockerBuild} task of this same pipeline built (labelled with its
 * namespace and pipeline) is pushed: another pipeline's image, or one Gantry did not build
 * (pulled, loaded, built by hand), fails the task with "image ... was not built by this
 * pipeline". With `registry`, the name `<registry>/<image>` is taken as a build's tags are:
 * only when it is free or names an image of this pipeline already.
 *
 * @example
 * ```ts
 * image: dockerBuild({ context: ".", tags: ["app:1"] }),
 * publish: dockerPush({ image: "app:1", registry: "127.0.0.1:5000", auth: secret("registry_login"), needs: { image: "success" } }),
 * ```
 */
export function dockerPush(options: DockerPushOptions): ImagePushTask {
  const { image, registry, auth, ...task } = options;
  return {
    ...task,
    kind: "container",
    image,
    pull: "never",
    // The engine resolves and masks a container task's registry credentials, pull secret or push's.
    ...(auth !== undefined && { pullSecret: auth }),
    push: { image, ...(registry !== undefined && { registry }) },
  };
}
