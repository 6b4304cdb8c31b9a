// /api/v1/extensions/:id/calls: where a container extension asks Gantry to act (start a run,
// read a secret, log, keep state). Authenticated by that extension's own secret, not a user
// token; the body is checked by the host only after the secret, so a stranger learns nothing.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { errorBody } from "../errors.ts";
import { extensionCallAnswer } from "../../api-contract/answers.ts";
import * as v from "valibot";
import { API_METHODS } from "../../extension-host/api-calls.ts";
import { doc } from "./route-doc.ts";

/** What a call says (the host checks each method's args: docs/extension-protocol.md). */
const callBody = v.object({ method: v.picklist(API_METHODS), args: v.array(v.unknown()) });

/** Stands for a body that is not JSON at all: the host refuses it as "must be an object". */
const NOT_JSON = Symbol("not JSON");

export const extensionCallsApi = new Hono<AppEnv>().post("/:id/calls", doc({ summary: "A container extension's call (startRun, secret, log, getState, setState); authenticated by Bearer <GANTRY_EXTENSION_SECRET>, not a user token (docs/extension-protocol.md)", auth: "extension", body: callBody, response: extensionCallAnswer }), async (c) => {
  const presented = /^Bearer (\S+)$/.exec(c.req.header("authorization") ?? "")?.[1];
  const body: unknown = await c.req.json().catch(() => NOT_JSON);
  const result = await c.get("deps").extensions.call(c.req.param("id"), presented, body);
  if (result.ok) return c.json({ value: result.value ?? null });
  return c.json(errorBody(result.status === 401 ? "unauthorized" : "invalid", result.message), result.status);
});
