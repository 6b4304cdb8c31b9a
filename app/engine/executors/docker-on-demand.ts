// The Docker client, loaded when it is first needed. dockerode brings docker-modem, ssh2,
// gRPC and protobufjs: ~41 MiB of the server's memory, more than the rest of an idle server.
// What an idle server asks the engine (the health check, the start-up prune and the
// janitor's passes: the engine's version, lists of containers and services, removals) goes
// over node:http with dockerode's answers and errors (statusCode, json, the socket's
// error codes), so a server that runs no container task never loads it; anything else loads
// dockerode and is handed to it.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
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

/** A dockerode client whose few idle-time calls go over node:http; the rest loads dockerode on first use. */
export function dockerOnDemand(address: EngineAddress, options: Docker.DockerOptions): Docker {
  let loaded: Docker | undefined;
  const real = (): Docker => {
    // Synchronous, on first use (the calls that need it are made on a Docker object at once);
    // require, which the compiled binary bundles (import.meta.require it does not).
    const DockerClass = require("dockerode") as typeof Docker;
    return (loaded ??= new DockerClass(options));
  };

  // node:http as dockerode's modem does: no HTTP(S)_PROXY detour (Bun's fetch takes one), an idle limit, the socket's error codes.
  const call = <T>(method: "GET" | "DELETE", path: string, query: Record<string, string> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const search = new URLSearchParams(query).toString();
      const target = address.socketPath ? { socketPath: address.socketPath } : urlTarget(address.baseUrl ?? "http://localhost:2375");
      const request = ("protocol" in target && target.protocol === "https:" ? httpsRequest : httpRequest)(
        { ...target, method, path: `${path}${search ? `?${search}` : ""}`, ...(address.timeoutMs !== undefined && { timeout: address.timeoutMs }) },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", reject);
          response.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              // Not JSON (a proxy in front of the engine): its text is the message.
              json = text ? { message: text } : undefined;
            }
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(json as T);
            else reject(new EngineError(status, json as { message?: string } | undefined, response.statusMessage || "engine error"));
          });
        },
      );
      // The idle limit, as dockerode's: the engine said nothing for that long.
      request.on("timeout", () => request.destroy(Object.assign(new Error(`no answer from the Docker engine in ${address.timeoutMs} ms`), { code: "ETIMEDOUT" })));
      request.on("error", reject);
      request.end();
    });
  const filters = (value: unknown): Record<string, string> => (value === undefined ? {} : { filters: JSON.stringify(value) });

  /** What an idle server asks, answered here; everything else on the same objects goes to dockerode. */
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

/** Where a TCP engine's requests go. */
function urlTarget(base: string): { protocol: string; hostname: string; port: number } {
  const url = new URL(base);
  return { protocol: url.protocol, hostname: url.hostname, port: Number(url.port || (url.protocol === "https:" ? 443 : 80)) };
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
