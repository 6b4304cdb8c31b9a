// All web pages under their paths. Every router checks the session (and CSRF on
// state-changing requests) on its own routes: a catch-all middleware here would also
// catch /api/v1, which authenticates with bearer tokens instead.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { approvalPages } from "./approvals.ts";
import { artifactPages } from "./artifacts.ts";
import { assets } from "./assets.ts";
import { authPages } from "./auth.tsx";
import { dashboardPages } from "./dashboard.tsx";
import { environmentPages } from "./environments.tsx";
import { eventPages } from "./events.tsx";
import { extensionPages } from "./extensions.tsx";
import { objectPages } from "./objects.tsx";
import { pipelinePages } from "./pipelines.tsx";
import { runPages } from "./runs.tsx";
import { runLogSearchPages } from "./run-log-search.tsx";
import { secretPages } from "./secrets.tsx";
import { signInPages } from "./sign-in.tsx";
import { sourcePages } from "./sources.tsx";
import { systemPages } from "./system.ts";
import { tokenPages } from "./tokens.tsx";
import { userPages } from "./users.tsx";
import { versionDiffPages } from "./version-diff.tsx";

export const webPages = new Hono<AppEnv>()
  .route("/public", assets)
  .route("/", authPages)
  .route("/auth", signInPages)
  .route("/", dashboardPages)
  .route("/pipelines", pipelinePages)
  .route("/pipelines", runPages)
  .route("/pipelines", runLogSearchPages)
  .route("/pipelines", approvalPages)
  .route("/pipelines", objectPages)
  .route("/pipelines", artifactPages)
  .route("/pipelines", versionDiffPages)
  // /sources, /sources/:name and the list's stream at /live/sources (a source may be named "live").
  .route("/", sourcePages)
  .route("/environments", environmentPages)
  .route("/secrets", secretPages)
  .route("/tokens", tokenPages)
  .route("/users", userPages)
  .route("/extensions", extensionPages)
  .route("/events", eventPages)
  .route("/system", systemPages);
