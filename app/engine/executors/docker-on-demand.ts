// The Docker client, loaded when it is first needed. dockerode brings docker-modem, ssh2,
// gRPC and protobufjs: ~41 MiB of the server's memory, more than the rest of an idle server.
// What an idle server asks the engine (the health check, the start-up prune and the
// janitor's passes: the engine's version, lists of containers and services, removals) goes
// over a plain fetch with dockerode's answers and errors (statusCode, json, the socket's
// error codes), so a server that runs no container task never loads it; anything else loads
// dockerode and is handed to it.
import type Docker from "dockerode";

export interface EngineAddress {
  /** A Unix socket's path, or an http(s) base URL of a TCP engine. */
  socketPath?: string;
  baseUrl?: string;
  /** dockerode's per-request idle limit (ms), when the client has one. */
  timeoutMs?: number;
}

/** An answer dockerode would reject with: the engine's message, its status, its JSON. */
class EngineError extends Error {
  constructor(
    readonly statusCode: number,
    readonly json: { message?: string } | undefined,
    reason: string,
  ) {
    super(`(HTTP code ${statusCode}) ${reason} - ${json?.message ?? ""}`.trim());
  }
}

/** A dockerode client whose few idle-time calls go over fetch; the rest loads dockerode on first use. */
export function dockerOnDemand(address: EngineAddress, options: Docker.DockerOptions): Docker {
  let loaded: Docker | undefined;
  const real = (): Docker => {
    // Synchronous, on first use (the calls that need it are made on a Docker object at once);
    // require, which the compiled binary bundles (import.meta.require it does not).
    const DockerClass = require("dockerode") as typeof Docker;
    return (loaded ??= new DockerClass(options));
  };

  const call = async <T>(method: "GET" | "DELETE", path: string, query: Record<string, string> = {}): Promise<T> => {
    const search = new URLSearchParams(query).toString();
    const url = `${address.baseUrl ?? "http://localhost"}${path}${search ? `?${search}` : ""}`;
    const response = await fetch(url, {
      method,
      ...(address.socketPath && { unix: address.socketPath }),
      ...(address.timeoutMs !== undefined && { signal: AbortSignal.timeout(address.timeoutMs) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) throw new EngineError(response.status, json as { message?: string } | undefined, response.statusText || "engine error");
    return json as T;
  };
  const filters = (value: unknown): Record<string, string> => (value === undefined ? {} : { filters: JSON.stringify(value) });

  /** What an idle server asks, over fetch; everything else on the same objects goes to dockerode. */
  const light: Record<string, unknown> = {
    version: () => call("GET", "/version"),
    listContainers: (opts: { all?: boolean; filters?: unknown } = {}) => call("GET", "/containers/json", { ...(opts.all && { all: "1" }), ...filters(opts.filters) }),
    listServices: (opts: { filters?: unknown } = {}) => call("GET", "/services", filters(opts.filters)),
    getContainer: (id: string) =>
      handOff(() => real().getContainer(id), {
        remove: (opts: { force?: boolean; v?: boolean } = {}) =>
          call("DELETE", `/containers/${encodeURIComponent(id)}`, { ...(opts.force && { force: "1" }), ...(opts.v && { v: "1" }) }),
      }),
    getService: (id: string) => handOff(() => real().getService(id), { remove: () => call("DELETE", `/services/${encodeURIComponent(id)}`) }),
  };
  return handOff(real, light) as Docker;
}

/** An object whose `own` members answer here and whose others are the target's (made on first need). */
function handOff<T extends object>(target: () => T, own: Record<string, unknown>): T {
  return new Proxy({} as T, {
    get(_, key) {
      if (typeof key === "string" && key in own) return own[key];
      const real = target();
      const value = Reflect.get(real, key, real);
      return typeof value === "function" ? value.bind(real) : value;
    },
    has: (_, key) => (typeof key === "string" && key in own) || Reflect.has(target(), key),
  });
}
