// The roles section of the tokens page: every role with its permissions (built-in ones
// marked and read-only, and custom ones the signed-in token may not change without buttons)
// and the form that creates or replaces a custom role.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { ACTIONS, RESOURCES, type Permission } from "../../../domain/permissions.ts";
import { CsrfField, type PageSession } from "../layouts/page.tsx";
import { ConfirmButton, Notice, Tag } from "./admin-forms.tsx";
import { TableHead } from "./table-head.tsx";

export interface RoleView {
  id: string;
  description: string;
  permissions: Permission[];
  builtIn: boolean;
  /** Why the signed-in token may not change this custom role: it holds it, or the role grants more than it has. */
  lockedBecause?: "yours" | "beyond";
}

export interface RoleForm {
  id: string;
  description: string;
  /** One permission a line: "resource target actions". */
  permissions: string;
  /** Whole-form or per-line problems. */
  errors?: string[];
}

/** The lines the role form shows for a list of permissions. */
export const permissionLines = (permissions: Permission[]) =>
  permissions.map((permission) => `${permission.resource} ${permission.target} ${permission.actions.join(",")}`).join("\n");

function PermissionList({ permissions }: { permissions: Permission[] }) {
  if (permissions.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="admin-perms">
      {permissions.map((permission) => (
        <li>
          <span class="admin-perm-resource">{permission.resource}</span> <code class="admin-perm-target">{permission.target}</code>{" "}
          <span class="admin-perm-actions">{permission.actions.join(", ")}</span>
        </li>
      ))}
    </ul>
  );
}

export interface RolesSectionProps {
  session: PageSession;
  roles: RoleView[];
  canWrite: boolean;
  form?: RoleForm;
  notice?: string;
}

export function RolesSection({ session, roles, canWrite, form, notice }: RolesSectionProps) {
  return (
    <section class="card admin-card" aria-labelledby="roles">
      <h2 id="roles">Roles</h2>
      <p class="hint">
        A role is a list of permissions: a resource, a target (a regular expression matched against <code>namespace/pipeline</code>, <code>global</code> or{" "}
        <code>*</code>) and actions.
      </p>
      {notice && <Notice kind="ok">{notice}</Notice>}
      <table class="list admin-stack">
        <TableHead columns={["Role", "Permissions (resource, target, actions)", canWrite && { label: "Actions", hidden: true }]} />
        <tbody>
          {roles.map((role) => (
            <tr>
              <th scope="row">
                <span class="mono">{role.id}</span> {role.builtIn && <Tag kind="builtin">built in</Tag>}
                {role.description && <div class="muted admin-note">{role.description}</div>}
              </th>
              <td>
                <PermissionList permissions={role.permissions} />
              </td>
              {canWrite && (
                <td class="admin-row-actions">
                  {!role.builtIn && role.lockedBecause && (
                    <span class="muted admin-note">
                      {role.lockedBecause === "yours" ? "Your token holds this role: someone else must change it." : "Grants more than your token has."}
                    </span>
                  )}
                  {!role.builtIn && !role.lockedBecause && (
                    <div class="actions">
                      <a class="button secondary small" href={`/tokens?role=${encodeURIComponent(role.id)}#role-form`} aria-label={`Edit role ${role.id}`}>
                        Edit
                      </a>
                      <ConfirmButton
                        session={session}
                        action="/tokens/roles/delete"
                        fields={{ id: role.id }}
                        label="Delete"
                        accessibleLabel={`Delete role ${role.id}`}
                        confirm={`Delete role ${role.id}? Tokens holding it lose its permissions.`}
                      />
                    </div>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && (
        <form method="post" action="/tokens/roles" class="admin-form" id="role-form">
          <h3>Create or update a role</h3>
          {form?.errors?.length ? (
            <div class="notice problem" role="alert">
              <p>The role was not saved:</p>
              <ul>
                {form.errors.map((error) => (
                  <li>{error}</li>
                ))}
              </ul>
            </div>
          ) : null}
          <CsrfField session={session} />
          <label for="role-id">Id</label>
          <input
            id="role-id"
            name="id"
            type="text"
            required
            maxlength={64}
            pattern="[a-z0-9\-]{1,64}"
            autocomplete="off"
            spellcheck={false}
            value={form?.id ?? ""}
            aria-describedby="role-id-hint"
          />
          <p class="hint" id="role-id-hint">
            a-z, 0-9 and -. Saving an existing id replaces that role.
          </p>
          <label for="role-description">Description</label>
          <input id="role-description" name="description" type="text" maxlength={500} value={form?.description ?? ""} />
          <label for="role-permissions">Permissions</label>
          <textarea id="role-permissions" name="permissions" rows={4} spellcheck={false} aria-describedby="role-permissions-hint">
            {form?.permissions ?? ""}
          </textarea>
          <p class="hint" id="role-permissions-hint">
            One a line: <code>resource target actions</code>, e.g. <code>runs default/.* read,write</code>. Resources: {RESOURCES.join(", ")} or *; actions:{" "}
            {ACTIONS.join(", ")} (approve: decide approval gates; exec: a shell in a running container task).
          </p>
          <button type="submit">Save role</button>
        </form>
      )}
    </section>
  );
}
