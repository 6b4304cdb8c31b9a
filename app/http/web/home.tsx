// The signed-in landing page.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import { may } from "../../auth/roles.ts";
import { listPipelines } from "../../db/repos/pipelines.ts";
import type { AppEnv } from "../env.ts";
import { requireSession } from "../middleware/session.ts";
import { HomePage } from "./pages/home.tsx";

export const homePage = new Hono<AppEnv>().get("/", requireSession, async (c) => {
  const session = c.get("session");
  const pipelines = (await listPipelines(c.get("deps").db))
    .filter((row) => may(c, "pipelines", "read", `${row.namespace}/${row.id}`))
    .map((row) => ({ namespace: row.namespace, id: row.id, error: row.loadError !== null }));
  return c.html(<HomePage who={session.token.name} csrfToken={session.csrfToken} pipelines={pipelines} />);
});
