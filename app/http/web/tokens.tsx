// Web pages: /tokens: API tokens (create with the secret shown once, revoke) and roles
// (create, update, delete custom ones), with the API's permission and escalation checks
// (the same functions: issueToken, saveRole, removeRole).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { BUILT_IN_ROLES, firstUncovered, may, removeRole, requirePermission, saveRole } from "../../auth/roles.ts";
import { isOwnPersonalToken, issueToken } from "../../auth/tokens.ts";
import { getRole, listRoles } from "../../db/repos/roles.ts";
import { getToken, listActiveTokens, listInactiveTokens, listPersonalTokens, revokeToken, type TokenRow } from "../../db/repos/tokens.ts";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { idSchema } from "../../domain/ids.ts";
import { permissionSchema, type Permission } from "../../domain/permissions.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { permissionLines, type RoleForm, type RoleView } from "./components/admin-roles.tsx";
import { fieldIssue, formText, formTexts } from "./form.ts";
import { pageSession } from "./page-session.ts";
import { EXPIRY_CHOICES, TokensPage, type TokenForm, type TokensPageProps } from "./pages/tokens.tsx";

const tokenFormSchema = v.object({
  name: v.pipe(v.string("Name: is required"), v.trim(), v.minLength(1, "Name: must not be empty"), v.maxLength(100, "Name: at most 100 characters")),
  roles: v.pipe(v.array(v.string()), v.minLength(1, "Roles: pick at least one role")),
  expires: v.picklist(
    EXPIRY_CHOICES.map((choice) => choice.value),
    "Expires: pick one of the choices",
  ),
});

const roleFormSchema = v.object({
  id: v.pipe(v.string("is required"), v.trim(), idSchema),
  description: v.pipe(v.string(), v.trim(), v.maxLength(500, "at most 500 characters")),
  permissions: v.string(),
});
const ROLE_FIELDS: Record<string, string> = { id: "Id", description: "Description", permissions: "Permissions" };

const tokenIdSchema = v.pipe(v.string("is required"), v.regex(/^[a-z0-9]{1,32}$/, "not a token id"));

/** Revoked and expired tokens shown at most (run tokens pile up there, one per task). */
const INACTIVE_SHOWN = 100;

const pageQuery = v.object({
  revoked: v.optional(v.string()),
  role: v.optional(idSchema),
  revokedToken: v.optional(tokenIdSchema),
  roleSaved: v.optional(idSchema),
  roleDeleted: v.optional(idSchema),
});

/**
 * Reads the role form's permission lines ("resource target actions", blank lines and
 * `#` comments skipped); every bad line is named with what is wrong with it.
 */
export function parsePermissionLines(text: string): { permissions: Permission[]; errors: string[] } {
  const permissions: Permission[] = [];
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const where = `Line ${index + 1} ("${line.length > 80 ? `${line.slice(0, 80)}…` : line}")`;
    const parts = line.split(/\s+/);
    if (parts.length !== 3) {
      errors.push(`${where}: expected three parts, resource target actions (e.g. "runs default/.* read,write"), found ${parts.length}`);
      return;
    }
    const [resource, target, actions] = parts as [string, string, string];
    const parsed = v.safeParse(permissionSchema, { resource, target, actions: actions.split(",").filter(Boolean) });
    if (parsed.success) permissions.push(parsed.output);
    else {
      const problems = parsed.issues.map((issue) => `${String(issue.path?.[0]?.key ?? "permission")} ${issue.message}`);
      errors.push(`${where}: ${[...new Set(problems)].join("; ")}`);
    }
  });
  if (permissions.length === 0 && errors.length === 0) errors.push("Permissions: write at least one line");
  return { permissions, errors };
}

type Extra = Partial<Pick<TokensPageProps, "tokenForm" | "roleForm" | "created" | "notice" | "roleNotice" | "showInactive">>;

async function render(c: Context<AppEnv>, extra: Extra, status: 200 | 201 | 400 | 403 | 409 = 200) {
  // The list needs tokens:read; a caller who may only create tokens still gets the form, and
  // the secret of the token it just made (which it could not see again).
  const listsTokens = may(c, "tokens", "read");
  if (!listsTokens && !may(c, "tokens", "write")) requirePermission(c, "tokens", "read");
  const deps = c.get("deps");
  const now = deps.now();
  // Newest first; revoked and expired ones (run tokens pile up there) only on request.
  const showInactive = extra.showInactive ?? false;
  const active = listsTokens ? await listActiveTokens(deps.db, now) : undefined;
  const inactive = listsTokens ? await listInactiveTokens(deps.db, now, showInactive ? INACTIVE_SHOWN : 0) : { rows: [], total: 0 };
  const custom = await listRoles(deps.db);
  // A signed-in person sees their own tokens whatever else they may read.
  const userId = c.get("token").userId;
  const personal = userId ? await listPersonalTokens(deps.db, userId, now) : undefined;
  const roles: RoleView[] = [
    ...Object.entries(BUILT_IN_ROLES).map(([id, role]) => ({ id, description: role.description, permissions: role.permissions, builtIn: true })),
    ...custom.map((row) => ({
      id: row.id,
      description: row.description,
      permissions: row.permissions,
      builtIn: false,
      // The same rules saveRole and removeRole apply, so the page offers only what would work.
      lockedBecause: c.get("token").roles.includes(row.id)
        ? ("yours" as const)
        : firstUncovered(c.get("permissions"), row.permissions)
          ? ("beyond" as const)
          : undefined,
    })),
  ];
  return c.html(
    <TokensPage
      session={await pageSession(c)}
      now={now}
      {...(active && { tokens: [...active, ...inactive.rows] })}
      hidden={inactive.total}
      inactiveShown={inactive.rows.length}
      showInactive={showInactive}
      me={c.get("token").id}
      {...(personal && { personal })}
      canWriteTokens={may(c, "tokens", "write")}
      roleIds={roles.map((role) => role.id)}
      {...(may(c, "roles", "read") && { roles })}
      canWriteRoles={may(c, "roles", "write")}
      {...extra}
    />,
    status,
  );
}

