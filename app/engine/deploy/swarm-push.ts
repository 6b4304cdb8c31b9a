// A swarm environment's pushImage: the deploy's image, as the server's engine built it, tagged
// for the environment's registry and pushed there (by the same push a dockerPush task makes, so
// only an image this pipeline built, under a registry name that is free or its own), so every
// node of the swarm pulls it by the registry's name. An image that names the registry already
// is there: nothing to push.
import type Docker from "dockerode";
import { pushTarget, splitImageReference } from "../../domain/image-tasks.ts";
import { runImagePush } from "../executors/image-push.ts";
import type { PushRequest, PushResult } from "./provider.ts";

/** The registry's name for `image`: `<registry>/<repository>:<tag>`, or the image when it names that registry already. */
export function registryReference(registry: string, image: string): string {
  if (image.startsWith(`${registry}/`)) {
    const { repository, tag } = splitImageReference(image);
    return `${repository}:${tag}`;
  }
  return pushTarget({ image, registry }).reference;
}

/** Pushes `request.image` from `source` (the server's engine, at `host`) to `registry`. */
export async function pushToRegistry(source: { docker: Docker; host: string }, registry: string, request: PushRequest): Promise<PushResult> {
  const { image, log } = request;
  if (image.startsWith(`${registry}/`)) {
    log(`${image} names the environment's registry already: the nodes pull it from there`);
    return { ok: true, image: registryReference(registry, image) };
  }
  const exit = await runImagePush({
    docker: source.docker,
    host: source.host,
    push: { image, registry },
    owner: request.owner,
    ...(request.registryAuth !== undefined && { registryAuth: request.registryAuth }),
    log: { line: (_stream, text) => log(text) },
    signal: request.signal,
  });
  if (exit.exitCode === 0) return { ok: true, image: registryReference(registry, image) };
  return { ok: false, reason: exit.reason ?? `the push of ${image} to ${registry} failed` };
}
