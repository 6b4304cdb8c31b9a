// The CLI's one way to the JSON API: where the server is and which token to send (env,
// then ~/.gantry.toml), requests through the typed client ("gantry/client") whose answers are
// validated with the API's own answer schemas (api-contract/), and readable errors.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { createClient, type GantryClient } from "../client/index.ts";
import { CliError } from "./errors.ts";

const DEFAULT_URL = "http://127.0.0.1:8080";
const REQUEST_TIMEOUT_MS = 30_000;
/** How a call tells the typed client's fetch to wait longer than REQUEST_TIMEOUT_MS (never sent to the server). */
const TIMEOUT_HEADER = "x-gantry-cli-timeout-ms";

export interface ClientSettings {
  /** Base URL of the server, without a trailing slash. */
  url: string;
  token: string | undefined;
  /** Where the token came from, so an auth error can say what to fix. */
  tokenSource: string | undefined;
}

const configFileSchema = v.looseObject({
  url: v.optional(v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"))),
  token: v.optional(v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"))),
});

/** Env wins key by key over ~/.gantry.toml; the URL falls back to the local default. */
function resolveClientSettings(env: Record<string, string | undefined> = process.env, home = env.HOME || homedir()): ClientSettings {
  const file = join(home, ".gantry.toml");
  let fromFile: v.InferOutput<typeof configFileSchema> = {};
  if (existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = Bun.TOML.parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new CliError(`${file} is not valid TOML: ${(error as Error).message}`);
    }
    const checked = v.safeParse(configFileSchema, parsed);
    if (!checked.success) {
      const issue = checked.issues[0];
      throw new CliError(`${file}: ${v.getDotPath(issue) ?? "file"}: ${issue.message}`);
    }
    fromFile = checked.output;
  }
  const url = normalizeUrl(env.GANTRY_URL || fromFile.url || DEFAULT_URL, env.GANTRY_URL ? "GANTRY_URL" : file);
  const token = env.GANTRY_TOKEN || fromFile.token;
  const tokenSource = env.GANTRY_TOKEN ? "GANTRY_TOKEN" : fromFile.token ? file : undefined;
  return { url, token, tokenSource };
}

function normalizeUrl(text: string, source: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`${source}: "${text}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`${source}: "${text}" must be an http:// or https:// URL`);
  // People paste the API URL as often as the server's; accept both.
  return url.href.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
}

/** One problem the API listed with an error, by input name (a run's invalid inputs). */
export interface ApiProblem {
  input: string;
  message: string;
}

/** The API answered with an error, or could not be reached at all (status 0). */
export class ApiError extends CliError {
  constructor(
    /** HTTP status, or 0 when no answer came. */
    readonly status: number,
    /** The API's `error.code` ("not_found", "unauthorized"...), or "unreachable" / "bad_response". */
    readonly code: string,
    message: string,
    /** Every problem the API listed (invalid inputs); the message shows them one per line. */
    readonly problems: readonly ApiProblem[] = [],
  ) {
    super(withProblems(message, problems));
  }
}

/**
 * The message, then one line per problem. The server's message may already list them on
 * one line ("invalid inputs: env: is required; ..."): that list is replaced by the lines.
 */
function withProblems(message: string, problems: readonly ApiProblem[]): string {
  if (problems.length === 0) return message;
  const inline = problems.map((problem) => `${problem.input}: ${problem.message}`).join("; ");
  const head = (message.endsWith(inline) ? message.slice(0, -inline.length) : message).replace(/[\s:.;]+$/, "");
  return `${head}:\n${problems.map((problem) => `  ${problem.input}: ${problem.message}`).join("\n")}`;
}

const errorBodySchema = v.object({
  error: v.object({
    code: v.string(),
    message: v.string(),
    problems: v.optional(v.array(v.object({ input: v.string(), message: v.string() })), []),
  }),
});

export interface ApiResult<T> {
  /** The answer, validated and typed. */
  data: T;
  /** The answer exactly as the API sent it, for --json. */
  raw: unknown;
  /** The HTTP status (201 tells a created resource from an updated one). */
  status: number;
}

type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface ApiClient {
  readonly url: string;
  /** The typed client (gantry/client) with this CLI's settings: calls by documented path. */
  readonly typed: GantryClient;
  /**
   * A typed call's answer checked against `schema` (or its error answer as an ApiError), as
   * json() gives them; `what` names the call in errors ("POST /pipelines/x/y/runs").
   */
  answer<S extends v.GenericSchema>(call: Promise<TypedResult>, schema: S, what: string): Promise<ApiResult<v.InferOutput<S>>>;
  /** A JSON request to `/api/v1<path>`; the answer is checked against `schema`. */
  /** `timeoutMs`: how long to wait for the answer (30 s unless told; a source's sync may take minutes). */
  json<S extends v.GenericSchema>(method: Method, path: string, schema: S, body?: unknown, options?: { timeoutMs?: number }): Promise<ApiResult<v.InferOutput<S>>>;
  /** A GET of a text resource (a log). */
  text(path: string): Promise<string>;
  /** A GET left open for reading (an SSE stream); aborted by `signal`. */
  stream(path: string, signal: AbortSignal): Promise<Response>;
  /** Raw bytes in or out (objects): the ok Response, its body unread. */
  bytes(method: Method, path: string, body?: Blob | Uint8Array): Promise<Response>;
  /** A WebSocket to `/api/v1<path>` (ws:// or wss:// as the server's URL says), with the token. */
  socket(path: string): WebSocket;
}

/** What a typed client's call settles with. */
interface TypedResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

export function createApiClient(settings: ClientSettings = resolveClientSettings()): ApiClient {
  const requireToken = () => {
    if (!settings.token) {
      throw new CliError(`no API token: set GANTRY_TOKEN or add token = "..." to ~/.gantry.toml (a new server writes one to <data>/bootstrap-token)`);
    }
  };
  const typed = createClient({
    url: settings.url,
    ...(settings.token && { token: settings.token }),
    // Each request waits for its answer the CLI's timeout, or as long as its call said
    // (TIMEOUT_HEADER, taken off before it is sent); no answer at all is "unreachable".
    fetch: async (request) => {
      const waitMs = Number(request.headers.get(TIMEOUT_HEADER) ?? REQUEST_TIMEOUT_MS);
      request.headers.delete(TIMEOUT_HEADER);
      try {
        return await fetch(request, { signal: AbortSignal.any([request.signal, AbortSignal.timeout(waitMs)]) });
      } catch (error) {
        throw unreachable(settings.url, error, waitMs);
      }
    },
  });
  /** A typed call's settled result as the CLI's ApiResult, or its error answer as an ApiError. */
  const answer = async <S extends v.GenericSchema>(call: Promise<TypedResult>, schema: S, what: string): Promise<ApiResult<v.InferOutput<S>>> => {
    if (!settings.token) {
      // The call went out without a token: its answer (a 401) says less than this.
      call.catch(() => undefined);
      requireToken();
    }
    let result: TypedResult;
    try {
      result = await call;
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (error instanceof SyntaxError) throw new ApiError(0, "bad_response", `${what}: the server did not answer with JSON; is ${settings.url} a Gantry server?`);
      throw unreachable(settings.url, error);
    }
    const { response } = result;
    if (!response.ok) throw errorOf(response, result.error, what, settings);
    const checked = v.safeParse(schema, result.data);
    if (!checked.success) {
      const issue = checked.issues[0];
      throw new ApiError(response.status, "bad_response", `${what}: unexpected answer (${v.getDotPath(issue) ?? "body"}: ${issue.message}); are the CLI and server the same version?`);
    }
    return { data: checked.output, raw: result.data, status: response.status };
  };
  const send = async (
    method: Method,
    path: string,
    init: { rawBody?: Blob | Uint8Array; accept: string; signal?: AbortSignal },
  ): Promise<Response> => {
    requireToken();
    const headers: Record<string, string> = { authorization: `Bearer ${settings.token}`, accept: init.accept };
    if (init.rawBody !== undefined) headers["content-type"] = "application/octet-stream";
    let response: Response;
    try {
      response = await fetch(`${settings.url}/api/v1${path}`, {
        method,
        headers,
        ...(init.rawBody !== undefined && { body: init.rawBody }),
        signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw unreachable(settings.url, error);
    }
    if (!response.ok) throw await errorFrom(response, method, path, settings);
    return response;
  };

  return {
    url: settings.url,
    typed,
    answer,
    async json(method, path, schema, body, options) {
      // A concrete path (no {parameters} left to fill): the typed client sends it as it is.
      const request = typed.request as unknown as (method: string, path: string, init: object) => Promise<TypedResult>;
      requireToken();
      const call = request(method.toLowerCase(), path, {
        ...(body !== undefined && { body }),
        ...(options?.timeoutMs && { headers: { [TIMEOUT_HEADER]: String(options.timeoutMs) } }),
      });
      return answer(call, schema, `${method} ${path}`);
    },
    async text(path) {
      return (await send("GET", path, { accept: "text/plain" })).text();
    },
    stream(path, signal) {
      return send("GET", path, { accept: "text/event-stream", signal });
    },
    bytes(method, path, body) {
      return send(method, path, { ...(body !== undefined && { rawBody: body }), accept: "application/octet-stream, application/json" });
    },
    socket(path) {
      requireToken();
      // Bun's WebSocket takes headers, so the token goes as on every other request, never in the URL.
      return new WebSocket(`${settings.url.replace(/^http/, "ws")}/api/v1${path}`, { headers: { authorization: `Bearer ${settings.token}` } });
    },
  };
}

function unreachable(url: string, error: unknown, waitMs = REQUEST_TIMEOUT_MS): ApiError {
  const cause = error as { name?: string; code?: string; message?: string };
  const reason =
    cause.name === "TimeoutError"
      ? `no answer within ${waitMs / 1000}s`
      : cause.code === "ECONNREFUSED" || cause.code === "ConnectionRefused"
        ? "connection refused"
        : cause.code === "ENOTFOUND"
          ? "host not found"
          : (cause.message ?? String(error));
  return new ApiError(0, "unreachable", `cannot reach the Gantry server at ${url} (${reason}); is it running? Set GANTRY_URL or url in ~/.gantry.toml`);
}

async function errorFrom(response: Response, method: Method, path: string, settings: ClientSettings): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not the API's error body (a proxy page, say): described from the status.
  }
  return errorOf(response, body, `${method} ${path}`, settings);
}

/** The API's error answer (`body`, parsed when it was JSON) as an ApiError; anything else described from the status. */
function errorOf(response: Response, body: unknown, what: string, settings: ClientSettings): ApiError {
  const checked = v.safeParse(errorBodySchema, body);
  if (!checked.success) {
    return new ApiError(response.status, "http_error", `${what}: ${response.status} ${response.statusText || "error"} from ${settings.url}`);
  }
  const { code, message, problems } = checked.output.error;
  if (response.status === 401) {
    return new ApiError(401, code, `the server rejected the token: ${message} (check ${settings.tokenSource ?? "GANTRY_TOKEN"})`);
  }
  return new ApiError(response.status, code, message, problems);
}
