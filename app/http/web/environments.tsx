// Web pages: /environments (the deployment targets the caller may see, what runs in each, and
// a create form) and /environments/:name (settings with an edit form, Test connection, Delete,
// what runs there with Roll back, the deployment history), with the API's permission checks
// (environments read/write on the environment's name) and CSRF on every form. Changes go
// through the same EnvironmentAdmin as the API, so both check and record them alike.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import { may, requirePermission } from "../../auth/roles.ts";
import { requireEnvironmentRights } from "../../auth/environment-rights.ts";
import { currentDeployments, listDeployments, previousSuccessfulImage } from "../../db/repos/deployments.ts";
import { getEnvironment, listEnvironments, requireEnvironment, type EnvironmentRow } from "../../db/repos/environments.ts";
import { ConflictError, ForbiddenError, GantryError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { SERVICE_PATTERN } from "../../domain/deploy-tasks.ts";
import { environmentNameSchema, parseEnvironmentSettings } from "../../domain/environments.ts";
import { idSchema } from "../../domain/ids.ts";
import type { TestOutcome } from "../../engine/deploy/environments.ts";
import { providerFor } from "../../engine/deploy/providers.ts";
import { rollbackService } from "../../engine/deploy/rollback-service.ts";
import { statusOf } from "../errors.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit } from "../middleware/permit.ts";
import { longRequest } from "../middleware/long-request.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { EMPTY_ENVIRONMENT_FORM, formOf, type EnvironmentForm, type EnvironmentView } from "./components/environment-parts.tsx";
import { formText } from "./form.ts";
import { pageSession } from "./page-session.ts";
import { EnvironmentPage, type RollbackReport } from "./pages/environment.tsx";
import { EnvironmentsPage } from "./pages/environments.tsx";
import { environmentPath } from "./paths.ts";

/** How many deployments an environment's page shows, as GET /api/v1/environments/:name. */
const HISTORY_LIMIT = 50;

const nameParams = v.object({ name: idSchema });
const serviceParams = v.object({ name: idSchema, service: v.pipe(v.string(), v.regex(SERVICE_PATTERN, "must be a service name (a-z, 0-9 and -)")) });
const target = (c: Context<AppEnv>) => c.req.param("name") ?? "";

/** Whether any of the caller's grants allows `action` on some environment (which one is checked where it is named). */
const grantsSome = (c: Context<AppEnv>, action: "read" | "write") =>
  c.get("permissions").some((permission) => (permission.resource === "*" || permission.resource === "environments") && permission.actions.includes(action));


async function viewOf(c: Context<AppEnv>, row: EnvironmentRow): Promise<EnvironmentView> {
  return {
    name: row.name,
    provider: row.provider,
    ...(row.config.dockerHost !== undefined && { dockerHost: row.config.dockerHost }),
    secrets: row.secrets,
    ...(row.description !== null && { description: row.description }),
    protection: row.protection,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    current: await currentDeployments(c.get("deps").db, row.name),
    canWrite: may(c, "environments", "write", row.name),
  };
}

/** The list, or a 403 for a caller who may neither read an environment nor create one. */
async function renderList(c: Context<AppEnv>, extra: { form?: EnvironmentForm; notice?: string }, status: ContentfulStatusCode = 200) {
  if (!grantsSome(c, "read") && !grantsSome(c, "write")) throw new ForbiddenError(`token "${c.get("token").name}" lacks permission environments:read`);
  const rows = (await listEnvironments(c.get("deps").db)).filter((row) => may(c, "environments", "read", row.name));
  const environments = await Promise.all(rows.map((row) => viewOf(c, row)));
  // A page rendered by a POST names its GET page, so the layout's forms come back there.
  const session = await pageSession(c, "/environments");
  const form = grantsSome(c, "write") ? (extra.form ?? EMPTY_ENVIRONMENT_FORM) : undefined;
  return c.html(<EnvironmentsPage session={session} environments={environments} {...(form && { form })} {...(extra.notice && { notice: extra.notice })} />, status);
}

interface EnvironmentExtra {
  form?: EnvironmentForm;
  notice?: string;
  test?: TestOutcome;
  rollback?: RollbackReport;
}

async function renderEnvironment(c: Context<AppEnv>, name: string, extra: EnvironmentExtra = {}, status: ContentfulStatusCode = 200) {
  const { db, now } = c.get("deps");
  const environment = await viewOf(c, await requireEnvironment(db, name));
  const history = await listDeployments(db, name, HISTORY_LIMIT);
  // Roll back is offered where there is an earlier image to go back to.
  const rollbackable: string[] = [];
  if (environment.canWrite) {
    for (const deployment of environment.current) if (await previousSuccessfulImage(db, name, deployment.service)) rollbackable.push(deployment.service);
  }
  const { form, ...rest } = extra;
  return c.html(
    <EnvironmentPage
      session={await pageSession(c, environmentPath(name))}
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

/** The form's fields as typed. */
function typedForm(body: Record<string, unknown>, name?: string): EnvironmentForm {
  return {
    name: name ?? formText(body.name).trim(),
    provider: formText(body.provider).trim(),
    dockerHost: formText(body.dockerHost).trim(),
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
    config: form.dockerHost === "" ? {} : { dockerHost: form.dockerHost },
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
  .get("/", requireSession, async (c) => {
    const deleted = v.safeParse(idSchema, c.req.query("deleted"));
    return renderList(c, deleted.success ? { notice: `Environment ${deleted.output} deleted, with its deployment history; the services deployed there keep running.` } : {});
  })
  .post("/", requireSession, requireCsrf, async (c) => {
    const deps = c.get("deps");
    const typed = typedForm(await c.req.parseBody());
    // A caller who may create no environment at all learns nothing but the 403.
    if (!grantsSome(c, "write")) requirePermission(c, "environments", "write", typed.name || "(unnamed)");
    const named = v.safeParse(environmentNameSchema, typed.name);
    if (named.success) {
      requirePermission(c, "environments", "write", named.output);
      if (await getEnvironment(deps.db, named.output)) {
        return renderList(c, { form: { ...typed, error: `Name: an environment named ${named.output} already exists (change it on its page)` } }, 409);
      }
    }
    // Every problem in one message, as the API words them.
    const problems: string[] = [];
    if (!named.success) problems.push(`Name: ${named.issues[0].message}`);
    const parsed = parseEnvironmentSettings(settingsInput(typed));
    if (!parsed.ok) problems.push(parsed.message);
    if (!named.success || !parsed.ok) return renderList(c, { form: { ...typed, error: problems.join("; ") } }, 400);
    try {
      requireEnvironmentRights(c, parsed.settings);
      await deps.environments.create(named.output, parsed.settings, c.get("token").name);
    } catch (error) {
      if (!isFormProblem(error)) throw error;
      return renderList(c, { form: { ...typed, error: error.message } }, statusOf(error));
    }
    return c.redirect(`${environmentPath(named.output)}?created=1`, 303);
  })
  .get("/:name", requireSession, permit("environments", "read", target), validate("param", nameParams), async (c) => {
    const { name } = c.req.valid("param");
    let notice: string | undefined;
    if (c.req.query("created") !== undefined) notice = `Environment ${name} created. Test its connection to see that its engine answers.`;
    if (c.req.query("saved") !== undefined) notice = `Settings of ${name} saved.`;
    return renderEnvironment(c, name, { ...(notice && { notice }) });
  })
  .post("/:name", requireSession, requireCsrf, permit("environments", "write", target), validate("param", nameParams), async (c) => {
    const deps = c.get("deps");
    const { name } = c.req.valid("param");
    // Changed, not created again after someone deleted it meanwhile.
    await requireEnvironment(deps.db, name);
    const typed = typedForm(await c.req.parseBody(), name);
    const parsed = parseEnvironmentSettings(settingsInput(typed));
    if (!parsed.ok) return renderEnvironment(c, name, { form: { ...typed, error: parsed.message } }, 400);
    try {
      requireEnvironmentRights(c, parsed.settings);
      await deps.environments.save(name, parsed.settings, c.get("token").name);
    } catch (error) {
      if (!isFormProblem(error)) throw error;
      return renderEnvironment(c, name, { form: { ...typed, error: error.message } }, statusOf(error));
    }
    return c.redirect(`${environmentPath(name)}?saved=1`, 303);
  })
  .post("/:name/test", requireSession, requireCsrf, permit("environments", "read", target), validate("param", nameParams), async (c) => {
    const { name } = c.req.valid("param");
    // The target's answer either way is a 200: a failed test is a finding, not a failed request.
    const test = await c.get("deps").environments.test(name);
    return renderEnvironment(c, name, { test });
  })
  .post("/:name/delete", requireSession, requireCsrf, permit("environments", "write", target), validate("param", nameParams), async (c) => {
    const { name } = c.req.valid("param");
    await c.get("deps").environments.remove(name, c.get("token").name);
    return c.redirect(`/environments?${new URLSearchParams({ deleted: name })}`, 303);
  })
  .post("/:name/services/:service/rollback", requireSession, requireCsrf, permit("environments", "write", target), longRequest, validate("param", serviceParams), async (c) => {
    const deps = c.get("deps");
    const { name, service } = c.req.valid("param");
    const environment = await requireEnvironment(deps.db, name);
    const context = {
      db: deps.db,
      now: deps.now,
      providerFor: (row: EnvironmentRow) => providerFor(row, { ...(deps.config.dockerHost !== undefined && { defaultDockerHost: deps.config.dockerHost }) }),
    };
    let report: RollbackReport;
    let status: ContentfulStatusCode = 200;
    try {
      const { result } = await rollbackService(context, environment, service, c.get("token").name);
      report = result.ok ? { service, ok: true, image: result.image } : { service, ok: false, problem: result.reason };
      // The target did not take it (the failed attempt is in the history).
      if (!result.ok) status = 502;
    } catch (error) {
      // Nothing earlier to go back to: said on the page, which is still there.
      if (!(error instanceof GantryError)) throw error;
      report = { service, ok: false, problem: error.message };
      status = error instanceof NotFoundError ? 409 : statusOf(error);
    }
    return renderEnvironment(c, name, { rollback: report }, status);
  });
