// The extensions page's "Available" section: the npm registry's Gantry extensions with Install
// buttons, or why the registry cannot be listed. The list comes after the page (htmx asks
// /extensions/available once the page has loaded), so a slow or unreachable registry never
// holds up the page; without JavaScript, a link leads to the list on a page of its own.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";
import type { AvailableExtension } from "../../../extension-host/extension-installer.ts";
import { CsrfField, type PageSession } from "../layouts/page.tsx";
import { TableHead } from "./table-head.tsx";

/** The list's own address: the htmx fragment, or a page of its own without JavaScript. */
export const AVAILABLE_EXTENSIONS_PATH = "/extensions/available";
const LIST_ID = "extensions-available-list";

/** The registry's extensions, or why they could not be listed. */
export type AvailableAnswer = { registry: string; packages: AvailableExtension[] } | { registry: string; error: string };

/** Until the list is there: htmx fetches it as the page loads; the link is for a browser without JavaScript. */
export function AvailableLoading() {
  return (
    <div id={LIST_ID} hx-get={AVAILABLE_EXTENSIONS_PATH} hx-trigger="load" hx-swap="outerHTML" aria-busy="true">
      <p class="muted">
        Asking the registry for its extensions… <a href={AVAILABLE_EXTENSIONS_PATH}>Show the registry's extensions</a>
      </p>
    </div>
  );
}

export function AvailableList({ session, available, canWrite }: { session: PageSession; available: AvailableAnswer; canWrite: boolean }) {
  return (
    <div id={LIST_ID}>
      {"error" in available ? (
        <p class="notice problem" role="alert">
          The registry cannot be listed: {available.error}. Installed extensions keep running.
        </p>
      ) : available.packages.length === 0 ? (
        <p class="muted">No extensions on the registry.</p>
      ) : (
        <table class="list admin-stack">
          <TableHead columns={["Package", "Latest", "Description", ""]} />
          <tbody>
            {available.packages.map((pkg) => (
              <tr>
                <th scope="row">{pkg.name}</th>
                <td data-label="Latest">
                  <code>{pkg.version}</code>
                </td>
                <td data-label="Description">{pkg.description ?? ""}</td>
                <td>
                  {pkg.installed ? (
                    <span class="muted">
                      installed as {pkg.installed.id} ({pkg.installed.version})
                    </span>
                  ) : (
                    canWrite && (
                      <form method="post" action="/extensions/install" class="inline">
                        <CsrfField session={session} />
                        <input type="hidden" name="package" value={pkg.name} />
                        <button type="submit" class="small" aria-label={`Install ${pkg.name}`}>
                          Install
                        </button>
                      </form>
                    )
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** The section around the list (or its placeholder): what installing does, and an install by name. */
export function AvailableSection({ session, registry, canWrite, children }: { session: PageSession; registry: string; canWrite: boolean; children?: Child }) {
  return (
    <section class="card admin-card" aria-labelledby="extensions-available">
      <h2 id="extensions-available">Available</h2>
      <p class="muted">
        Packages with the <code>gantry-extension</code> keyword on <code>{registry}</code>. Installing checks the package's sha512 integrity, runs no install scripts and pins the version.
      </p>
      {children}
      {canWrite && (
        <form method="post" action="/extensions/install" class="admin-form">
          <CsrfField session={session} />
          <label for="install-package">Package</label>
          <input id="install-package" name="package" required placeholder="gantry-extension-name" />
          <label for="install-version">Version (latest when empty)</label>
          <input id="install-version" name="version" placeholder="1.2.3" />
          <button type="submit">Install</button>
        </form>
      )}
    </section>
  );
}
