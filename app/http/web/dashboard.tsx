// Web pages: the dashboard (/) and its live stream.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { Page } from "./layouts/page.tsx";
import { requireSession } from "../middleware/session.ts";
import { pageSession } from "./page-session.ts";

export const dashboardPages = new Hono<AppEnv>().get("/", requireSession, (c) =>
  c.html(
    <Page title="Dashboard" session={pageSession(c)} section="dashboard">
      <h1>Dashboard</h1>
    </Page>,
  ),
);
