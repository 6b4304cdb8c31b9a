// The tokens page: API tokens (inactive ones behind a link), the form that creates one and
// shows its secret once, revoke buttons, and the roles section.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { tokenProblem } from "../../../auth/tokens.ts";
import type { TokenRow } from "../../../db/repos/tokens.ts";
import { ConfirmButton, Notice, Tag } from "../components/admin-forms.tsx";
import { RolesSection, type RoleForm, type RoleView } from "../components/admin-roles.tsx";
import { Until } from "../components/admin-until.tsx";
import { When } from "../components/time.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";
import { TableHead } from "../components/table-head.tsx";

/** Expiry choices of the create form, in days ("" = never). */
export const EXPIRY_CHOICES: { value: string; label: string }[] = [
  { value: "", label: "Never" },
  { value: "1", label: "In 1 day" },
  { value: "7", label: "In 7 days" },
  { value: "30", label: "In 30 days" },
  { value: "90", label: "In 90 days" },
  { value: "365", label: "In 1 year" },
];

export interface TokenForm {
  name: string;
  roles: string[];
  expires: string;
  error?: string;
}

export interface TokensPageProps {
  session: PageSession;
  now: Date;
  /** The rows to show (inactive ones only when asked for); undefined when the caller may not read tokens. */
  tokens?: TokenRow[];
  /** How many tokens are revoked or expired. */
  hidden: number;
  /** How many of those are listed (the newest), when they are shown. */
  inactiveShown: number;
  showInactive: boolean;
  /** The signed-in token, marked "you". */
  me: string;
  /** Set when a person is signed in (not a pasted token): their own live personal tokens. */
  personal?: TokenRow[];
  canWriteTokens: boolean;
  /** Role ids the create form offers. */
  roleIds: string[];
  /** Undefined when the caller may not read roles. */
  roles?: RoleView[];
  canWriteRoles: boolean;
  tokenForm?: TokenForm;
  roleForm?: RoleForm;
  /** A token just made and its secret, shown this once. */
  created?: { token: TokenRow; secret: string };
  notice?: string;
  roleNotice?: string;
}

/** Tokens the engine handed to a task of a run (marked by their run column; a name proves nothing). */
export const isRunToken = (token: TokenRow) => token.run !== null;

function Status({ token, now }: { token: TokenRow; now: Date }) {
  const problem = tokenProblem(token, now);
  if (problem === "revoked") {
    return (
      <span>
        <Tag kind="revoked">revoked</Tag> <When date={token.revokedAt} now={now} />
      </span>
    );
  }
  if (problem === "expired") return <Tag kind="revoked">expired</Tag>;
  return <Tag kind="active">active</Tag>;
}

function Roles({ token }: { token: TokenRow }) {
  if (token.roles.length > 0) return <span>{token.roles.join(", ")}</span>;
  const own = token.permissions ?? [];
  if (own.length === 0) return <span class="muted">none</span>;
  return (
    <span class="muted" title="Permissions of the token itself">
      {own.map((permission) => `${permission.resource} ${permission.target} ${permission.actions.join(",")}`).join("; ")}
    </span>
  );
}

function CreatedSecret({ created }: { created: { token: TokenRow; secret: string } }) {
  return (
    <section class="card admin-card created-secret" aria-labelledby="created-token">
      <h2 id="created-token">Token {created.token.name} created</h2>
      <Notice kind="ok">Copy the secret now: it is shown only this once and cannot be recovered. Lost it? Revoke the token and make another.</Notice>
      <label for="created-token-secret">Secret</label>
      <input id="created-token-secret" class="secret-once" type="text" readonly value={created.secret} autocomplete="off" spellcheck={false} />
      <p class="hint">
        Use it as <code>Authorization: Bearer …</code> against the API, with the CLI (<code>GANTRY_TOKEN</code>), or to log in here.
      </p>
    </section>
  );
}

function CreateForm({ session, roleIds, form, person }: { session: PageSession; roleIds: string[]; form?: TokenForm; person: boolean }) {
  const checked = new Set(form?.roles ?? []);
  return (
    <section class="card admin-card" aria-labelledby="token-create">
      <h2 id="token-create">Create a token</h2>
      {form?.error && <Notice kind="problem">{form.error}</Notice>}
      <form method="post" action="/tokens" class="admin-form">
        <CsrfField session={session} />
        <label for="token-name">Name</label>
        <input id="token-name" name="name" type="text" required maxlength={100} autocomplete="off" value={form?.name ?? ""} />
        <fieldset class="admin-checks">
          <legend>Roles</legend>
          <p class="hint">A token can only be given what your own token may do.</p>
          {person && (
            <p class="hint personal-token-hint">
              The token belongs to you: it holds at most your roles, and it dies if you are disabled.
            </p>
          )}
          {roleIds.map((id) => (
            <label class="admin-check">
              <input type="checkbox" name="roles" value={id} checked={checked.has(id)} /> <span class="mono">{id}</span>
            </label>
          ))}
        </fieldset>
        <label for="token-expires">Expires</label>
        <select id="token-expires" name="expires">
          {/* A personal token must expire: no "Never" for a person, 30 days unless chosen. */}
          {EXPIRY_CHOICES.filter((choice) => !person || choice.value !== "").map((choice) => (
            <option value={choice.value} selected={(form?.expires ?? (person ? "30" : "")) === choice.value}>
              {choice.label}
            </option>
          ))}
        </select>
        <button type="submit">Create token</button>
      </form>
    </section>
  );
}

