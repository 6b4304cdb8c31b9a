// ctx.objects of run() tasks: the object store through the server's API, with the run's own
// token (objects read/write on its pipeline). fetch only, no node: built-ins: the task
// runner loads this on every start.
import type { ObjectStoreClient } from "../../sdk/index.ts";
import { objectKeyProblem } from "../../domain/object-keys.ts";

/** Carries the run's objects token to the runner, which removes it before the task sees its env. */
export const OBJECTS_TOKEN_ENV = "GANTRY_OBJECTS_TOKEN";

export interface ObjectsClientOptions {
  apiUrl: string | undefined;
  token: string | undefined;
  namespace: string | undefined;
  pipeline: string | undefined;
  run: string | undefined;
}

type Scope = "pipeline" | "run";

const UNAUTHORIZED_RETRIES_MS = [50, 200, 500];

export function createObjectsClient(options: ObjectsClientOptions): ObjectStoreClient {
  const { apiUrl, token, namespace, pipeline, run } = options;

  const request = async (method: "GET" | "PUT", key: string, scope: Scope | undefined, body?: Uint8Array | string): Promise<Response> => {
    if (!apiUrl || !token || !namespace || !pipeline || !run) {
      throw new Error("the object store is not available to this task (it runs without a Gantry server)");
    }
    if (scope !== undefined && scope !== "pipeline" && scope !== "run") {
      throw new Error(`object scope must be "pipeline" or "run", got ${JSON.stringify(scope)}`);
    }
    if (typeof key !== "string") throw new Error("the object key must be a string");
    const problem = objectKeyProblem(key);
    if (problem) throw new Error(`object key ${JSON.stringify(key)} ${problem}`);
    const base = `${apiUrl}/api/v1/pipelines/${namespace}/${pipeline}${scope === "run" ? `/runs/${run}` : ""}`;
    // The whole key as one escaped segment: the URL parser never reinterprets its slashes.
    const url = `${base}/objects/${encodeURIComponent(key)}`;
    const init = {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { "content-type": "application/octet-stream" }) },
      ...(body !== undefined && { body }),
    };
    // The server stores the token while this process starts; with a database server (not
    // an embedded file) the very first request can overtake that, so a 401 is retried briefly.
    for (const delay of UNAUTHORIZED_RETRIES_MS) {
      const response = await fetch(url, init);
      if (response.status !== 401) return response;
      await response.text();
      await Bun.sleep(delay);
    }
    return fetch(url, init);
  };

  const failure = async (response: Response, what: string): Promise<Error> => {
    const text = await response.text().catch(() => "");
    let message = text || response.statusText;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message ?? message;
    } catch {
      // not the API's error body
    }
    return new Error(`${what} failed (${response.status}): ${message}`);
  };

  return {
    async get(key, scope = "pipeline") {
      const response = await request("GET", key, scope);
      if (response.status === 404) {
        await response.text();
        return undefined;
      }
      if (!response.ok) throw await failure(response, `objects.get(${JSON.stringify(key)})`);
      return new Uint8Array(await response.arrayBuffer());
    },
    async put(key, body, scope = "pipeline") {
      if (typeof body !== "string" && !(body instanceof Uint8Array)) throw new Error("objects.put expects a Uint8Array or a string");
      const response = await request("PUT", key, scope, body);
      if (!response.ok) throw await failure(response, `objects.put(${JSON.stringify(key)})`);
      await response.text();
    },
  };
}
