// Web pages: /pipelines/:ns/:id/objects: a pipeline's stored objects — list, download (as an
// attachment), delete and upload — with the API's key rules, size limit and permissions
// (objects read/write on "<ns>/<id>").
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import { createMiddleware } from "hono/factory";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { NotFoundError, TooLargeError, ValidationError } from "../../domain/errors.ts";
import { objectKeyProblem } from "../../domain/object-keys.ts";
import type { ObjectScope } from "../../stores/objects.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { pipelineParams } from "../params.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { objectsPath } from "./paths.ts";
import { ObjectsPage, type ObjectsPageProps } from "./pages/objects.tsx";
import type { PipelineKey } from "../../domain/pipeline-key.ts";

/** The rest of the path, slashes included; the store checks the key by its own rules (a 400 otherwise). */
const KEY_PATH = "/:ns/:id/objects/:key{[\\s\\S]+}";
/** What a multipart body may add around the file's bytes before the size limit is judged. */
const MULTIPART_SLACK = 64 * 1024;

const pipelineOf = (c: Context<AppEnv>): PipelineKey => ({ namespace: c.req.param("ns")!, id: c.req.param("id")! });
const scopeOf = (c: Context<AppEnv>): ObjectScope => ({ kind: "pipeline", pipeline: pipelineOf(c) });
const read = permit("objects", "read", pipelineTarget);
const write = permit("objects", "write", pipelineTarget);
const params = validate("param", pipelineParams);

async function render(c: Context<AppEnv>, extra: Pick<ObjectsPageProps, "form" | "notice">, status: 200 | 400 | 413 = 200) {
  const { objects, now } = c.get("deps");
  // The store checks the pipeline exists (404 otherwise).
  const list = await objects.list(scopeOf(c));
  return c.html(
    <ObjectsPage
      session={await pageSession(c)}
      now={now()}
      pipeline={pipelineOf(c)}
      objects={list}
      canWrite={may(c, "objects", "write", pipelineTarget(c))}
      maxBytes={objects.maxBytes}
      {...extra}
    />,
    status,
  );
}

/** A declared body far over the limit is refused before a byte of it is read. */
const sizeCheck = createMiddleware<AppEnv>(async (c, next) => {
  const declared = Number(c.req.header("content-length") ?? 0);
  const max = c.get("deps").objects.maxBytes;
  if (declared > max + MULTIPART_SLACK) throw new TooLargeError(`the upload is ${declared} bytes, over the limit of ${max} bytes (GANTRY_OBJECT_MAX_BYTES)`);
  await next();
});

export const objectPages = new Hono<AppEnv>()
  .get("/:ns/:id/objects", requireSession, read, params, async (c) => {
    const query = c.req.query();
    let notice: string | undefined;
    if (query.uploaded && !objectKeyProblem(query.uploaded)) notice = `Uploaded ${query.uploaded}.`;
    if (query.deleted && !objectKeyProblem(query.deleted)) notice = `Deleted ${query.deleted}.`;
    return render(c, { ...(notice && { notice }) });
  })
  .get(KEY_PATH, requireSession, read, params, async (c) => {
    const key = c.req.param("key");
    const found = await c.get("deps").objects.get(scopeOf(c), key);
    if (!found) throw new NotFoundError(`object ${key} not found`);
    // The key's last segment, which only holds [A-Za-z0-9._-], is a safe file name.
    const filename = key.split("/").at(-1)!;
    return new Response(found.body, {
      headers: {
        "content-type": "application/octet-stream",
        "content-disposition": `attachment; filename="${filename}"`,
        "content-length": String(found.body.size),
        "cache-control": "private, no-cache",
        etag: `"${found.object.sha256}"`,
      },
    });
  })
  .post("/:ns/:id/objects", requireSession, write, params, sizeCheck, requireCsrf, async (c) => {
    const { objects } = c.get("deps");
    const body = await c.req.parseBody();
    const file = body.file;
    const typedKey = typeof body.key === "string" ? body.key.trim() : "";
    if (!(file instanceof File) || (file.size === 0 && !file.name)) return render(c, { form: { key: typedKey, error: "File: choose a file to upload" } }, 400);
    const key = typedKey || file.name;
    try {
      await objects.put(scopeOf(c), key, file.stream());
    } catch (error) {
      // The store checks the key first (a bad one is its ValidationError) and the size as the bytes come.
      if (error instanceof ValidationError) return render(c, { form: { key: typedKey, error: `Key: ${error.message}` } }, 400);
      if (error instanceof TooLargeError) return render(c, { form: { key: typedKey, error: `File: ${error.message}` } }, 413);
      throw error;
    }
    return c.redirect(`${objectsPath(pipelineOf(c))}?${new URLSearchParams({ uploaded: key })}`, 303);
  })
  .post("/:ns/:id/objects/delete", requireSession, write, params, requireCsrf, validate("form", v.object({ key: v.string("is required") })), async (c) => {
    const { key } = c.req.valid("form");
    if (!(await c.get("deps").objects.delete(scopeOf(c), key))) throw new NotFoundError(`object ${key} not found`);
    return c.redirect(`${objectsPath(pipelineOf(c))}?${new URLSearchParams({ deleted: key })}`, 303);
  });
