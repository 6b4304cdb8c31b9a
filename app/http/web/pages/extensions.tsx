// The extensions page: every extension the server runs, its state, its error and how many
// subscriptions (of pipelines the caller may read) it serves; those installed from the npm
// registry with their pinned versions (Upgrade, Uninstall), and the registry's extensions
// (Install), loaded after the page (components/extensions-available.tsx).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ExtensionStatus } from "../../../extension-host/host.ts";
import { ExtensionStateBadge } from "../components/admin-extension-state.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";
import { extensionPath } from "../paths.ts";
import { TableHead } from "../components/table-head.tsx";
import { ConfirmButton, Notice } from "../components/admin-forms.tsx";
import { CsrfField } from "../layouts/page.tsx";
import type { InstalledExtension } from "../../../extension-host/extension-installer.ts";
import { AvailableLoading, AvailableSection } from "../components/extensions-available.tsx";

export interface ExtensionsPageProps {
  session: PageSession;
  extensions: ExtensionStatus[];
  /** Subscriptions per extension id. */
  subscriptionCounts: Map<string, number>;
  /** Extensions installed from the registry, with their pins. */
  installed: InstalledExtension[];
  /** The npm registry installs come from; its list loads after the page. */
  registry: string;
  /** Whether the session may install, upgrade and uninstall (extensions:write). */
  canWrite: boolean;
  notice?: { kind: "ok" | "problem"; text: string };
}

function InstalledSection({ session, installed, extensions, canWrite }: Pick<ExtensionsPageProps, "session" | "installed" | "extensions" | "canWrite">) {
  return (
    <section class="card admin-card" aria-labelledby="extensions-installed">
      <h2 id="extensions-installed">Installed</h2>
      {installed.length === 0 ? (
        <p class="muted">No extensions installed from the registry.</p>
      ) : (
        <table class="list admin-stack">
          <TableHead columns={["Extension", "Package", "Version", "State", ...(canWrite ? ["Actions"] : [])]} />
          <tbody>
            {installed.map((pin) => {
              const status = extensions.find((extension) => extension.id === pin.id);
              return (
                <tr id={`installed-${pin.id}`}>
                  <th scope="row">{status ? <a href={extensionPath(pin.id)}>{pin.id}</a> : pin.id}</th>
                  <td data-label="Package">{pin.package}</td>
                  <td data-label="Version">
                    <code>{pin.version}</code>
                  </td>
                  <td data-label="State">{status ? <ExtensionStateBadge state={status.state} /> : <span class="muted">not loaded</span>}</td>
                  {canWrite && (
                    <td data-label="Actions">
                      <form method="post" action={`${extensionPath(pin.id)}/upgrade`} class="inline">
                        <CsrfField session={session} />
                        <button type="submit" class="small" aria-label={`Upgrade ${pin.id}`}>
                          Upgrade
                        </button>
                      </form>{" "}
                      <ConfirmButton
                        session={session}
                        action={`${extensionPath(pin.id)}/uninstall`}
                        fields={{}}
                        label="Uninstall"
                        accessibleLabel={`Uninstall ${pin.id}`}
                        confirm={`Uninstall extension ${pin.id}? It stops now; its subscriptions stay until their pipelines drop them.`}
                      />
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function ExtensionsPage({ session, extensions, subscriptionCounts, installed, registry, canWrite, notice }: ExtensionsPageProps) {
  return (
    <Page title="Extensions" session={session} section="extensions">
      <h1>Extensions</h1>
      <p class="muted">Extensions start runs from outside events (a schedule, a webhook, GitHub). Each runs on its own and is restarted when it crashes; one of Gantry's own that nothing uses stays idle until a pipeline subscribes to it.</p>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      <section class="card admin-card" aria-labelledby="extensions-list">
        <h2 id="extensions-list" class="sr-only">
          All extensions
        </h2>
        {extensions.length === 0 ? (
          <p class="muted">No extensions: the extensions folder is empty.</p>
        ) : (
          <table class="list admin-stack">
            <TableHead columns={["Extension", "State", { label: "Subscriptions", class: "num" }, { label: "Restarts", class: "num wide-only" }, "Message"]} />
            <tbody>
              {extensions.map((extension) => (
                <tr>
                  <th scope="row">
                    <a href={extensionPath(extension.id)}>{extension.id}</a>
                  </th>
                  <td>
                    <ExtensionStateBadge state={extension.state} />
                  </td>
                  <td class="num" data-label="Subscriptions">
                    {subscriptionCounts.get(extension.id) ?? 0}
                  </td>
                  <td class="num wide-only" data-label="Restarts">
                    {extension.restarts}
                  </td>
                  <td class="admin-message">{extension.error ? <span class="error">{extension.error}</span> : <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <InstalledSection session={session} installed={installed} extensions={extensions} canWrite={canWrite} />
      <AvailableSection session={session} registry={registry} canWrite={canWrite}>
        <AvailableLoading />
      </AvailableSection>
    </Page>
  );
}
