// What a page needs to know about the signed-in session, and the one thing every page shows
// whatever it is about: whether runs are paused (one cheap read of the switch per render).
import type { Context } from "hono";
import { may } from "../../auth/roles.ts";
import { getSystemState } from "../../db/repos/system-state.ts";
import type { AppEnv } from "../env.ts";
import type { PageSession } from "./layouts/page.tsx";

/**
 * `path` is where a form of the layout (Resume runs) comes back to: the page's own address
 * for a GET; a page rendered by a POST (a form with an error) names its GET page, or gets "/".
 */
export async function pageSession(c: Context<AppEnv>, path?: string): Promise<PageSession> {
  const session = c.get("session");
  const deps = c.get("deps");
  const state = await getSystemState(deps.db);
  const url = new URL(c.req.url);
  return {
    who: session.token.name,
    csrfToken: session.csrfToken,
    path: path ?? (c.req.method === "GET" ? url.pathname + url.search : "/"),
    now: deps.now(),
    canPause: may(c, "system", "write"),
    canReadUsers: may(c, "users", "read"),
    ...(state.paused && { paused: { by: state.pausedBy, at: state.pausedAt } }),
    ...(deps.sandbox.status.state !== "on" && { sandbox: deps.sandbox.status }),
  };
}
