// Web pages: /environments (the deployment targets the caller may see, what runs in each, and
// a create form) and /environments/:name (settings with an edit form, Test connection, Delete,
// what runs there with Roll back, the deployment history). As in the API, `?namespace=` names a
// namespace's own environment on every route under /:name (absent: the shared one) and filters
// the list; permissions are checked first, on the environment's key ("staging" or
// "team-a/staging"), and every form carries CSRF. Changes go through the same EnvironmentAdmin
// as the API, so both check and record them alike.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import { may, maySome, requirePermission } from "../../auth/roles.ts";
import { requireEnvironmentRights } from "../../auth/environment-rights.ts";
import { currentDeployments, currentDeploymentsOf, listDeployments, previousSuccessfulImage, type DeploymentRow } from "../../db/repos/deployments.ts";
import { getEnvironment, listEnvironments, nameOf, requireEnvironment, type EnvironmentRow } from "../../db/repos/environments.ts";
import { ConflictError, ForbiddenError, GantryError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { SERVICE_PATTERN } from "../../domain/deploy-tasks.ts";
import { environmentKey, environmentNameSchema, environmentNamespaceSchema, environmentRefOf, parseEnvironmentSettings, type EnvironmentRef } from "../../domain/environments.ts";
import { idSchema } from "../../domain/ids.ts";
import type { TestOutcome } from "../../engine/deploy/environments.ts";
import { statusOf } from "../errors.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit } from "../middleware/permit.ts";
import { longRequest } from "../middleware/long-request.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { configFieldsOf, EMPTY_ENVIRONMENT_FORM, formOf, type EnvironmentForm, type EnvironmentView } from "./components/environment-parts.tsx";
import { formText } from "./form.ts";
import { pageSession } from "./page-session.ts";
import { EnvironmentPage, type RollbackReport } from "./pages/environment.tsx";
import { EnvironmentsPage } from "./pages/environments.tsx";
import { environmentPath } from "./paths.ts";
import { addressedEnvironment, addressedKey, environmentNamespaceQuery } from "../environment-address.ts";

/** How many deployments an environment's page shows, as GET /api/v1/environments/:name. */
const HISTORY_LIMIT = 50;

const nameParams = v.object({ name: idSchema });
const serviceParams = v.object({ name: idSchema, service: v.pipe(v.string(), v.regex(SERVICE_PATTERN, "must be a service name (a-z, 0-9 and -)")) });

/** An environment's key as a `?deleted=` notice gives it back, when it is one. */
function keyOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const ref = environmentRefOf(text);
  if (!v.is(environmentNameSchema, ref.name) || (ref.namespace !== null && !v.is(environmentNamespaceSchema, ref.namespace))) return undefined;
  return environmentKey(ref);
}

/** Whether any of the caller's grants allows `action` on some environment (which one is checked where it is named). */
const grantsSome = (c: Context<AppEnv>, action: "read" | "write") => maySome(c, "environments", action);

/** `current`: what runs there, as currentDeployments (or currentDeploymentsOf) reads it. */
function viewOf(c: Context<AppEnv>, row: EnvironmentRow, current: DeploymentRow[]): EnvironmentView {
  return {
    key: row.key,
    name: nameOf(row),
    namespace: row.namespace,
    provider: row.provider,
    ...(row.config.dockerHost !== undefined && { dockerHost: row.config.dockerHost }),
    ...(row.config.registry !== undefined && { registry: row.config.registry }),
    ...(row.config.registryAuth !== undefined && { registryAuth: row.config.registryAuth }),
    config: { ...row.config },
    status:
      row.status === null
        ? { state: "unknown" }
        : { state: row.status, ...(row.statusDetail !== null && row.statusDetail !== "" && { detail: row.statusDetail }), ...(row.statusAt !== null && { checkedAt: row.statusAt }) },
    secrets: row.secrets,
    ...(row.description !== null && { description: row.description }),
    protection: row.protection,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    current,
    canWrite: may(c, "environments", "write", row.key),
  };
}

/** The list's permission check, first: a caller who may neither read an environment nor create one gets a 403. */
const mayList = createMiddleware<AppEnv>(async (c, next) => {
  if (!grantsSome(c, "read") && !grantsSome(c, "write")) throw new ForbiddenError(`token "${c.get("token").name}" lacks permission environments:read`);
  await next();
});

