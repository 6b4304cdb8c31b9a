// Static assets, imported as text so they are embedded in the single binary.
import { Hono } from "hono";
import appCss from "../../../public/app.css" with { type: "text" };
import type { AppEnv } from "../env.ts";

const ASSETS: Record<string, { body: string; type: string }> = {
  "app.css": { body: appCss, type: "text/css; charset=utf-8" },
};

export const assets = new Hono<AppEnv>().get("/:name", (c) => {
  const asset = ASSETS[c.req.param("name")];
  if (!asset) return c.text("not found", 404);
  return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": "public, max-age=300" });
});
