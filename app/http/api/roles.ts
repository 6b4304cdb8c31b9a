// /api/v1/roles: the built-in roles (read-only) and custom roles, lists of permissions. A
// change stays within the caller's own rights and never touches the caller's own roles.
import { Hono } from "hono";
import * as v from "valibot";
import { BUILT_IN_ROLES, isBuiltInRole, removeRole, requirePermission, saveRole } from "../../auth/roles.ts";
import { getRole, listRoles, type RoleRow } from "../../db/repos/roles.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { idSchema } from "../../domain/ids.ts";
import { permissionSchema, type Permission } from "../../domain/permissions.ts";
import type { AppEnv } from "../env.ts";
import { validate } from "../validate.ts";
import { permit } from "../middleware/permit.ts";
import { deletedAnswer, roleAnswer, roleListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

const putBody = v.strictObject({
  description: v.optional(v.pipe(v.string(), v.maxLength(500)), ""),
  permissions: v.array(permissionSchema),
});
const roleParams = v.object({ id: idSchema });

function roleJson(id: string, description: string, permissions: Permission[], builtIn: boolean, row?: RoleRow) {
  return {
    id,
    description,
    permissions,
    builtIn,
    ...(row && { createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() }),
  };
}

const builtInJson = (id: string) => roleJson(id, BUILT_IN_ROLES[id]!.description, BUILT_IN_ROLES[id]!.permissions, true);

export const rolesApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "Built-in and custom roles", permission: "roles:read", response: roleListAnswer }), async (c) => {
    requirePermission(c, "roles", "read");
    const custom = await listRoles(c.get("deps").db);
    return c.json({
      roles: [...Object.keys(BUILT_IN_ROLES).map(builtInJson), ...custom.map((row) => roleJson(row.id, row.description, row.permissions, false, row))],
    });
  })
  .get("/:id", doc({ summary: "One role and its permissions", permission: "roles:read", response: roleAnswer }), validate("param", roleParams), async (c) => {
    requirePermission(c, "roles", "read");
    const { id } = c.req.valid("param");
    if (isBuiltInRole(id)) return c.json({ role: builtInJson(id) });
    const row = await getRole(c.get("deps").db, id);
    if (!row) throw new NotFoundError(`role ${id} not found`);
    return c.json({ role: roleJson(row.id, row.description, row.permissions, false, row) });
  })
  .put("/:id", doc({ summary: "Create or replace a custom role", permission: "roles:write", success: [201, 200], response: roleAnswer }), permit("roles", "write"), validate("param", roleParams), validate("json", putBody), async (c) => {
    const deps = c.get("deps");
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const editor = { token: c.get("token"), permissions: c.get("permissions") };
    const { role: row, created } = await saveRole(deps.db, editor, id, { description: body.description, permissions: body.permissions }, deps.now());
    return c.json({ role: roleJson(row.id, row.description, row.permissions, false, row) }, created ? 201 : 200);
  })
  .delete("/:id", doc({ summary: "Delete a custom role", permission: "roles:write", response: deletedAnswer }), validate("param", roleParams), async (c) => {
    requirePermission(c, "roles", "write");
    const { id } = c.req.valid("param");
    await removeRole(c.get("deps").db, { token: c.get("token"), permissions: c.get("permissions") }, id);
    return c.json({ deleted: id });
  });