/** The list (with `namespace`: what its deploys reach), or a 403 for a caller who may neither read an environment nor create one. */
async function renderList(c: Context<AppEnv>, extra: { form?: EnvironmentForm; notice?: string; namespace?: string }, status: ContentfulStatusCode = 200) {
  if (!grantsSome(c, "read") && !grantsSome(c, "write")) throw new ForbiddenError(`token "${c.get("token").name}" lacks permission environments:read`);
  const { db, now } = c.get("deps");
  const rows = (await listEnvironments(db, { ...(extra.namespace !== undefined && { namespace: extra.namespace }) })).filter((row) => may(c, "environments", "read", row.key));
  // One query for what runs in every listed environment, not one per environment.
  const current = await currentDeploymentsOf(db, rows.map((row) => row.key));
  const environments = rows.map((row) => viewOf(c, row, current.get(row.key) ?? []));
  // A page rendered by a POST names its GET page, so the layout's forms come back there.
  const session = await pageSession(c, c.req.method === "GET" ? undefined : "/environments");
  const form = grantsSome(c, "write") ? (extra.form ?? EMPTY_ENVIRONMENT_FORM) : undefined;
  return c.html(
    <EnvironmentsPage
      session={session}
      now={now()}
      environments={environments}
      {...(extra.namespace !== undefined && { namespace: extra.namespace })}
      {...(form && { form })}
      {...(extra.notice && { notice: extra.notice })}
    />,
    status,
  );
}

interface EnvironmentExtra {
  form?: EnvironmentForm;
  notice?: string;
  test?: TestOutcome;
  rollback?: RollbackReport;
}

/** An environment's page, by its key. */
async function renderEnvironment(c: Context<AppEnv>, key: string, extra: EnvironmentExtra = {}, status: ContentfulStatusCode = 200) {
  const { db, now } = c.get("deps");
  const row = await requireEnvironment(db, key);
  const environment = viewOf(c, row, await currentDeployments(db, row.key));
  const history = await listDeployments(db, key, HISTORY_LIMIT);
  // Roll back is offered where there is an earlier image to go back to.
  const rollbackable: string[] = [];
  if (environment.canWrite) {
    for (const deployment of environment.current) if (await previousSuccessfulImage(db, key, deployment.service)) rollbackable.push(deployment.service);
  }
  const { form, ...rest } = extra;
  return c.html(
    <EnvironmentPage
      session={await pageSession(c, environmentPath(key))}
      now={now()}
      environment={environment}
      history={history}
      rollbackable={rollbackable}
      {...(environment.canWrite && { form: form ?? formOf(environment) })}
      {...rest}
    />,
    status,
  );
}

/** The form's fields as typed; the edit form's name and namespace are the environment's own. */
function typedForm(body: Record<string, unknown>, ref?: EnvironmentRef): EnvironmentForm {
  return {
    name: ref?.name ?? formText(body.name).trim(),
    namespace: ref ? (ref.namespace ?? "") : formText(body.namespace).trim(),
    provider: formText(body.provider).trim(),
    config: configFieldsOf(formText(body.provider).trim(), body, formText),
    secrets: formText(body.secrets),
    description: formText(body.description).trim(),
    pipelines: formText(body.pipelines),
    branches: formText(body.branches),
    approval: formText(body.approval) !== "",
    wait: formText(body.wait).trim(),
  };
}

/** Names or patterns separated by commas or lines, without the empty ones. */
const listOf = (text: string) =>
  text
    .split(/[,\r\n]+/)
    .map((item) => item.trim())
    .filter((item) => item !== "");

/** The settings as the one schema reads them (what the API takes): lists split on commas and lines, empty fields left out. */
function settingsInput(form: EnvironmentForm): Record<string, unknown> {
  const pipelines = listOf(form.pipelines);
  const branches = listOf(form.branches);
  return {
    provider: form.provider,
    // Only the fields typed in: an empty one means the provider's default.
    config: form.config,
    secrets: listOf(form.secrets),
    ...(form.description !== "" && { description: form.description }),
    protection: {
      ...(pipelines.length > 0 && { pipelines }),
      ...(branches.length > 0 && { branches }),
      ...(form.approval && { approval: true }),
      ...(form.wait !== "" && { wait: form.wait }),
    },
  };
}

const isFormProblem = (error: unknown): error is GantryError => error instanceof ConflictError || error instanceof ValidationError || error instanceof ForbiddenError;

