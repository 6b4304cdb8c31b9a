// /api/v1/environments: deployment targets. List, create (POST, 409 when taken), inspect (with
// what runs there now and its deployments), create or change (PUT), delete, and test the
// connection. Secrets are named, never shown. An environment is shared by every namespace, or
// a namespace's own: `?namespace=` names which on every route under /:name (and filters the list).
import { Hono, type Context } from "hono";
import { iso } from "./json.ts";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { requireEnvironmentRights } from "../../auth/environment-rights.ts";
import { currentDeployments, listDeployments, type DeploymentRow } from "../../db/repos/deployments.ts";
import { listEnvironments, nameOf, requireEnvironment, type EnvironmentRow } from "../../db/repos/environments.ts";
import { ValidationError } from "../../domain/errors.ts";
import { environmentKey, environmentNameSchema, environmentNamespaceSchema, environmentSettingsShape, ENVIRONMENT_NAME_RULE, parseEnvironmentSettings, type Protection } from "../../domain/environments.ts";
import { ID_PATTERN } from "../../domain/ids.ts";
import { SERVICE_PATTERN } from "../../domain/deploy-tasks.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { longRequest } from "../middleware/long-request.ts";
import { validate } from "../validate.ts";
import { addressedEnvironment, addressedKey, environmentNamespaceQuery } from "../environment-address.ts";
import { deploymentAnswer, environmentAnswer, environmentDetailAnswer, environmentListAnswer, environmentTestAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

/** How many deployments GET /environments/:name shows. */
const HISTORY_LIMIT = 50;

const nameParams = v.object({ name: v.pipe(v.string(), v.regex(ID_PATTERN, `must be ${ENVIRONMENT_NAME_RULE}`)) });

/**
 * The target of POST /environments: the key the body names, read before anything is validated
 * (the permission comes first); a body without a name is checked against "(unnamed)".
 */
async function bodyNameTarget(c: Context<AppEnv>): Promise<string> {
  try {
    const body: unknown = JSON.parse(await c.req.text());
    if (typeof body === "object" && body !== null && typeof (body as { name?: unknown }).name === "string") {
      const { name, namespace } = body as { name: string; namespace?: unknown };
      return environmentKey({ namespace: typeof namespace === "string" ? namespace : null, name });
    }
  } catch {
    // Not JSON: the validator answers that, once the permission is granted.
  }
  return "(unnamed)";
}

/** Protection as a body gives it back: `wait` in milliseconds. */
export function protectionJson(protection: Protection) {
  const { waitMs, ...rules } = protection;
  return { ...rules, ...(waitMs !== undefined && { wait: waitMs }) };
}

export function environmentJson(row: EnvironmentRow) {
  return {
    name: nameOf(row),
    /** The namespace whose pipelines alone deploy here; null when shared by every namespace. */
    namespace: row.namespace,
    provider: row.provider,
    config: row.config,
    /** Names of global secrets; never their values. */
    secrets: row.secrets,
    ...(row.description !== null && { description: row.description }),
    protection: protectionJson(row.protection),
    /** The last word on whether its target answers: a connection test's or a deploy's; "unknown" before any. */
    status: row.status === null ? { state: "unknown" as const } : { state: row.status, ...(row.statusDetail !== null && { detail: row.statusDetail }), checkedAt: iso(row.statusAt) },
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** The run that deployed it, or who asked for a rollback. */
const originOf = (row: DeploymentRow) =>
  row.namespace !== null && row.pipelineId !== null && row.runId !== null
    ? { run: { namespace: row.namespace, pipeline: row.pipelineId, id: row.runId }, ...(row.taskId !== null && { task: row.taskId }) }
    : { ...(row.by !== null && { by: row.by }) };

export function deploymentJson(row: DeploymentRow) {
  return {
    id: row.id,
    service: row.service,
    image: row.image,
    previousImage: row.previousImage,
    state: row.state,
    ...(row.reason !== null && { reason: row.reason }),
    strategy: row.strategy,
    ...originOf(row),
    startedAt: iso(row.startedAt),
    endedAt: iso(row.endedAt),
  };
}

/** What runs in the environment: a service's newest succeeded deployment. */
function currentJson(row: DeploymentRow) {
  return { service: row.service, image: row.image, deployedAt: iso(row.endedAt ?? row.startedAt), ...originOf(row) };
}

/** A new environment's body as the document shows it: its name and namespace, and its settings. */
const newEnvironmentShape = v.object({ name: v.string(), namespace: v.optional(v.nullable(v.string())), ...environmentSettingsShape.entries });

const objectBody = (fields: string) =>
  v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), `must be an object like { ${fields} }`);

/** The settings of a body, or a ValidationError naming every problem. */
function settingsOf(body: Record<string, unknown>, problems: string[] = []) {
  const parsed = parseEnvironmentSettings(body);
  if (!parsed.ok) problems.push(parsed.message);
  if (problems.length || !parsed.ok) throw new ValidationError(problems.join("; "));
  return parsed.settings;
}

export const environmentsApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "Environments the caller may read (environments:read on the key: its name, or <namespace>/<name> for a namespace's own): name, namespace (null when shared), provider, config, secrets (names only), description, protection, status { state: ok|failing|unknown, detail, checkedAt }; ?namespace= lists what that namespace's deploys reach (its own and the shared ones)", response: environmentListAnswer }), validate("query", environmentNamespaceQuery), async (c) => {
    // A list shows what the caller may read; nothing to deny. With ?namespace=: what its deploys reach.
    const { namespace } = c.req.valid("query");
    const rows = (await listEnvironments(c.get("deps").db, { ...(namespace !== undefined && { namespace }) })).filter((row) => may(c, "environments", "read", row.key));
    return c.json({ environments: rows.map(environmentJson) });
  })
  .post("/", doc({ summary: "Create an environment (environments:write on its key): 201 { environment }; 409 when the name is taken (in its namespace, or among the shared ones)", permission: "environments:write", success: 201, body: newEnvironmentShape, response: environmentAnswer }), permit("environments", "write", bodyNameTarget), validate("json", objectBody("name, namespace, provider, config, secrets, description"), { document: false }), async (c) => {
    const deps = c.get("deps");
    const { name, namespace, ...rest } = c.req.valid("json");
    const problems: string[] = [];
    const named = v.safeParse(environmentNameSchema, name);
    if (name === undefined) problems.push(`name is required (${ENVIRONMENT_NAME_RULE})`);
    else if (!named.success) problems.push(`name: ${named.issues[0].message}`);
    const spaced = v.safeParse(v.nullish(environmentNamespaceSchema), namespace);
    if (!spaced.success) problems.push(spaced.issues[0].message);
    const settings = settingsOf(rest, problems);
    requireEnvironmentRights(c, settings);
    const environment = await deps.environments.create({ namespace: spaced.success ? (spaced.output ?? null) : null, name: name as string }, settings, c.get("token").name);
    return c.json({ environment: environmentJson(environment) }, 201);
  })
  .get("/:name", doc({ summary: "One environment, what runs there now (current: [{ service, image, deployedAt, run: { namespace, pipeline, id }, task }], each service's newest succeeded deployment) and its last 50 deployments, newest first ({ id, service, image, previousImage, state: running|succeeded|failed|rolled_back, reason, strategy, run, task, startedAt, endedAt })", permission: "environments:read", response: environmentDetailAnswer }), permit("environments", "read", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), async (c) => {
    const { db } = c.get("deps");
    const key = addressedKey(c);
    const row = await requireEnvironment(db, key);
    const [current, history] = await Promise.all([currentDeployments(db, key), listDeployments(db, key, HISTORY_LIMIT)]);
    return c.json({ environment: environmentJson(row), current: current.map(currentJson), deployments: history.map(deploymentJson) });
  })
  .put("/:name", doc({ summary: "Create (201) or change (200) an environment (environments:write); its deployments stay", permission: "environments:write", success: [201, 200], body: environmentSettingsShape, response: environmentAnswer }), permit("environments", "write", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), validate("json", objectBody("provider, config, secrets, description"), { document: false }), async (c) => {
    const settings = settingsOf(c.req.valid("json"));
    requireEnvironmentRights(c, settings);
    const { environment, created } = await c.get("deps").environments.save(addressedEnvironment(c), settings, c.get("token").name);
    return c.json({ environment: environmentJson(environment) }, created ? 201 : 200);
  })
  .delete("/:name", doc({ summary: "Delete an environment and its deployment history; the services deployed keep running on the target", permission: "environments:write", success: 204 }), permit("environments", "write", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), async (c) => {
    await c.get("deps").environments.remove(addressedKey(c), c.get("token").name);
    return c.body(null, 204);
  })
  .post("/:name/test", doc({ summary: "Test the connection (environments:read): the provider's own check (a swarm: the engine answers and is a swarm manager). 200 { ok: true, detail } or { ok: false, problem }", permission: "environments:read", response: environmentTestAnswer }), permit("environments", "read", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), async (c) => {
    // The target's answer either way is a 200: a failed test is a finding, not a failed request.
    return c.json(await c.get("deps").environments.test(addressedKey(c)));
  })
  .post(
    "/:name/services/:service/rollback", doc({ summary: "Redeploy a service's previous successful image (environments:write): answers when the service runs it again, with the deployment (state succeeded, or failed and why); 404 when there is no earlier successful deployment", permission: "environments:write", response: deploymentAnswer }),
    permit("environments", "write", addressedKey),
    longRequest,
    validate("param", v.object({ ...nameParams.entries, service: v.pipe(v.string(), v.regex(SERVICE_PATTERN, "must be a service name")) })),
    validate("query", environmentNamespaceQuery),
    async (c) => {
      const { service } = c.req.valid("param");
      // Answers once the service runs the image again, or with the deployment failed and why.
      const { deployment } = await c.get("deps").environments.rollback(addressedKey(c), service, c.get("token").name);
      return c.json({ deployment: deploymentJson(deployment) });
    },
  );
