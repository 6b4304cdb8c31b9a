// The webhook receiver, served on its own port (GANTRY_HOOKS_PORT) so it can be exposed
// alone: POST /hooks/<extension>/... is handed, raw bytes and all, to that extension.
// Bodies over the limit get 413 without being buffered whole.
import { Hono, type Context } from "hono";
import type { ExtensionHost } from "../../extension-host/host.ts";
import { errorBody } from "../errors.ts";

export const MAX_HOOK_BODY_BYTES = 25 * 1024 * 1024;

async function readLimited(request: Request, limit: number): Promise<Uint8Array | undefined> {
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function createHooksReceiver(host: ExtensionHost, limit = MAX_HOOK_BODY_BYTES) {
  const handle = async (c: Context) => {
    const extension = c.req.param("extension")!;
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > limit) return c.json(errorBody("too_large", `body over ${limit} bytes`), 413);
    const body = await readLimited(c.req.raw, limit);
    if (!body) return c.json(errorBody("too_large", `body over ${limit} bytes`), 413);
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((value, name) => (headers[name] = value));
    const prefix = `/hooks/${extension}`;
    const response = await host.hook(extension, { method: c.req.method, path: c.req.path.slice(prefix.length) || "/", headers, body });
    return c.json((response.body ?? {}) as object, response.status as 200);
  };
  return new Hono()
    .post("/hooks/:extension", handle)
    .post("/hooks/:extension/*", handle)
    .notFound((c) => c.json(errorBody("not_found", `no hook at ${c.req.method} ${c.req.path}; hooks are POST /hooks/<extension>/...`), 404));
}
