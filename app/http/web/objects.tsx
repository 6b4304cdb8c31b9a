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
import { pipelineParams } from "../params.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { ObjectsPage, type ObjectsPageProps } from "./pages/objects.tsx";

/** The rest of the path, slashes included; the key is checked by its own rules below. */
const KEY_PATH = "/:ns/:id/objects/:key{[\\s\\S]+}";
/** What a multipart body may add around the file's bytes before the size limit is judged. */
const MULTIPART_SLACK = 64 * 1024;

const keyProblem = (key: string) => {
  const problem = objectKeyProblem(key);
  return problem && `Key: object key ${JSON.stringify(key)} ${problem}`;
};

const scopeOf = (c: Context<AppEnv>): ObjectScope => ({ kind: "pipeline", pipeline: { namespace: c.req.param("ns")!, id: c.req.param("id")! } });
const read = permit("objects", "read", pipelineTarget);
const write = permit("objects", "write", pipelineTarget);
const params = validate("param", pipelineParams);

async function render(c: Context<AppEnv>, extra: Pick<ObjectsPageProps, "form" | "notice">, status: 200 | 400 | 413 = 200) {
  const { objects, now } = c.get("deps");
  const scope = scopeOf(c);
  const pipeline = scope.kind === "pipeline" ? scope.pipeline : { namespace: "", id: "" };
  // The store checks the pipeline exists (404 otherwise).
  const list = await objects.list(scope);
  return c.html(
    <ObjectsPage
      session={pageSession(c)}
      now={now()}
      pipeline={pipeline}
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
    const problem = keyProblem(key);
    if (problem) throw new ValidationError(problem);
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
    const problem = keyProblem(key);
    if (problem) return render(c, { form: { key: typedKey, error: problem } }, 400);
    try {
      await objects.put(scopeOf(c), key, file.stream());
    } catch (error) {
      if (error instanceof TooLargeError) return render(c, { form: { key: typedKey, error: `File: ${error.message}` } }, 413);
      throw error;
    }
    return c.redirect(`/pipelines/${c.req.param("ns")}/${c.req.param("id")}/objects?${new URLSearchParams({ uploaded: key })}`, 303);
  })
  .post("/:ns/:id/objects/delete", requireSession, write, params, requireCsrf, async (c) => {
    const parsed = v.safeParse(v.object({ key: v.string("key: is required") }), await c.req.parseBody());
    if (!parsed.success) throw new ValidationError(parsed.issues[0]!.message);
    const { key } = parsed.output;
    const problem = keyProblem(key);
    if (problem) throw new ValidationError(problem);
    if (!(await c.get("deps").objects.delete(scopeOf(c), key))) throw new NotFoundError(`object ${key} not found`);
    return c.redirect(`/pipelines/${c.req.param("ns")}/${c.req.param("id")}/objects?${new URLSearchParams({ deleted: key })}`, 303);
  });
