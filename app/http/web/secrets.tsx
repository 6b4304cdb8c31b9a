// Web pages: /secrets: list (names, dates and masking warnings, never values), set and delete
// secrets, global or of one pipeline, with the API's permission checks (secrets read/write on the scope).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { may, requirePermission } from "../../auth/roles.ts";
import { getPipeline, listPipelines } from "../../db/repos/pipelines.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { ID_PATTERN } from "../../domain/ids.ts";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../../domain/secrets.ts";
import type { SecretScope } from "../../stores/secrets.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { fieldIssue, formText } from "./form.ts";
import { pageSession } from "./page-session.ts";
import { SecretsPage, type SecretForm } from "./pages/secrets.tsx";


/** "global" or "<namespace>/<pipeline>", as the store writes scopes. */
const isScope = (text: string) => {
  const parts = text.split("/");
  return text === "global" || (parts.length === 2 && parts.every((part) => ID_PATTERN.test(part)));
};
const scopeSchema = v.pipe(v.string("is required"), v.check(isScope, 'must be "global" or a pipeline'));
const nameSchema = v.pipe(v.string("is required"), v.trim(), v.regex(SECRET_NAME_PATTERN, `must be ${SECRET_NAME_RULE}`));

const setForm = v.object({ scope: scopeSchema, name: nameSchema, value: v.string("is required") });
const deleteForm = v.object({ scope: scopeSchema, name: nameSchema });
const noticeQuery = v.object({ set: v.optional(nameSchema), deleted: v.optional(nameSchema), scope: v.optional(scopeSchema) });

const FIELD_LABELS: Record<string, string> = { scope: "Scope", name: "Name", value: "Value" };

function scopeOf(text: string): SecretScope {
  if (text === "global") return { kind: "global" };
  const [namespace, id] = text.split("/") as [string, string];
  return { kind: "pipeline", pipeline: { namespace, id } };
}

/** The scopes the caller may write, global first, then each pipeline. */
async function writableScopes(c: Context<AppEnv>): Promise<string[]> {
  const pipelines = await listPipelines(c.get("deps").db);
  const scopes = ["global", ...pipelines.map((pipeline) => `${pipeline.namespace}/${pipeline.id}`)];
  return scopes.filter((scope) => may(c, "secrets", "write", scope));
}

/**
 * `writable` when the caller already has them (writableScopes), so they are not read twice;
 * `saved` names a secret just set, whose masking warning (if any) is repeated at the top.
 */
async function render(
  c: Context<AppEnv>,
  extra: { form?: SecretForm; notice?: string; saved?: { scope: string; name: string } },
  status: 200 | 400 = 200,
  writable?: string[],
) {
  const deps = c.get("deps");
  const secrets = (await deps.secrets.list()).filter((secret) => may(c, "secrets", "read", secret.scope));
  const { saved, ...props } = extra;
  const savedWarning = saved && secrets.find((secret) => secret.scope === saved.scope && secret.name === saved.name)?.warning;
  writable ??= await writableScopes(c);
  const readsAny = may(c, "secrets", "read", "global") || secrets.length > 0 || writable.length > 0;
  if (!readsAny) throw new ForbiddenError(`token "${c.get("token").name}" lacks permission secrets:read`);
  return c.html(
    <SecretsPage session={await pageSession(c)} now={deps.now()} secrets={secrets} writable={writable} {...props} {...(savedWarning && { savedWarning })} />,
    status,
  );
}

export const secretPages = new Hono<AppEnv>()
  .get("/", requireSession, async (c) => {
    const query = v.safeParse(noticeQuery, c.req.query());
    const scope = query.success && query.output.scope ? ` (${query.output.scope})` : "";
    let notice: string | undefined;
    let saved: { scope: string; name: string } | undefined;
    if (query.success && query.output.set) {
      notice = `Secret ${query.output.set}${scope} saved.`;
      saved = { scope: query.output.scope ?? "global", name: query.output.set };
    }
    if (query.success && query.output.deleted) notice = `Secret ${query.output.deleted}${scope} deleted.`;
    return render(c, { ...(notice && { notice }), ...(saved && { saved }) });
  })
  .post("/", requireSession, requireCsrf, async (c) => {
    const deps = c.get("deps");
    const body = await c.req.parseBody();
    // What the user typed comes back on an error, except the value.
    const typed = { scope: formText(body.scope), name: formText(body.name) };
    const parsed = v.safeParse(setForm, { scope: body.scope, name: body.name, value: body.value });
    if (!parsed.success) {
      const writable = await writableScopes(c);
      if (writable.length === 0) requirePermission(c, "secrets", "write", typed.scope || "global");
      return render(c, { form: { ...typed, error: fieldIssue(parsed.issues[0], FIELD_LABELS) } }, 400, writable);
    }
    const { scope, name, value } = parsed.output;
    requirePermission(c, "secrets", "write", scope);
    const target = scopeOf(scope);
    if (target.kind === "pipeline" && !(await getPipeline(deps.db, target.pipeline))) {
      return render(c, { form: { ...typed, error: `Scope: pipeline ${scope} not found` } }, 400);
    }
    try {
      const { token } = c.get("session");
      const { secret } = await deps.secrets.set(target, name, value, deps.now(), { name: token.name, userId: token.userId });
      // The store recorded a secret.flagged event: event streams look now.
      if (secret.warning) deps.bus.publish({ kind: "secret.flagged" });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return render(c, { form: { ...typed, error: `Value: ${error.message}` } }, 400);
    }
    return c.redirect(`/secrets?${new URLSearchParams({ set: name, scope })}`, 303);
  })
  .post("/delete", requireSession, requireCsrf, validate("form", deleteForm), async (c) => {
    const { scope, name } = c.req.valid("form");
    requirePermission(c, "secrets", "write", scope);
    const { token } = c.get("session");
    const deleted = await c.get("deps").secrets.delete(scopeOf(scope), name, { name: token.name, userId: token.userId, at: c.get("deps").now() });
    if (!deleted) throw new NotFoundError(`secret ${name} (${scope}) not found`);
    return c.redirect(`/secrets?${new URLSearchParams({ deleted: name, scope })}`, 303);
  });
