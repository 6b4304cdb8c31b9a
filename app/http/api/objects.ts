// /api/v1/pipelines/:ns/:id/objects and .../runs/:run/objects: list, put (raw body, size
// limited), get (raw bytes) and delete objects of a pipeline or of one run.
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { NotFoundError, TooLargeError } from "../../domain/errors.ts";
import { objectKeyProblem } from "../../domain/object-keys.ts";
import type { ObjectInfo, ObjectScope } from "../../stores/objects.ts";
import type { AppEnv } from "../env.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { validate } from "../validate.ts";
import { pipelineParams, runParams } from "../params.ts";
import { deletedAnswer, objectAnswer, objectListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

const keySchema = v.pipe(
  v.string(),
  v.check(
    (key) => objectKeyProblem(key) === undefined,
    (issue) => `object key ${JSON.stringify(issue.input)} ${objectKeyProblem(String(issue.input))}`,
  ),
);

/** The rest of the path, slashes and newlines included: a bad key gets a 400 naming its rule, not "no route". */
const KEY_PATH = "/:key{[\\s\\S]+}";

function objectJson(object: ObjectInfo) {
  return {
    key: object.key,
    size: object.size,
    sha256: object.sha256,
    createdAt: object.createdAt.toISOString(),
    updatedAt: object.updatedAt.toISOString(),
  };
}

/** The four object routes for one scope, so pipeline and run objects behave alike; `what` names the scope in their docs ("A pipeline's", "A run's"). */
function objectRoutes(scopeOf: (c: Context<AppEnv>) => ObjectScope, params: v.ObjectSchema<v.ObjectEntries, undefined>, what: string) {
  const their = what.toLowerCase();
  const withKey = v.object({ ...params.entries, key: keySchema });
  // Permission first: a caller without it learns nothing else, not even whether a key is valid.
  const read = permit("objects", "read", pipelineTarget);
  const write = permit("objects", "write", pipelineTarget);
  return new Hono<AppEnv>()
    .get("/", doc({ summary: `${what} objects (key, size, sha256, dates)`, permission: "objects:read on the pipeline", response: objectListAnswer }), read, validate("param", params), async (c) => {
      const objects = await c.get("deps").objects.list(scopeOf(c));
      return c.json({ objects: objects.map(objectJson) });
    })
    .get(KEY_PATH, doc({ summary: `One of ${their} objects, as raw bytes`, permission: "objects:read on the pipeline", response: { mediaType: "application/octet-stream", description: "the object's bytes" } }), read, validate("param", withKey), async (c) => {
      const key = c.req.param("key");
      const found = await c.get("deps").objects.get(scopeOf(c), key);
      if (!found) throw new NotFoundError(`object ${key} not found`);
      return new Response(found.body, {
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(found.body.size),
          etag: `"${found.object.sha256}"`,
        },
      });
    })
    .put(
      KEY_PATH,
      doc({
        summary: `Store one of ${their} objects from the raw body (201 new, 200 replaced); 413 over the size limit`,
        permission: "objects:write on the pipeline",
        success: [201, 200],
        body: { mediaType: "application/octet-stream", description: "the object's bytes (size limited by GANTRY_OBJECT_MAX_BYTES)" },
        response: objectAnswer,
      }),
      write, validate("param", withKey), async (c) => {
      const { objects } = c.get("deps");
      // A declared size over the limit is refused before a byte is read; a chunked body is
      // counted as it streams in (the store stops at the limit).
      const declared = c.req.header("content-length");
      if (declared !== undefined && Number(declared) > objects.maxBytes) {
        throw new TooLargeError(`the object is ${declared} bytes, over the limit of ${objects.maxBytes} bytes (GANTRY_OBJECT_MAX_BYTES)`);
      }
      const { object, created } = await objects.put(scopeOf(c), c.req.param("key"), c.req.raw.body);
      return c.json({ object: objectJson(object) }, created ? 201 : 200);
    })
    .delete(KEY_PATH, doc({ summary: `Delete one of ${their} objects`, permission: "objects:write on the pipeline", response: deletedAnswer }), write, validate("param", withKey), async (c) => {
      const key = c.req.param("key");
      if (!(await c.get("deps").objects.delete(scopeOf(c), key))) throw new NotFoundError(`object ${key} not found`);
      return c.json({ deleted: key });
    });
}

export const pipelineObjectsApi = objectRoutes(
  (c) => ({ kind: "pipeline", pipeline: { namespace: c.req.param("ns")!, id: c.req.param("id")! } }),
  pipelineParams,
  "A pipeline's",
);

export const runObjectsApi = objectRoutes(
  (c) => ({ kind: "run", run: { namespace: c.req.param("ns")!, id: c.req.param("id")!, run: Number(c.req.param("run")) } }),
  runParams,
  "A run's",
);
