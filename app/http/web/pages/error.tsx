// What a page shows when something goes wrong: the status, the message, a way back.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Page } from "../layouts/page.tsx";

const TITLES: Record<number, string> = {
  400: "That request was not valid",
  401: "Please log in",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  413: "Too large",
  429: "Too many attempts",
  503: "Unavailable",
};

export function ErrorPage({ status, message }: { status: number; message: string }) {
  const title = TITLES[status] ?? "Something went wrong";
  return (
    <Page title={title}>
      <section class="card narrow">
        <h1>{title}</h1>
        <p role="alert">{message}</p>
        <p>
          <a href="/">Back to the dashboard</a>
        </p>
      </section>
    </Page>
  );
}
