// Starts a dockerBuild() or dockerPush() task for the Docker executor: no container, the work
// is a request to the engine that begins once the attempt's claim is stored, with the task's
// variables filled in. Stopping it drops the request (the engine cancels the build); it cannot
// outlive this server, so a detach stops it too, and a restarted server reports it lost.
// The launch's namespace and pipeline own the images: see image-build.ts and image-push.ts.
import type Docker from "dockerode";
import { expandImageBuild, expandImagePush, type ImageBuildSpec, type ImagePushSpec } from "../../domain/image-tasks.ts";
import type { TaskExit, TaskHandle, TaskLaunch } from "./executor.ts";
import { describeDockerFailure } from "./docker-client.ts";
import { runImageBuild } from "./image-build.ts";
import { runImagePush } from "./image-push.ts";

export interface ImageTaskOptions {
  docker: Docker;
  host: string;
  builder: "buildkit" | "classic";
}

export function startImageTask(launch: TaskLaunch, { docker, host, builder }: ImageTaskOptions): TaskHandle {
  const spec = launch.task.container!;
  const what = spec.build ? "image build" : "image push";
  const abort = new AbortController();
  let detached = false;
  const exited = (async (): Promise<TaskExit> => {
    if (launch.gate && !(await launch.gate.catch(() => false))) return { exitCode: null, reason: "not started: its claim was refused" };
    if (abort.signal.aborted) return { exitCode: null, reason: "stopped before it started" };
    // ${NAME} in tags, args, labels and the pushed image: the task's variables, filled in now.
    const work = spec.build ? expandImageBuild(spec.build, launch.env) : expandImagePush(spec.push!, launch.env);
    if (typeof work === "string") return { exitCode: null, reason: work };
    // Whose images these are: a build labels its image with them, a push sends only theirs.
    const owner = { namespace: launch.namespace, pipeline: launch.pipeline, run: launch.run };
    try {
      const exit = spec.build
        ? await runImageBuild({
            docker,
            host,
            build: work as ImageBuildSpec,
            owner,
            workspace: launch.workspace,
            log: launch.log,
            pull: spec.pull === "always",
            builder,
            signal: abort.signal,
          })
        : await runImagePush({
            docker,
            host,
            push: work as ImagePushSpec,
            owner,
            ...(launch.registryAuth !== undefined && { registryAuth: launch.registryAuth }),
            log: launch.log,
            signal: abort.signal,
          });
      return detached && exit.exitCode !== 0 ? { exitCode: null, reason: `the server stopped during the ${what}` } : exit;
    } catch (error) {
      if (abort.signal.aborted) return { exitCode: null, reason: detached ? `the server stopped during the ${what}` : "stopped" };
      return { exitCode: null, reason: describeDockerFailure(error, host, `the ${what} failed`) };
    }
  })();
  return {
    exited,
    stop: () => abort.abort(),
    detach: () => {
      detached = true;
      abort.abort();
    },
  };
}

/** Why a build or push found after a restart cannot go on: the engine dropped it with the old server's connection. */
export function lostImageTask(launch: TaskLaunch): string | undefined {
  if (launch.task.container?.build) return "the server restarted during the image build; a build cannot be followed again";
  if (launch.task.container?.push) return "the server restarted during the image push; a push cannot be followed again";
  return undefined;
}
