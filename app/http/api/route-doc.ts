// Each API route describes itself once, beside its handler: what it does, who may call it and
// the schema of its answer. The OpenAPI document (openapi.ts) is made from these and the
// request validators (validate.ts). With GANTRY_CHECK_RESPONSES=1 (the test suite sets it)
// every JSON answer is checked against them, so the document cannot drift from the server.
import type { Context, MiddlewareHandler } from "hono";
import { resolver, uniqueSymbol } from "hono-openapi";
import * as v from "valibot";
import { errorAnswer } from "../../api-contract/errors.ts";
import type { AppEnv } from "../env.ts";

/** An answer that is not JSON: its media type and what it holds. */
export interface OtherAnswer {
  mediaType: string;
  description: string;
}

export interface RouteDoc {
  summary: string;
  /** Who calls it: a token (the default), nobody in particular ("public"), or a container extension with its own secret ("extension"). */
  auth?: "token" | "public" | "extension";
  /**
   * The permission the handler checks, as `resource:action` with what it applies to, e.g.
   * "runs:write on the pipeline". Absent: any valid token may call it (a list then shows
   * only what the token may read).
   */
  permission?: string;
  /** The success status (200 unless said), or the statuses of success (a PUT that creates or replaces). */
  success?: number | readonly number[];
  /** The JSON answer's schema (valibot), or another media type. Absent: the route answers no body worth describing. */
  response?: v.GenericSchema | OtherAnswer;
  /** A request body no validator describes: raw bytes, or JSON the handler checks itself (its schema). */
  body?: OtherAnswer | v.GenericSchema;
}

/** What route-doc keeps on its middleware, for the document's extras and the tests. */
export const ROUTE_DOC = Symbol("gantry route doc");

const checking = process.env.GANTRY_CHECK_RESPONSES === "1";

const isSchema = (response: RouteDoc["response"]): response is v.GenericSchema => response !== undefined && "~standard" in response;

/** Marks a route with its description (first among its middleware). */
export function doc(route: RouteDoc): MiddlewareHandler<AppEnv> {
  const statuses = typeof route.success === "number" ? [route.success] : (route.success ?? [200]);
  const auth = route.auth ?? "token";
  const success = Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: "success",
        ...(isSchema(route.response)
          ? { content: { "application/json": { schema: resolver(route.response) } } }
          : route.response && { content: { [route.response.mediaType]: { schema: { type: "string", description: route.response.description } } } }),
      },
    ]),
  );
  const who = auth === "public" ? "No token needed." : auth === "extension" ? "A container extension's secret (Bearer <GANTRY_EXTENSION_SECRET>), not a user token." : route.permission ? `Needs ${route.permission}.` : "Any valid token.";
  const spec = {
    summary: route.summary,
    description: who,
    ...(auth === "public" && { security: [] }),
    ...(auth === "extension" && { security: [{ extensionSecret: [] }] }),
    ...(route.permission && { "x-permission": route.permission }),
    ...(route.body && {
      requestBody: {
        required: true,
        content: isSchema(route.body)
          ? { "application/json": { schema: resolver(route.body) } }
          : { [route.body.mediaType]: { schema: { type: "string", format: "binary", description: route.body.description } } },
      },
    }),
    responses: {
      ...success,
      default: { description: "an error: `error.code` says which, `error.message` why", content: { "application/json": { schema: resolver(errorAnswer) } } },
    },
  };
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    if (checking) await checkAnswer(c, statuses, route);
  };
  return Object.assign(middleware, { [uniqueSymbol]: { spec }, [ROUTE_DOC]: { ...route, auth, success: statuses } });
}

/**
 * The test suite's check: a JSON answer must match its route's schema (an error, the error
 * shape). One that does not becomes a 500 naming the route and the problem, so the test that
 * saw it fails.
 */
async function checkAnswer(c: Context<AppEnv>, statuses: readonly number[], route: RouteDoc): Promise<void> {
  const type = c.res.headers.get("content-type") ?? "";
  if (!type.startsWith("application/json")) return;
  const status = c.res.status;
  const schema = statuses.includes(status) ? (isSchema(route.response) ? route.response : undefined) : status >= 400 ? errorAnswer : null;
  let problem: string;
  if (schema === null) problem = `status ${status} is not documented (${statuses.join(", ")})`;
  else if (schema === undefined) problem = "it answers JSON, and its doc() gives no schema for it";
  else {
    const parsed = v.safeParse(schema, await c.res.clone().json());
    if (parsed.success) return;
    problem = parsed.issues
      .slice(0, 5)
      .map((issue) => `${v.getDotPath(issue) ?? "(body)"}: ${issue.message}`)
      .join("; ");
  }
  const message = `the answer of ${c.req.method} ${c.req.routePath} (${status}) does not match its documented schema: ${problem}`;
  console.error(message);
  c.res = undefined;
  c.res = c.json({ error: { code: "internal", message } }, 500);
}
