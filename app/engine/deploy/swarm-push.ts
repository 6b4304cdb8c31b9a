// A swarm environment's pushImage: the deploy's image, as the server's engine built it, tagged
// for the environment's registry and pushed there, so that every node of the swarm pulls the
// same image by the registry's name. Without a registry the image is deployed as it is (it must
// be on the nodes already: a one-node swarm on the server's own engine).
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import { splitImageReference } from "../../domain/image-tasks.ts";
import { dockerMessage, parseRegistryAuth } from "../executors/docker-client.ts";
import { readJsonLines } from "../executors/json-lines.ts";
import type { PushRequest, PushResult } from "./provider.ts";

interface PushMessage {
  id?: string;
  status?: string;
  aux?: { Digest?: string };
  error?: string;
  errorDetail?: { message?: string };
}

/** The registry's name for `image`: `<registry>/<repository>:<tag>`, or the image when it names that registry already. */
export function registryReference(registry: string, image: string): string {
  if (image.startsWith(`${registry}/`)) return image;
  const { repository, tag } = splitImageReference(image);
  return `${registry}/${repository}:${tag}`;
}

/**
 * Tags `request.image` on `source` (the server's engine) as the registry's reference and pushes
 * it; a failure says what the registry or engine answered.
 */
export async function pushToRegistry(source: Docker, registry: string, request: PushRequest): Promise<PushResult> {
  const { image, log, signal } = request;
  const reference = registryReference(registry, image);
  const { repository, tag } = splitImageReference(reference);
  try {
    await source.getImage(image).inspect();
  } catch (error) {
    const missing = (error as { statusCode?: number }).statusCode === 404;
    return { ok: false, reason: missing ? `image ${image} is not on the server's Docker engine, so it cannot be pushed to ${registry} (build it in an earlier task with dockerBuild)` : `inspecting image ${image}: ${dockerMessage(error)}` };
  }
  if (reference !== image) {
    try {
      await source.getImage(image).tag({ repo: repository, tag });
    } catch (error) {
      return { ok: false, reason: `tagging ${image} as ${reference}: ${dockerMessage(error)}` };
    }
  }
  log(`pushing ${image} to ${registry} as ${reference}${request.registryAuth !== undefined ? " with the environment's registry credentials" : ""}`);
  // The engine wants an X-Registry-Auth header even when the registry needs no credentials.
  const authconfig = request.registryAuth !== undefined ? parseRegistryAuth(request.registryAuth, reference) : {};
  let failure: string | undefined;
  let digest: string | undefined;
  const pushed = new Set<string>();
  try {
    const stream = (await source.getImage(repository).push({ tag, authconfig, abortSignal: signal })) as Readable;
    await readJsonLines<PushMessage>(
      stream as AsyncIterable<Uint8Array>,
      (message) => {
        if (message.error !== undefined || message.errorDetail !== undefined) failure = (message.errorDetail?.message ?? message.error ?? "the push failed").trim();
        if (message.aux?.Digest) digest = message.aux.Digest;
        // One line per layer as it lands, not the engine's every progress message.
        if (message.id && (message.status === "Pushed" || message.status === "Layer already exists") && !pushed.has(message.id)) {
          pushed.add(message.id);
          log(`${message.id}: ${message.status}`);
        }
      },
      () => undefined,
    );
  } catch (error) {
    if (signal.aborted) return { ok: false, reason: "cancelled during the push; nothing was deployed" };
    return { ok: false, reason: `the push of ${reference} failed: ${dockerMessage(error)}` };
  }
  if (signal.aborted) return { ok: false, reason: "cancelled during the push; nothing was deployed" };
  if (failure !== undefined) return { ok: false, reason: `the push of ${reference} failed: ${failure}` };
  log(`pushed ${reference}${digest ? ` (${digest})` : ""}`);
  return { ok: true, image: reference };
}
