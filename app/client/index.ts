// "gantry/client": a typed client of a Gantry server's JSON API, for scripts and tools (the
// CLI goes through it too). It is openapi-fetch over types generated from the API's OpenAPI
// document (api-types.ts, `npm run api:types`), which the routes' own schemas make: a call
// with a wrong path, parameter or body does not compile, and answers come typed.
// Imports nothing of the server.
import createFetchClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./api-types.ts";

export type { components, paths };

/** The client: `GET`, `POST`, `PUT`, `DELETE` by documented path, each answering `{ data, error, response }`. */
export type GantryClient = Client<paths>;

/** The API's error answer: `{ error: { code, message, problems? } }`. */
export type ApiErrorBody = components["schemas"]["Error"];

export interface ClientOptions {
  /** The server's URL, e.g. http://127.0.0.1:8080 (a URL ending in /api/v1 works too). */
  url: string;
  /** A Gantry token (gty_…), sent as `Authorization: Bearer`; GET /health needs none. */
  token?: string;
  /** Another fetch (a test's, one with a proxy or a timeout). */
  fetch?: (request: Request) => Promise<Response>;
}

/**
 * A typed client of a Gantry server's API.
 *
 * @example
 * import { createClient, answerOf } from "gantry/client";
 *
 * const gantry = createClient({ url: "http://127.0.0.1:8080", token: process.env.GANTRY_TOKEN });
 * const { run } = answerOf(
 *   await gantry.POST("/pipelines/{ns}/{id}/runs", { params: { path: { ns: "default", id: "hello" } }, body: { variables: { REF: "main" } } }),
 * );
 * console.log(`run ${run.id}: ${run.state}`);
 */
export function createClient(options: ClientOptions): GantryClient {
  const base = options.url.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
  return createFetchClient<paths>({
    baseUrl: `${base}/api/v1`,
    ...(options.token && { headers: { authorization: `Bearer ${options.token}` } }),
    ...(options.fetch && { fetch: options.fetch }),
  });
}

/** An error answer of the API, as an Error: its status, `code` and message (and an invalid run input's problems). */
export class GantryApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: readonly { input: string; message: string }[] = [],
  ) {
    super(message);
    this.name = "GantryApiError";
  }
}

/**
 * The answer of a call, or a GantryApiError for an error answer.
 *
 * @example
 * const { pipelines } = answerOf(await gantry.GET("/pipelines"));
 */
export function answerOf<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error === undefined && result.response.ok) return result.data as T;
  const body = result.error as Partial<ApiErrorBody> | undefined;
  const error = body?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    throw new GantryApiError(result.response.status, error.code, error.message, error.problems ?? []);
  }
  throw new GantryApiError(result.response.status, "http_error", `${result.response.status} ${result.response.statusText || "error"} from ${result.response.url}`);
}
