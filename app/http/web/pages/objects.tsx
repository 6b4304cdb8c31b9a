// A pipeline's objects page: its stored objects (key, size, updated) with download and
// delete, and a form to upload a file under a key.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ObjectInfo } from "../../../stores/objects.ts";
import { ConfirmButton, Notice } from "../components/admin-forms.tsx";
import { When } from "../components/time.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";
import { objectPath, objectsPath, pipelinePath } from "../paths.ts";
import { TableHead } from "../components/table-head.tsx";
import { formatBytes } from "../../../domain/bytes.ts";

export interface ObjectsPageProps {
  session: PageSession;
  now: Date;
  pipeline: { namespace: string; id: string };
  objects: ObjectInfo[];
  canWrite: boolean;
  maxBytes: number;
  form?: { key: string; error?: string };
  notice?: string;
}

export function ObjectsPage({ session, now, pipeline, objects, canWrite, maxBytes, form, notice }: ObjectsPageProps) {
  const base = pipelinePath(pipeline);
  const listPath = objectsPath(pipeline);
  const name = `${pipeline.namespace}/${pipeline.id}`;
  return (
    <Page title={`Objects of ${name}`} session={session} section="pipelines">
      <nav aria-label="Breadcrumb" class="admin-crumbs">
        <a href="/pipelines">Pipelines</a> <span aria-hidden="true">/</span> <a href={base}>{name}</a> <span aria-hidden="true">/</span> <span>objects</span>
      </nav>
      <h1>
        Objects of <span class="mono">{name}</span>
      </h1>
      <p class="muted">
        Files the pipeline's tasks keep between runs (<code>ctx.objects</code>). <a href={base}>Back to the pipeline</a>.
      </p>
      {notice && <Notice kind="ok">{notice}</Notice>}
      <section class="card admin-card" aria-labelledby="objects-list">
        <h2 id="objects-list">Stored objects ({objects.length})</h2>
        {objects.length === 0 ? (
          <p class="muted">No objects yet.</p>
        ) : (
          <table class="list admin-stack">
            <TableHead columns={["Key", { label: "Size", class: "num" }, "Updated", { label: "Actions", hidden: true }]} />
            <tbody>
              {objects.map((object) => (
                <tr>
                  <th scope="row" class="mono admin-name">
                    {object.key}
                  </th>
                  <td class="num" title={`${object.size} bytes`} data-label="Size">
                    {formatBytes(object.size)}
                  </td>
                  <td data-label="Updated">
                    <When date={object.updatedAt} now={now} />
                  </td>
                  <td class="admin-row-actions">
                    <div class="actions">
                      <a class="button secondary small" href={objectPath(pipeline, object.key)} download aria-label={`Download ${object.key}`}>
                        Download
                      </a>
                      {canWrite && (
                        <ConfirmButton
                          session={session}
                          action={`${listPath}/delete`}
                          fields={{ key: object.key }}
                          label="Delete"
                          accessibleLabel={`Delete object ${object.key}`}
                          confirm={`Delete object ${object.key}?`}
                        />
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {canWrite && (
        <section class="card admin-card" aria-labelledby="object-upload">
          <h2 id="object-upload">Upload a file</h2>
          {form?.error && <Notice kind="problem">{form.error}</Notice>}
          <form method="post" action={listPath} enctype="multipart/form-data" class="admin-form">
            <CsrfField session={session} />
            <label for="object-file">File</label>
            <input id="object-file" name="file" type="file" required aria-describedby="object-file-hint" />
            <p class="hint" id="object-file-hint">
              At most {formatBytes(maxBytes)}.
            </p>
            <label for="object-key">Key</label>
            <input
              id="object-key"
              name="key"
              type="text"
              maxlength={256}
              autocomplete="off"
              spellcheck={false}
              value={form?.key ?? ""}
              aria-describedby="object-key-hint"
            />
            <p class="hint" id="object-key-hint">
              Letters, digits, <code>.</code> <code>_</code> <code>-</code> and <code>/</code>, e.g. <code>cache/deps.tar</code>. Empty: the file's name. An
              existing key is replaced.
            </p>
            <button type="submit">Upload</button>
          </form>
        </section>
      )}
    </Page>
  );
}
