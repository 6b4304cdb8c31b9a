// Web forms: POST /system/pause and /system/resume (system:write), the switch on the
// dashboard and the banner's Resume button; both come back to the page they were on.
// GET /system/backup: the dashboard's "Download a backup" link (backups:write), as the API's.
import { Hono, type Context } from "hono";
import { backupResponse } from "../api/system.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { formText } from "./form.ts";
import { localPath } from "./local-path.ts";

async function back(c: Context<AppEnv>): Promise<Response> {
  const form = await c.req.parseBody();
  return c.redirect(localPath(formText(form.next)), 303);
}

export const systemPages = new Hono<AppEnv>()
  // A GET that changes nothing: SameSite=Strict keeps other sites from starting one with the cookie.
  .get("/backup", requireSession, permit("backups", "write"), backupResponse)
  .post("/pause", requireSession, requireCsrf, permit("system", "write"), async (c) => {
    await c.get("deps").orchestrator.pause(c.get("token").name);
    return back(c);
  })
  .post("/resume", requireSession, requireCsrf, permit("system", "write"), async (c) => {
    await c.get("deps").orchestrator.resume(c.get("token").name);
    return back(c);
  });
