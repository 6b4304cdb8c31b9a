// /extensions/available without JavaScript: the registry's extensions on a page of their own
// (with JavaScript, the extensions page loads the same list into its "Available" section).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { AvailableList, AvailableSection, type AvailableAnswer } from "../components/extensions-available.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";

export function AvailableExtensionsPage({ session, available, canWrite }: { session: PageSession; available: AvailableAnswer; canWrite: boolean }) {
  return (
    <Page title="Available extensions" session={session} section="extensions">
      <h1>Available extensions</h1>
      <p>
        <a href="/extensions">Back to the extensions</a>
      </p>
      <AvailableSection session={session} registry={available.registry} canWrite={canWrite}>
        <AvailableList session={session} available={available} canWrite={canWrite} />
      </AvailableSection>
    </Page>
  );
}
