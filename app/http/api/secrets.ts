// /api/v1/secrets and /api/v1/pipelines/:ns/:id/secrets: set, list, inspect and delete
// secrets. Answers carry names and dates, never values.
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { requirePermission } from "../../auth/roles.ts";
import { getPipeline } from "../../db/repos/pipelines.ts";
import { NotFoundError } from "../../domain/errors.ts";
import type { SecretInfo, SecretScope } from "../../stores/secrets.ts";
import type { AppEnv } from "../env.ts";
import { validate } from "../validate.ts";
import { permit } from "../middleware/permit.ts";
import { pipelineParams } from "../params.ts";

const nameSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,128}$/, "must be 1-128 characters of A-Z a-z 0-9 _ . -"));
const putBody = v.strictObject({ value: v.string("must be a string") });

const targetOf = (scope: SecretScope) => (scope.kind === "global" ? "global" : `${scope.pipeline.namespace}/${scope.pipeline.id}`);

export function secretJson(secret: SecretInfo) {
  return { name: secret.name, scope: secret.scope, createdAt: secret.createdAt.toISOString(), updatedAt: secret.updatedAt.toISOString() };
}

async function pipelineScope(c: Context<AppEnv>, ns: string, id: string): Promise<SecretScope> {
  if (!(await getPipeline(c.get("deps").db, { namespace: ns, id }))) throw new NotFoundError(`pipeline ${ns}/${id} not found`);
  return { kind: "pipeline", pipeline: { namespace: ns, id } };
}

/** The four secret routes for one scope, so global and pipeline secrets behave alike. */
function secretRoutes(scopeOf: (c: Context<AppEnv>) => Promise<SecretScope>, params: v.ObjectSchema<v.ObjectEntries, undefined>) {
  const withName = v.object({ ...params.entries, key: nameSchema });
  return new Hono<AppEnv>()
    .get("/", validate("param", params), async (c) => {
      const scope = await scopeOf(c);
      requirePermission(c, "secrets", "read", targetOf(scope));
      const secrets = await c.get("deps").secrets.list(scope);
      return c.json({ secrets: secrets.map(secretJson) });
    })
    .get("/:key", validate("param", withName), async (c) => {
      const scope = await scopeOf(c);
      requirePermission(c, "secrets", "read", targetOf(scope));
      const name = c.req.param("key");
      const secret = await c.get("deps").secrets.get(scope, name);
      if (!secret) throw new NotFoundError(`secret ${name} not found`);
      return c.json({ secret: secretJson(secret) });
    })
    .put("/:key", permit("secrets", "write", async (c) => targetOf(await scopeOf(c))), validate("param", withName), validate("json", putBody), async (c) => {
      const deps = c.get("deps");
      const scope = await scopeOf(c);
      const name = c.req.param("key");
      const { created } = await deps.secrets.set(scope, name, c.req.valid("json").value, deps.now());
      return c.json({ secret: secretJson((await deps.secrets.get(scope, name))!) }, created ? 201 : 200);
    })
    .delete("/:key", validate("param", withName), async (c) => {
      const scope = await scopeOf(c);
      requirePermission(c, "secrets", "write", targetOf(scope));
      const name = c.req.param("key");
      if (!(await c.get("deps").secrets.delete(scope, name))) throw new NotFoundError(`secret ${name} not found`);
      return c.json({ deleted: name });
    });
}

export const globalSecretsApi = new Hono<AppEnv>()
  .post("/rotate-key", async (c) => {
    // Rotation touches every secret: it needs write on all of them.
    requirePermission(c, "secrets", "write", "*");
    const deps = c.get("deps");
    const { key, count } = await deps.secrets.rotateKey();
    // A key from the environment cannot be rewritten by the server: hand it to the admin once.
    return c.json({
      keyId: key.id,
      reencrypted: count,
      ...(key.source === "env" && {
        newKey: Buffer.from(key.raw).toString("base64"),
        notice: "set GANTRY_SECRET_KEY to newKey before the next restart",
      }),
    });
  })
  .route("/", secretRoutes(async () => ({ kind: "global" }), v.object({})));

export const pipelineSecretsApi = secretRoutes((c) => pipelineScope(c, c.req.param("ns")!, c.req.param("id")!), pipelineParams);
