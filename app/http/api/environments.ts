// /api/v1/environments: deployment targets. List, create (POST, 409 when taken), inspect (with
// what runs there now and its deployments), create or change (PUT), delete, and test the
// connection. Secrets are named, never shown.
import { Hono, type Context } from "hono";
import { iso } from "./json.ts";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { requireEnvironmentRights } from "../../auth/environment-rights.ts";
import { currentDeployments, listDeployments, type DeploymentRow } from "../../db/repos/deployments.ts";
import { listEnvironments, requireEnvironment, type EnvironmentRow } from "../../db/repos/environments.ts";
import { ValidationError } from "../../domain/errors.ts";
import { environmentNameSchema, ENVIRONMENT_NAME_RULE, parseEnvironmentSettings, type Protection } from "../../domain/environments.ts";
import { ID_PATTERN } from "../../domain/ids.ts";
import { providerFor } from "../../engine/deploy/providers.ts";
import { rollbackService } from "../../engine/deploy/rollback-service.ts";
import { SERVICE_PATTERN } from "../../domain/deploy-tasks.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { longRequest } from "../middleware/long-request.ts";
import { validate } from "../validate.ts";

/** How many deployments GET /environments/:name shows. */
const HISTORY_LIMIT = 50;

const nameParams = v.object({ name: v.pipe(v.string(), v.regex(ID_PATTERN, `must be ${ENVIRONMENT_NAME_RULE}`)) });
const target = (c: Context<AppEnv>) => c.req.param("name") ?? "";

/**
 * The target of POST /environments: the name in the body, read before anything is validated
 * (the permission comes first); a body without one is checked against "(unnamed)".
 */
async function bodyNameTarget(c: Context<AppEnv>): Promise<string> {
  try {
    const body: unknown = JSON.parse(await c.req.text());
    if (typeof body === "object" && body !== null && typeof (body as { name?: unknown }).name === "string") return (body as { name: string }).name;
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
    name: row.name,
    provider: row.provider,
    config: row.config,
    /** Names of global secrets; never their values. */
    secrets: row.secrets,
    ...(row.description !== null && { description: row.description }),
    protection: protectionJson(row.protection),
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
  .get("/", async (c) => {
    // A list shows what the caller may read; nothing to deny.
    const rows = (await listEnvironments(c.get("deps").db)).filter((row) => may(c, "environments", "read", row.name));
    return c.json({ environments: rows.map(environmentJson) });
  })
  .post("/", permit("environments", "write", bodyNameTarget), validate("json", objectBody("name, provider, config, secrets, description")), async (c) => {
    const deps = c.get("deps");
    const { name, ...rest } = c.req.valid("json");
    const problems: string[] = [];
    const named = v.safeParse(environmentNameSchema, name);
    if (name === undefined) problems.push(`name is required (${ENVIRONMENT_NAME_RULE})`);
    else if (!named.success) problems.push(`name: ${named.issues[0].message}`);
    const settings = settingsOf(rest, problems);
    requireEnvironmentRights(c, settings);
    const environment = await deps.environments.create(name as string, settings, c.get("token").name);
    return c.json({ environment: environmentJson(environment) }, 201);
  })
  .get("/:name", permit("environments", "read", target), validate("param", nameParams), async (c) => {
    const { db } = c.get("deps");
    const { name } = c.req.valid("param");
    const row = await requireEnvironment(db, name);
    const [current, history] = await Promise.all([currentDeployments(db, name), listDeployments(db, name, HISTORY_LIMIT)]);
    return c.json({ environment: environmentJson(row), current: current.map(currentJson), deployments: history.map(deploymentJson) });
  })
  .put("/:name", permit("environments", "write", target), validate("param", nameParams), validate("json", objectBody("provider, config, secrets, description")), async (c) => {
    const { name } = c.req.valid("param");
    const settings = settingsOf(c.req.valid("json"));
    requireEnvironmentRights(c, settings);
    const { environment, created } = await c.get("deps").environments.save(name, settings, c.get("token").name);
    return c.json({ environment: environmentJson(environment) }, created ? 201 : 200);
  })
  .delete("/:name", permit("environments", "write", target), validate("param", nameParams), async (c) => {
    const { name } = c.req.valid("param");
    await c.get("deps").environments.remove(name, c.get("token").name);
    return c.body(null, 204);
  })
  .post("/:name/test", permit("environments", "read", target), validate("param", nameParams), async (c) => {
    const { name } = c.req.valid("param");
    // The target's answer either way is a 200: a failed test is a finding, not a failed request.
    return c.json(await c.get("deps").environments.test(name));
  })
  .post(
    "/:name/services/:service/rollback",
    permit("environments", "write", target),
    longRequest,
    validate("param", v.object({ ...nameParams.entries, service: v.pipe(v.string(), v.regex(SERVICE_PATTERN, "must be a service name")) })),
    async (c) => {
      const deps = c.get("deps");
      const { name, service } = c.req.valid("param");
      const environment = await requireEnvironment(deps.db, name);
      // Answers once the service runs the image again, or with the deployment failed and why.
      const { deployment } = await rollbackService(
        { db: deps.db, now: deps.now, providerFor: (row) => providerFor(row, { ...(deps.config.dockerHost !== undefined && { defaultDockerHost: deps.config.dockerHost }) }) },
        environment,
        service,
        c.get("token").name,
      );
      return c.json({ deployment: deploymentJson(deployment) });
    },
  );
