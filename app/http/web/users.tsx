// Web pages: /users: people who sign in, and the forms that disable, enable, grant and revoke —
// the same functions as the API (auth/user-admin.ts), so the same rules; a refusal is shown on the page.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { BUILT_IN_ROLES, may } from "../../auth/roles.ts";
import { disableUserAs, enableUserAs, grantUserRoles, revokeUserRoles, type UserEditor } from "../../auth/user-admin.ts";
import { actorName } from "../../auth/users.ts";
import { listRoles } from "../../db/repos/roles.ts";
import { getUser, listUsers, type UserRow } from "../../db/repos/users.ts";
import { GantryError } from "../../domain/errors.ts";
import { idSchema } from "../../domain/ids.ts";
import { statusOf } from "../errors.ts";
import type { AppEnv } from "../env.ts";
import { userIdSchema } from "../api/users.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { UsersPage, type UsersPageProps } from "./pages/users.tsx";

const DONE = ["disabled", "enabled", "granted", "revoked"] as const;
const pageQuery = v.object({ user: v.optional(userIdSchema), done: v.optional(v.picklist(DONE)), role: v.optional(idSchema) });

const editorOf = (c: Context<AppEnv>): UserEditor => ({ token: c.get("token"), permissions: c.get("permissions") });

async function render(c: Context<AppEnv>, extra: Pick<UsersPageProps, "notice" | "problem">, status: 200 | 400 | 403 | 404 | 409 = 200) {
  const deps = c.get("deps");
  const custom = await listRoles(deps.db);
  const me = c.get("token").userId;
  return c.html(
    <UsersPage
      // A page shown after a refused POST names its GET page, so the layout's forms come back here.
      session={await pageSession(c, "/users")}
      now={deps.now()}
      users={await listUsers(deps.db)}
      roleIds={[...Object.keys(BUILT_IN_ROLES), ...custom.map((role) => role.id)]}
      canWrite={may(c, "users", "write")}
      {...(me && { me })}
      {...extra}
    />,
    status,
  );
}

function notice(user: UserRow, done: (typeof DONE)[number], role?: string): string {
  const name = actorName(user);
  if (done === "disabled") return `${name} disabled: their sessions and personal tokens are revoked.`;
  if (done === "enabled") return `${name} enabled: they can sign in again.`;
  return done === "granted" ? `Role ${role} granted to ${name}.` : `Role ${role} revoked from ${name}.`;
}

const idForm = v.object({ id: userIdSchema });
const roleForm = v.object({ id: userIdSchema, role: v.pipe(v.string("Role: pick a role"), v.minLength(1, "Role: pick a role"), v.maxLength(64)) });

/**
 * Runs one change; a refusal (escalation, oneself, unknown role, no such person) renders the
 * page with the reason beside the person, with the status the API would answer.
 */
async function change(c: Context<AppEnv>, id: string, apply: () => Promise<unknown>, done: (typeof DONE)[number], role?: string) {
  try {
    await apply();
  } catch (error) {
    if (!(error instanceof GantryError)) throw error;
    return render(c, { problem: { userId: id, message: error.message } }, statusOf(error) as 400 | 403 | 404 | 409);
  }
  const query = new URLSearchParams({ user: id, done, ...(role && { role }) });
  return c.redirect(`/users?${query}#user-${id}`, 303);
}

export const userPages = new Hono<AppEnv>()
  .get("/", requireSession, permit("users", "read"), async (c) => {
    const parsed = v.safeParse(pageQuery, c.req.query());
    const query = parsed.success ? parsed.output : {};
    const user = query.user && query.done ? await getUser(c.get("deps").db, query.user) : undefined;
    return render(c, user && query.done ? { notice: notice(user, query.done, query.role) } : {});
  })
  .post("/disable", requireSession, requireCsrf, permit("users", "write"), validate("form", idForm), async (c) => {
    const { id } = c.req.valid("form");
    const deps = c.get("deps");
    return change(c, id, () => disableUserAs(deps, editorOf(c), id, deps.now()), "disabled");
  })
  .post("/enable", requireSession, requireCsrf, permit("users", "write"), validate("form", idForm), async (c) => {
    const { id } = c.req.valid("form");
    const deps = c.get("deps");
    return change(c, id, () => enableUserAs(deps, editorOf(c), id, deps.now()), "enabled");
  })
  .post("/grant", requireSession, requireCsrf, permit("users", "write"), validate("form", roleForm), async (c) => {
    const { id, role } = c.req.valid("form");
    const deps = c.get("deps");
    return change(c, id, () => grantUserRoles(deps, editorOf(c), id, [role], deps.now()), "granted", role);
  })
  .post("/revoke", requireSession, requireCsrf, permit("users", "write"), validate("form", roleForm), async (c) => {
    const { id, role } = c.req.valid("form");
    const deps = c.get("deps");
    return change(c, id, () => revokeUserRoles(deps, editorOf(c), id, [role], deps.now()), "revoked", role);
  });
