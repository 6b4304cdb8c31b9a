// /api/v1/secrets and /api/v1/pipelines/:ns/:id/secrets: set, list, inspect and delete
// secrets. Answers carry names, dates and masking warnings, never values.
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { requirePermission } from "../../auth/roles.ts";
import { requirePipeline } from "../../db/repos/pipelines.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../../domain/secrets.ts";
import { scopeKey, type SecretInfo, type SecretScope } from "../../stores/secrets.ts";
import type { AppEnv } from "../env.ts";
import { validate } from "../validate.ts";
import { permit } from "../middleware/permit.ts";
import { pipelineParams } from "../params.ts";
import { deletedAnswer, rotatedKeyAnswer, secretAnswer, secretListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

const nameSchema = v.pipe(v.string(), v.regex(SECRET_NAME_PATTERN, `must be ${SECRET_NAME_RULE}`));
const putBody = v.strictObject({ value: v.string("must be a string") });

function secretJson(secret: SecretInfo) {
  return {
    name: secret.name,
    scope: secret.scope,
    createdAt: secret.createdAt.toISOString(),
    updatedAt: secret.updatedAt.toISOString(),
    // Only when masking may miss parts of the value (it looks like JSON, a key, several lines, or is short).
    ...(secret.warning && { warning: secret.warning }),
  };
}

/** The four secret routes for one scope, so global and pipeline secrets behave alike; `what` names the scope in their docs ("The global", "A pipeline's own"). */
function secretRoutes(scopeOf: (c: Context<AppEnv>) => SecretScope, params: v.ObjectSchema<v.ObjectEntries, undefined>, what: string) {
  const their = what.toLowerCase();
  const on = what === "The global" ? "global" : "the pipeline";
  const withName = v.object({ ...params.entries, key: nameSchema });
  // Permission first, on the scope as named in the path: a caller without it learns nothing
  // else, not even whether the pipeline exists.
  const target = (c: Context<AppEnv>) => scopeKey(scopeOf(c));
  const read = permit("secrets", "read", target);
  const write = permit("secrets", "write", target);
  /** The scope, once its pipeline is known to exist. */
  const existing = async (c: Context<AppEnv>): Promise<SecretScope> => {
    const scope = scopeOf(c);
    if (scope.kind === "pipeline") await requirePipeline(c.get("deps").db, scope.pipeline);
    return scope;
  };
  return new Hono<AppEnv>()
    .get(
      "/",
      doc({
        summary: `${what} secrets (names and dates, never values; warning when masking may miss parts of a value: JSON, a PEM key, several lines, short)`,
        permission: `secrets:read on ${on}`,
        response: secretListAnswer,
      }),
      read,
      validate("param", params),
      async (c) => {
        const secrets = await c.get("deps").secrets.list(await existing(c));
        return c.json({ secrets: secrets.map(secretJson) });
      },
    )
    .get("/:key", doc({ summary: `One of ${their} secrets: its metadata`, permission: `secrets:read on ${on}`, response: secretAnswer }), read, validate("param", withName), async (c) => {
      const name = c.req.param("key");
      const secret = await c.get("deps").secrets.get(await existing(c), name);
      if (!secret) throw new NotFoundError(`secret ${name} not found`);
      return c.json({ secret: secretJson(secret) });
    })
    .put("/:key", doc({ summary: `Set one of ${their} secrets (201 new, 200 replaced)`, permission: `secrets:write on ${on}`, success: [201, 200], response: secretAnswer }), write, validate("param", withName), validate("json", putBody), async (c) => {
      const deps = c.get("deps");
      const token = c.get("token");
      const { secret, created } = await deps.secrets.set(await existing(c), c.req.param("key"), c.req.valid("json").value, deps.now(), {
        name: token.name,
        userId: token.userId,
      });
      // The store recorded a secret.flagged event: event streams look now.
      if (secret.warning) deps.bus.publish({ kind: "secret.flagged" });
      return c.json({ secret: secretJson(secret) }, created ? 201 : 200);
    })
    .delete("/:key", doc({ summary: `Delete one of ${their} secrets`, permission: `secrets:write on ${on}`, response: deletedAnswer }), write, validate("param", withName), async (c) => {
      const name = c.req.param("key");
      const token = c.get("token");
      const deleted = await c.get("deps").secrets.delete(await existing(c), name, { name: token.name, userId: token.userId, at: c.get("deps").now() });
      if (!deleted) throw new NotFoundError(`secret ${name} not found`);
      return c.json({ deleted: name });
    });
}

export const globalSecretsApi = new Hono<AppEnv>()
  .post("/rotate-key", doc({ summary: "Re-encrypt every secret under a new key", permission: "secrets:write on every scope (target *)", response: rotatedKeyAnswer }), async (c) => {
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
  .route("/", secretRoutes(() => ({ kind: "global" }), v.object({}), "The global"));

export const pipelineSecretsApi = secretRoutes(
  (c) => ({ kind: "pipeline", pipeline: { namespace: c.req.param("ns")!, id: c.req.param("id")! } }),
  pipelineParams,
  "A pipeline's own",
);