/** The tokens table, with the links that show or hide inactive ones. */
function TokenList(props: TokensPageProps & { tokens: TokenRow[] }) {
  const { session, now, tokens, hidden, inactiveShown, showInactive, me } = props;
  const revocable = props.canWriteTokens && tokens.some((token) => !token.revokedAt);
  return (
    <>
      <p class="actions admin-list-filter">
        {showInactive ? (
          <>
            {inactiveShown < hidden && (
              <span class="muted">
                Showing the newest {inactiveShown} of {hidden} revoked or expired tokens.
              </span>
            )}
            <a href="/tokens">Hide revoked and expired tokens</a>
          </>
        ) : hidden > 0 ? (
          <a href="/tokens?revoked=1">
            Show {hidden} revoked or expired token{hidden === 1 ? "" : "s"}
          </a>
        ) : null}
      </p>
      {tokens.length === 0 ? (
        <p class="muted">No tokens to show.</p>
      ) : (
        <table class="list admin-stack">
          <TableHead
            columns={[
              "Name",
              "Roles",
              { label: "Created", class: "wide-only" },
              "Expires",
              showInactive && "Status",
              revocable && { label: "Actions", hidden: true },
            ]}
          />
          <tbody>
            {tokens.map((token) => (
              <tr class={tokenProblem(token, now) ? "admin-inactive" : undefined}>
                <th scope="row">
                  <span class="admin-name">{token.name}</span> {token.id === me && <Tag kind="you">you</Tag>}{" "}
                  {isRunToken(token) && <Tag kind="run">run token</Tag>}
                  {token.userId !== null && <Tag kind="personal">personal</Tag>}
                </th>
                <td data-label="Roles">
                  <Roles token={token} />
                </td>
                <td class="wide-only" data-label="Created">
                  <When date={token.createdAt} now={now} />
                </td>
                <td data-label="Expires">{token.expiresAt ? <Until date={token.expiresAt} now={now} /> : <span class="muted">never</span>}</td>
                {showInactive && (
                  <td data-label="Status">
                    <Status token={token} now={now} />
                  </td>
                )}
                {revocable && (
                  <td class="admin-row-actions">
                    {!token.revokedAt && (
                      <ConfirmButton
                        session={session}
                        action="/tokens/revoke"
                        fields={{ id: token.id }}
                        label="Revoke"
                        accessibleLabel={`Revoke token ${token.name}`}
                        confirm={
                          token.id === me
                            ? `Revoke token ${token.name}? It is the one you are signed in with: you will be logged out.`
                            : `Revoke token ${token.name}?`
                        }
                      />
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** A signed-in person's own tokens: they belong to them and die when they are disabled. */
function PersonalTokens({ tokens, session, now, canRevoke }: { tokens: TokenRow[]; session: PageSession; now: Date; canRevoke: boolean }) {
  return (
    <section class="card admin-card" aria-labelledby="personal-tokens">
      <h2 id="personal-tokens">Your personal tokens</h2>
      <p class="hint">Tokens you made while signed in belong to you: they stop when you are disabled.</p>
      {tokens.length === 0 ? (
        <p class="muted">You have no personal tokens.</p>
      ) : (
        <table class="list admin-stack">
          <TableHead columns={["Name", "Roles", "Expires", canRevoke && { label: "Actions", hidden: true }]} />
          <tbody>
            {tokens.map((token) => (
              <tr>
                <th scope="row">
                  <span class="admin-name">{token.name}</span>
                </th>
                <td data-label="Roles">
                  <Roles token={token} />
                </td>
                <td data-label="Expires">{token.expiresAt ? <Until date={token.expiresAt} now={now} /> : <span class="muted">never</span>}</td>
                {canRevoke && (
                  <td class="admin-row-actions">
                    <ConfirmButton
                      session={session}
                      action="/tokens/revoke"
                      fields={{ id: token.id }}
                      label="Revoke"
                      accessibleLabel={`Revoke your token ${token.name}`}
                      confirm={`Revoke your token ${token.name}?`}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function TokensPage(props: TokensPageProps) {
  const { session, tokens, canWriteTokens, created, notice } = props;
  return (
    <Page title="Tokens" session={session} section="tokens">
      <h1>Tokens and roles</h1>
      {created && <CreatedSecret created={created} />}
      {notice && <Notice kind="ok">{notice}</Notice>}
      <section class="card admin-card" aria-labelledby="tokens-list">
        <h2 id="tokens-list">Tokens</h2>
        {tokens === undefined ? (
          <p class="muted">Your token may create tokens but not list them (that needs tokens:read).</p>
        ) : (
          <TokenList {...props} tokens={tokens} />
        )}
      </section>
      {/* A signed-in person always manages their own personal tokens; other tokens need tokens:write. */}
      {props.personal && <PersonalTokens tokens={props.personal} session={session} now={props.now} canRevoke />}
      {(canWriteTokens || props.personal !== undefined) && <CreateForm session={session} roleIds={props.roleIds} form={props.tokenForm} person={props.personal !== undefined} />}
      {props.roles && <RolesSection session={session} roles={props.roles} canWrite={props.canWriteRoles} form={props.roleForm} notice={props.roleNotice} />}
    </Page>
  );
}
