// The users page: people who sign in through an identity provider, with their groups and
// roles (mapped from groups, granted by an admin), and the forms that disable, enable, grant and revoke.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { UserRow } from "../../../db/repos/users.ts";
import { ConfirmButton, Notice, Tag } from "../components/admin-forms.tsx";
import { TableHead } from "../components/table-head.tsx";
import { When } from "../components/time.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";

export interface UsersPageProps {
  session: PageSession;
  now: Date;
  users: UserRow[];
  /** Roles the grant form offers. */
  roleIds: string[];
  canWrite: boolean;
  /** The signed-in person's id, if the session is a person's: their row cannot be changed here. */
  me?: string;
  notice?: string;
  /** A refused change, shown at the top and beside the person it was about. */
  problem?: { userId?: string; message: string };
}

function RoleList({ roles, kind }: { roles: string[]; kind: "mapped" | "granted" }) {
  if (roles.length === 0) return <span class="muted">none</span>;
  return <span class={`user-roles-${kind}`}>{roles.join(", ")}</span>;
}

function Actions({ user, session, roleIds }: { user: UserRow; session: PageSession; roleIds: string[] }) {
  const grantable = roleIds.filter((id) => !user.grantedRoles.includes(id));
  return (
    <div class="admin-row-actions user-actions">
      {user.disabledAt ? (
        <form method="post" action="/users/enable" class="inline">
          <CsrfField session={session} />
          <input type="hidden" name="id" value={user.id} />
          <button type="submit" class="small" aria-label={`Enable ${user.name}`}>
            Enable
          </button>
        </form>
      ) : (
        <ConfirmButton
          session={session}
          action="/users/disable"
          fields={{ id: user.id }}
          label="Disable"
          accessibleLabel={`Disable ${user.name}`}
          confirm={`Disable ${user.name}? Their sessions and personal tokens stop at once.`}
        />
      )}
      {grantable.length > 0 && (
        <form method="post" action="/users/grant" class="inline">
          <CsrfField session={session} />
          <input type="hidden" name="id" value={user.id} />
          <label class="sr-only" for={`grant-${user.id}`}>
            Role to grant {user.name}
          </label>
          <select id={`grant-${user.id}`} name="role">
            {grantable.map((id) => (
              <option value={id}>{id}</option>
            ))}
          </select>{" "}
          <button type="submit" class="small">
            Grant
          </button>
        </form>
      )}
      {user.grantedRoles.map((role) => (
        <ConfirmButton
          session={session}
          action="/users/revoke"
          fields={{ id: user.id, role }}
          label={`Revoke ${role}`}
          accessibleLabel={`Revoke role ${role} from ${user.name}`}
          confirm={`Revoke role ${role} from ${user.name}? Their sessions lose it at once.`}
        />
      ))}
    </div>
  );
}

export function UsersPage({ session, now, users, roleIds, canWrite, me, notice, problem }: UsersPageProps) {
  return (
    <Page title="Users" session={session} section="users">
      <h1>Users</h1>
      <p class="hint">
        People who sign in through an identity provider. Their roles are those their groups map to at each sign-in, plus those granted
        here. Disabling someone stops their sessions and personal tokens at once.
      </p>
      {notice && <Notice kind="ok">{notice}</Notice>}
      {problem && <Notice kind="problem">{problem.message}</Notice>}
      <section class="card admin-card" aria-labelledby="users-list">
        <h2 id="users-list">People</h2>
        {users.length === 0 ? (
          <p class="muted">No one has signed in through an identity provider yet.</p>
        ) : (
          <table class="list admin-stack">
            <TableHead
              columns={[
                "Name",
                "Provider",
                { label: "Groups", class: "wide-only" },
                "Roles from groups",
                "Granted roles",
                "Last sign-in",
                "State",
                canWrite && { label: "Actions", hidden: true },
              ]}
            />
            <tbody>
              {users.map((user) => (
                <tr id={`user-${user.id}`} class={user.disabledAt ? "admin-inactive" : undefined}>
                  <th scope="row">
                    <span class="admin-name">{user.name}</span> {user.id === me && <Tag kind="you">you</Tag>}
                    {(user.login || user.email) && (
                      <>
                        <br />
                        <span class="muted">{[user.login, user.email].filter(Boolean).join(" · ")}</span>
                      </>
                    )}
                  </th>
                  <td data-label="Provider">{user.provider}</td>
                  <td class="wide-only" data-label="Groups">
                    {user.groups.length ? user.groups.join(", ") : <span class="muted">none</span>}
                  </td>
                  <td data-label="Roles from groups">
                    <RoleList roles={user.mappedRoles} kind="mapped" />
                  </td>
                  <td data-label="Granted roles">
                    <RoleList roles={user.grantedRoles} kind="granted" />
                  </td>
                  <td data-label="Last sign-in">
                    <When date={user.lastSignInAt} now={now} />
                  </td>
                  <td data-label="State">
                    {user.disabledAt ? (
                      <span>
                        <Tag kind="revoked">disabled</Tag> <When date={user.disabledAt} now={now} />
                        {user.disabledBy && <span class="muted"> by {user.disabledBy}</span>}
                      </span>
                    ) : (
                      <Tag kind="active">active</Tag>
                    )}
                  </td>
                  {canWrite && (
                    <td class="admin-row-actions">
                      {problem?.userId === user.id && <Notice kind="problem">{problem.message}</Notice>}
                      {user.id === me ? (
                        <span class="muted">You cannot change yourself.</span>
                      ) : (
                        <Actions user={user} session={session} roleIds={roleIds} />
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </Page>
  );
}
