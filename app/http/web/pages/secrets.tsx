// The secrets page: names, scopes and dates of the secrets the caller may read (never a
// value) with a warning where masking may miss one, a form to set one, and delete buttons
// where the caller may write.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { SecretInfo } from "../../../stores/secrets.ts";
import { ConfirmButton, Notice } from "../components/admin-forms.tsx";
import { When } from "../components/time.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";
import { scopePath } from "../paths.ts";
import { TableHead } from "../components/table-head.tsx";

export interface SecretForm {
  scope: string;
  name: string;
  error?: string;
}

export interface SecretsPageProps {
  session: PageSession;
  now: Date;
  secrets: SecretInfo[];
  /** Scopes the caller may write: "global" and/or "<ns>/<id>". */
  writable: string[];
  form?: SecretForm;
  notice?: string;
  /** The masking warning of the secret just saved, repeated at the top. */
  savedWarning?: string;
}

function ScopeCell({ scope }: { scope: string }) {
  const href = scopePath(scope);
  return href ? <a href={href}>{scope}</a> : <span>{scope}</span>;
}

export function SecretsPage({ session, now, secrets, writable, form, notice, savedWarning }: SecretsPageProps) {
  const canWrite = new Set(writable);
  const anyDeletable = secrets.some((secret) => canWrite.has(secret.scope));
  return (
    <Page title="Secrets" session={session} section="secrets">
      <h1>Secrets</h1>
      <p class="muted">Values are encrypted at rest and never shown again: not here, not in the API. Tasks read them by name.</p>
      {notice && <Notice kind="ok">{notice}</Notice>}
      {savedWarning && <Notice kind="problem">{savedWarning}</Notice>}
      <section class="card admin-card" aria-labelledby="secrets-list">
        <h2 id="secrets-list">Stored secrets</h2>
        {secrets.length === 0 ? (
          <p class="muted">No secrets yet.</p>
        ) : (
          <table class="list admin-stack">
            <TableHead columns={["Name", "Scope", { label: "Created", class: "wide-only" }, "Updated", anyDeletable && { label: "Actions", hidden: true }]} />
            <tbody>
              {secrets.map((secret) => (
                <tr>
                  <th scope="row" class="mono admin-name">
                    {secret.name}
                    {secret.warning && (
                      <p class="hint secret-warning">
                        <strong>Warning:</strong> {secret.warning}
                      </p>
                    )}
                  </th>
                  <td data-label="Scope">
                    <ScopeCell scope={secret.scope} />
                  </td>
                  <td class="wide-only" data-label="Created">
                    <When date={secret.createdAt} now={now} />
                  </td>
                  <td data-label="Updated">
                    <When date={secret.updatedAt} now={now} />
                  </td>
                  {anyDeletable && (
                    <td class="admin-row-actions">
                      {canWrite.has(secret.scope) && (
                        <ConfirmButton
                          session={session}
                          action="/secrets/delete"
                          fields={{ scope: secret.scope, name: secret.name }}
                          label="Delete"
                          accessibleLabel={`Delete secret ${secret.name} (${secret.scope})`}
                          confirm={`Delete secret ${secret.name}?`}
                        />
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {writable.length > 0 && (
        <section class="card admin-card" aria-labelledby="secret-set">
          <h2 id="secret-set">Set a secret</h2>
          <p class="hint">Setting an existing name replaces its value.</p>
          {form?.error && <Notice kind="problem">{form.error}</Notice>}
          <form method="post" action="/secrets" class="admin-form">
            <CsrfField session={session} />
            <label for="secret-scope">Scope</label>
            <select id="secret-scope" name="scope">
              {writable.map((scope) => (
                <option value={scope} selected={form?.scope === scope}>
                  {scope === "global" ? "global (every pipeline)" : `pipeline ${scope}`}
                </option>
              ))}
            </select>
            <label for="secret-name">Name</label>
            <input
              id="secret-name"
              name="name"
              type="text"
              required
              maxlength={128}
              pattern="[A-Za-z0-9_.\-]{1,128}"
              autocomplete="off"
              spellcheck={false}
              value={form?.name ?? ""}
              aria-describedby="secret-name-hint"
            />
            <p class="hint" id="secret-name-hint">
              Letters, digits, <code>_</code>, <code>.</code> and <code>-</code>.
            </p>
            <label for="secret-value">Value</label>
            <input id="secret-value" name="value" type="password" required autocomplete="off" aria-describedby="secret-value-hint" />
            <p class="hint" id="secret-value-hint">
              At least 4 characters: shorter values would be masked wherever they occur in logs.
            </p>
            <button type="submit">Save secret</button>
          </form>
        </section>
      )}
    </Page>
  );
}
