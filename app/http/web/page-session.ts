// What a page needs to know about the signed-in session.
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import type { PageSession } from "./layouts/page.tsx";

export function pageSession(c: Context<AppEnv>): PageSession {
  const session = c.get("session");
  return { who: session.token.name, csrfToken: session.csrfToken };
}
