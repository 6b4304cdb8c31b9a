// The webhook receiver, served on its own port (GANTRY_HOOKS_PORT) so it can be exposed
// alone: POST /hooks/<extension>/... is handed, raw bytes and all, to that extension.
// Bodies over the limit get 413 without being buffered whole.
import { Hono, type Context } from "hono";
import { TooLargeError } from "../../domain/errors.ts";
import type { ExtensionHost } from "../../extension-host/host.ts";
import { errorBody, handleError } from "../errors.ts";
import { handleSourceHook, type SourceHookDeps } from "./source-hook.ts";

/**
 * Fixed rather than GANTRY_API_MAX_BODY: GitHub sends payloads of up to 25 MB (and drops
 * bigger ones), so a receiver capped at the API's 1 MiB would lose real pushes.
 */
export const MAX_HOOK_BODY_BYTES = 25 * 1024 * 1024;

/** The whole body, or TooLargeError as soon as it passes `limit` (the rest is never read). */
async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new TooLargeError(`body over ${limit} bytes`);
  if (Number(request.headers.get("content-length") ?? "0") > limit) throw tooLarge();
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** `sources`: git sources' signed push notices at POST /hooks/sources/<name>; none without. */
export function createHooksReceiver(host: ExtensionHost, limit = MAX_HOOK_BODY_BYTES, sources?: SourceHookDeps) {
  const handle = async (c: Context) => {
    const extension = c.req.param("extension")!;
    const body = await readLimited(c.req.raw, limit);
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((value, name) => (headers[name] = value));
    const prefix = `/hooks/${extension}`;
    const response = await host.hook(extension, { method: c.req.method, path: c.req.path.slice(prefix.length) || "/", headers, body });
    return c.json((response.body ?? {}) as object, response.status as 200);
  };
  return new Hono()
    // Before the extensions' routes: "sources" is no extension's id.
    .post("/hooks/sources/:name", async (c) => {
      if (!sources) return c.json(errorBody("not_found", "no git sources here"), 404);
      const body = await readLimited(c.req.raw, limit);
      const answer = await handleSourceHook(sources, c.req.param("name"), c.req.raw.headers, body);
      return c.json(answer.body, answer.status as 202);
    })
    .post("/hooks/:extension", handle)
    .post("/hooks/:extension/*", handle)
    .notFound((c) => c.json(errorBody("not_found", `no hook at ${c.req.method} ${c.req.path}; hooks are POST /hooks/<extension>/...`), 404))
    // A throw from the extension host answers as JSON like every other error, not as plain text.
    .onError(handleError);
}