export const tokenPages = new Hono<AppEnv>()
  .get("/", requireSession, async (c) => {
    const parsed = v.safeParse(pageQuery, c.req.query());
    const query = parsed.success ? parsed.output : {};
    const extra: Extra = { showInactive: query.revoked === "1" };
    if (query.revokedToken) {
      const token = await getToken(c.get("deps").db, query.revokedToken);
      if (token) extra.notice = `Token ${token.name} revoked.`;
    }
    if (query.roleSaved) extra.roleNotice = `Role ${query.roleSaved} saved.`;
    if (query.roleDeleted) extra.roleNotice = `Role ${query.roleDeleted} deleted.`;
    if (query.role && may(c, "roles", "read")) {
      const role = await getRole(c.get("deps").db, query.role);
      if (role) extra.roleForm = { id: role.id, description: role.description, permissions: permissionLines(role.permissions) };
    }
    return render(c, extra);
  })
  .post("/", requireSession, requireCsrf, async (c) => {
    // A signed-in person may always make personal tokens (at most their roles, with an expiry).
    const person = c.get("token").userId !== null;
    if (!person) requirePermission(c, "tokens", "write");
    const deps = c.get("deps");
    const body = await c.req.parseBody({ all: true });
    const typed: TokenForm = { name: formText(body.name), roles: formTexts(body.roles), expires: formText(body.expires) };
    const parsed = v.safeParse(tokenFormSchema, typed);
    if (!parsed.success) return render(c, { tokenForm: { ...typed, error: parsed.issues[0]!.message } }, 400);
    const { name, roles, expires } = parsed.output;
    if (person && !expires) return render(c, { tokenForm: { ...typed, error: "Expires: a personal token needs an expiry" } }, 400);
    const now = deps.now();
    const expiresAt = expires ? new Date(now.getTime() + Number(expires) * 86_400_000) : undefined;
    let created: { token: TokenRow; secret: string };
    try {
      created = await issueToken(deps.db, { token: c.get("token"), permissions: c.get("permissions") }, { name, roles, ...(expiresAt && { expiresAt }) }, now);
    } catch (error) {
      if (error instanceof ValidationError) return render(c, { tokenForm: { ...typed, error: `Roles: ${error.message}` } }, 400);
      if (error instanceof ForbiddenError) return render(c, { tokenForm: { ...typed, error: `Roles: ${error.message}` } }, 403);
      throw error;
    }
    // The page carries the secret: no cache may keep it, and there is no redirect to replay.
    c.header("cache-control", "no-store");
    return render(c, { created }, 201);
  })
  .post("/revoke", requireSession, requireCsrf, validate("form", v.object({ id: tokenIdSchema })), async (c) => {
    const deps = c.get("deps");
    const { id } = c.req.valid("form");
    // A person may revoke their own personal tokens; anything else needs tokens:write.
    if (!isOwnPersonalToken(c.get("token"), await getToken(deps.db, id))) requirePermission(c, "tokens", "write");
    if (!(await revokeToken(deps.db, id, deps.now()))) throw new NotFoundError(`token ${id} not found`);
    return c.redirect(`/tokens?revokedToken=${id}`, 303);
  })
  .post("/roles", requireSession, requireCsrf, async (c) => {
    requirePermission(c, "roles", "write");
    const deps = c.get("deps");
    const body = await c.req.parseBody();
    const typed: RoleForm = { id: formText(body.id), description: formText(body.description), permissions: formText(body.permissions) };
    const parsed = v.safeParse(roleFormSchema, typed);
    const lines = parsePermissionLines(typed.permissions);
    const errors = [...(parsed.success ? [] : parsed.issues.map((issue) => fieldIssue(issue, ROLE_FIELDS))), ...lines.errors];
    if (!parsed.success || errors.length) return render(c, { roleForm: { ...typed, errors } }, 400);
    try {
      const editor = { token: c.get("token"), permissions: c.get("permissions") };
      await saveRole(deps.db, editor, parsed.output.id, { description: parsed.output.description, permissions: lines.permissions }, deps.now());
    } catch (error) {
      if (error instanceof ConflictError) return render(c, { roleForm: { ...typed, errors: [`Id: ${error.message}`] } }, 409);
      if (error instanceof ForbiddenError) return render(c, { roleForm: { ...typed, errors: [error.message] } }, 403);
      throw error;
    }
    return c.redirect(`/tokens?roleSaved=${parsed.output.id}#roles`, 303);
  })
  .post("/roles/delete", requireSession, requireCsrf, permit("roles", "write"), validate("form", v.object({ id: idSchema })), async (c) => {
    const { id } = c.req.valid("form");
    await removeRole(c.get("deps").db, { token: c.get("token"), permissions: c.get("permissions") }, id);
    return c.redirect(`/tokens?roleDeleted=${id}#roles`, 303);
  });