export const environmentPages = new Hono<AppEnv>()
  .get("/", requireSession, mayList, validate("query", environmentNamespaceQuery), async (c) => {
    const { namespace } = c.req.valid("query");
    const deleted = keyOf(c.req.query("deleted"));
    return renderList(c, {
      ...(namespace !== undefined && { namespace }),
      ...(deleted && { notice: `Environment ${deleted} deleted, with its deployment history; the services deployed there keep running.` }),
    });
  })
  .post("/", requireSession, requireCsrf, async (c) => {
    const deps = c.get("deps");
    const typed = typedForm(await c.req.parseBody());
    const typedKey = typed.name === "" ? "(unnamed)" : environmentKey({ namespace: typed.namespace === "" ? null : typed.namespace, name: typed.name });
    // A caller who may create no environment at all learns nothing but the 403.
    if (!grantsSome(c, "write")) requirePermission(c, "environments", "write", typedKey);
    const named = v.safeParse(environmentNameSchema, typed.name);
    const spaced = v.safeParse(environmentNamespaceSchema, typed.namespace);
    const namespace = typed.namespace === "" ? null : spaced.success ? spaced.output : undefined;
    if (named.success && namespace !== undefined) {
      const ref = { namespace, name: named.output };
      requirePermission(c, "environments", "write", environmentKey(ref));
      if (await getEnvironment(deps.db, environmentKey(ref))) {
        const where = namespace === null ? "among the shared ones" : `in namespace ${namespace}`;
        return renderList(c, { form: { ...typed, error: `Name: an environment named ${ref.name} already exists ${where} (change it on its page)` } }, 409);
      }
    }
    // Every problem in one message, as the API words them.
    const problems: string[] = [];
    if (!named.success) problems.push(`Name: ${named.issues[0].message}`);
    if (namespace === undefined && !spaced.success) problems.push(`Namespace: ${spaced.issues[0].message.replace(/^namespace /, "")}`);
    const parsed = parseEnvironmentSettings(settingsInput(typed));
    if (!parsed.ok) problems.push(parsed.message);
    if (!named.success || namespace === undefined || !parsed.ok) return renderList(c, { form: { ...typed, error: problems.join("; ") } }, 400);
    const ref = { namespace, name: named.output };
    try {
      requireEnvironmentRights(c, parsed.settings);
      await deps.environments.create(ref, parsed.settings, c.get("token").name);
    } catch (error) {
      if (!isFormProblem(error)) throw error;
      return renderList(c, { form: { ...typed, error: error.message } }, statusOf(error));
    }
    return c.redirect(environmentPath(environmentKey(ref), "", { created: "1" }), 303);
  })
  .get("/:name", requireSession, permit("environments", "read", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), async (c) => {
    const key = addressedKey(c);
    let notice: string | undefined;
    if (c.req.query("created") !== undefined) notice = `Environment ${key} created. Test its connection to see that its engine answers.`;
    if (c.req.query("saved") !== undefined) notice = `Settings of ${key} saved.`;
    return renderEnvironment(c, key, { ...(notice && { notice }) });
  })
  .post("/:name", requireSession, requireCsrf, permit("environments", "write", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), async (c) => {
    const deps = c.get("deps");
    const ref = addressedEnvironment(c);
    const key = environmentKey(ref);
    // Changed, not created again after someone deleted it meanwhile.
    await requireEnvironment(deps.db, key);
    const typed = typedForm(await c.req.parseBody(), ref);
    const parsed = parseEnvironmentSettings(settingsInput(typed));
    if (!parsed.ok) return renderEnvironment(c, key, { form: { ...typed, error: parsed.message } }, 400);
    try {
      requireEnvironmentRights(c, parsed.settings);
      await deps.environments.save(ref, parsed.settings, c.get("token").name);
    } catch (error) {
      if (!isFormProblem(error)) throw error;
      return renderEnvironment(c, key, { form: { ...typed, error: error.message } }, statusOf(error));
    }
    return c.redirect(environmentPath(key, "", { saved: "1" }), 303);
  })
  .post("/:name/test", requireSession, requireCsrf, permit("environments", "read", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), async (c) => {
    const key = addressedKey(c);
    // The target's answer either way is a 200: a failed test is a finding, not a failed request.
    // The test records the environment's status, so the page rendered after it shows the new one.
    const test = await c.get("deps").environments.test(key);
    return renderEnvironment(c, key, { test });
  })
  .post("/:name/delete", requireSession, requireCsrf, permit("environments", "write", addressedKey), validate("param", nameParams), validate("query", environmentNamespaceQuery), async (c) => {
    const key = addressedKey(c);
    await c.get("deps").environments.remove(key, c.get("token").name);
    return c.redirect(`/environments?${new URLSearchParams({ deleted: key })}`, 303);
  })
  .post(
    "/:name/services/:service/rollback",
    requireSession,
    requireCsrf,
    permit("environments", "write", addressedKey),
    longRequest,
    validate("param", serviceParams),
    validate("query", environmentNamespaceQuery),
    async (c) => {
      const deps = c.get("deps");
      const { service } = c.req.valid("param");
      const key = addressedKey(c);
      // An environment that is not there is a 404, not a rollback that found nothing.
      await requireEnvironment(deps.db, key);
      let report: RollbackReport;
      let status: ContentfulStatusCode = 200;
      try {
        const { result } = await deps.environments.rollback(key, service, c.get("token").name);
        report = result.ok ? { service, ok: true, image: result.image } : { service, ok: false, problem: result.reason };
        // The target did not take it (the failed attempt is in the history).
        if (!result.ok) status = 502;
      } catch (error) {
        // Nothing earlier to go back to: said on the page, which is still there.
        if (!(error instanceof GantryError)) throw error;
        report = { service, ok: false, problem: error.message };
        status = error instanceof NotFoundError ? 409 : statusOf(error);
      }
      return renderEnvironment(c, key, { rollback: report }, status);
    },
  );
