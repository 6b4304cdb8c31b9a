// An extension that is a container image speaking HTTP (docs/extension-protocol.md): starts
// it on the host network with a fresh shared secret, health-checks it, and turns the host's
// messages (init, subscribe, unsubscribe, hook, event, provide-token) into requests to it, answering as a
// Worker would.
import type Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import type { Readable } from "node:stream";
import {
  describeDockerFailure,
  dockerMessage,
  GANTRY_LABELS,
  listServerContainers,
  serverLabels,
  type DockerConnection,
} from "../engine/executors/docker-client.ts";
import { createLineSplitter } from "../domain/line-splitter.ts";
import * as v from "valibot";
import { cutMessage, hookResponseSchema, providedTokenSchema, type HostMessage, type WorkerMessage } from "./protocol.ts";

const READY_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 10_000;
const HEALTH_INTERVAL_MS = 5_000;
/** Failed health checks in a row before the container counts as crashed. */
const HEALTH_FAILURES = 3;

export interface ContainerExtensionOptions {
  id: string;
  image: string;
  connection: DockerConnection;
  /** This server's id, labelled on the container like on task containers. */
  instance: string;
  /** Where the container calls back (GANTRY_API_URL). */
  apiUrl: string;
  /** What a Worker would have posted: ready, failed, log, subscription-error, hook-result, token-result. */
  onMessage(message: WorkerMessage): void;
  /** The container exited or stopped answering its health check. */
  onExit(reason: string): void;
}

export interface ContainerExtension {
  /** The bearer secret both sides present; new for every start. */
  readonly secret: string;
  postMessage(message: HostMessage): void;
  /** Stops and removes the container. */
  terminate(): Promise<void>;
}

/** The label naming an extension's container, so the janitor leaves it and a restart finds leftovers. */
const extensionLabel = (id: string) => ({ [GANTRY_LABELS.extension]: id });

async function freePort(): Promise<number> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port!;
  await server.stop(true);
  return port;
}

const errorAnswerSchema = v.object({ error: v.object({ message: v.string() }) });
const tokenAnswerSchema = v.object({ token: v.optional(v.nullable(providedTokenSchema)) });

export function createContainerExtension(options: ContainerExtensionOptions): ContainerExtension {
  const { docker } = options.connection;
  const secret = randomBytes(32).toString("hex");
  let container: Docker.Container | undefined;
  let port = 0;
  let terminated = false;
  let healthTimer: ReturnType<typeof setInterval> | undefined;
  const log = (line: string) => options.onMessage({ type: "log", line });

  const exit = (reason: string) => {
    if (terminated) return;
    clearInterval(healthTimer);
    options.onExit(reason);
  };

  /** One request to the container; its JSON answer (or undefined for an empty body). */
  const request = async (method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, ...(body !== undefined && { "content-type": "application/json" }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: response.status, json };
  };

  // The container's words become a subscription's error, shown in API and UI: a string, cut to size.
  const errorOf = (json: unknown, status: number) => {
    const answer = v.safeParse(errorAnswerSchema, json);
    const message = answer.success ? answer.output.error.message : typeof json === "string" && json ? json : `HTTP ${status}`;
    return cutMessage(message);
  };

  const waitHealthy = async () => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (terminated) return false;
      const ok = await request("GET", "/health").then((answer) => answer.status === 200, () => false);
      if (ok) return true;
      if (Date.now() > deadline) return false;
      await Bun.sleep(100);
    }
  };

  const launch = async ({ config, subscriptions }: HostMessage & { type: "init" }) => {
    try {
      // A server that did not stop cleanly may have left this extension's container behind.
      // Within a time limit: an engine that accepts connections but never answers makes this
      // start fail (and be retried), not hang.
      for (const info of await listServerContainers(docker, options.instance, extensionLabel(options.id))) {
        await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
      }
    } catch (error) {
      return exit(describeDockerFailure(error, options.connection.host, "could not look for leftover containers"));
    }
    if (terminated) return;
    try {
      port = await freePort();
      container = await docker.createContainer({
        Image: options.image,
        Labels: { ...serverLabels(options.instance), ...extensionLabel(options.id) },
        Env: [
          `GANTRY_EXTENSION_ID=${options.id}`,
          `GANTRY_EXTENSION_PORT=${port}`,
          `GANTRY_EXTENSION_SECRET=${secret}`,
          `GANTRY_API_URL=${options.apiUrl}`,
        ],
        // Both sides talk over 127.0.0.1: the container's port is the host's.
        HostConfig: { NetworkMode: "host" },
      });
      if (terminated) return void (await container.remove({ force: true }).catch(() => undefined));
      const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      const output = new PassThrough();
      const lines = createLineSplitter(log);
      output.on("data", (chunk: Buffer) => lines.push(chunk));
      docker.modem.demuxStream(stream, output, output);
      await container.start();
    } catch (error) {
      return exit(`could not start image ${options.image}: ${dockerMessage(error)}`);
    }
    if (terminated) return;
    void container.wait().then(
      (result: { StatusCode: number }) => exit(`the container exited with code ${result.StatusCode}`),
      (error: unknown) => exit(`the container is gone: ${dockerMessage(error)}`),
    );
    if (!(await waitHealthy())) return exit(`GET /health did not answer 200 within ${READY_TIMEOUT_MS / 1000}s`);
    try {
      const started = await request("POST", "/start", { config });
      // A refused config is not fixed by restarting, as with a Worker extension's bad config.
      if (started.status >= 300) return options.onMessage({ type: "failed", message: `POST /start answered ${started.status}: ${errorOf(started.json, started.status)}` });
    } catch (error) {
      return exit(`POST /start failed: ${(error as Error).message}`);
    }
    for (const subscription of subscriptions) await subscribe("subscribe", subscription);
    if (terminated) return;
    options.onMessage({ type: "ready" });
    let failures = 0;
    healthTimer = setInterval(() => {
      void request("GET", "/health").then(
        (answer) => answer.status === 200,
        () => false,
      ).then((ok) => {
        failures = ok ? 0 : failures + 1;
        if (failures >= HEALTH_FAILURES) exit(`GET /health failed ${HEALTH_FAILURES} times in a row`);
      });
    }, HEALTH_INTERVAL_MS);
  };

  const subscribe = async (kind: "subscribe" | "unsubscribe", subscription: { id: number }) => {
    try {
      const answer = await request("POST", `/${kind}`, { subscription });
      if (answer.status >= 300 && kind === "subscribe") {
        options.onMessage({ type: "subscription-error", id: subscription.id, message: errorOf(answer.json, answer.status) });
      }
    } catch (error) {
      if (kind === "subscribe") options.onMessage({ type: "subscription-error", id: subscription.id, message: (error as Error).message });
    }
  };

  return {
    secret,
    postMessage(message) {
      switch (message.type) {
        case "init":
          void launch(message);
          return;
        case "subscribe":
        case "unsubscribe":
          void subscribe(message.type, message.subscription);
          return;
        case "hook": {
          const { request: hook, requestId } = message;
          const body = { method: hook.method, path: hook.path, headers: hook.headers, body: Buffer.from(hook.body).toString("base64") };
          void request("POST", "/hook", body).then(
            (answer) => {
              // The hook's sender gets what the container says only if it is a status a Response can carry.
              const result = v.safeParse(hookResponseSchema, answer.json);
              const problem = answer.status !== 200 ? `with ${answer.status}` : !result.success ? `with an invalid answer (${v.getDotPath(result.issues[0]) ?? "body"}: ${result.issues[0].message})` : undefined;
              options.onMessage({
                type: "hook-result",
                requestId,
                response:
                  result.success && problem === undefined
                    ? { status: result.output.status, body: result.output.body }
                    : { status: 502, body: { error: { code: "bad_gateway", message: `extension ${options.id} answered POST /hook ${problem}` } } },
              });
            },
            (error: Error) =>
              options.onMessage({ type: "hook-result", requestId, response: { status: 502, body: { error: { code: "bad_gateway", message: error.message } } } }),
          );
          return;
        }
        case "provide-token": {
          // 404: the extension provides no tokens, which is "none" rather than a failure.
          const { request: tokenRequest, requestId } = message;
          void request("POST", "/token", { request: tokenRequest }).then(
            (answer) => {
              if (answer.status === 404) return options.onMessage({ type: "token-result", requestId });
              if (answer.status !== 200) return options.onMessage({ type: "token-result", requestId, error: `extension ${options.id} answered POST /token with ${answer.status}: ${errorOf(answer.json, answer.status)}` });
              const result = v.safeParse(tokenAnswerSchema, answer.json);
              if (!result.success) {
                const problem = `${v.getDotPath(result.issues[0]) ?? "body"}: ${result.issues[0].message}`;
                return options.onMessage({ type: "token-result", requestId, error: `extension ${options.id} answered POST /token with an invalid answer (${problem})` });
              }
              const token = result.output.token;
              options.onMessage({ type: "token-result", requestId, ...(token && { token }) });
            },
            (error: Error) => options.onMessage({ type: "token-result", requestId, error: `POST /token failed: ${error.message}` }),
          );
          return;
        }
        case "event":
          // Told, not asked: an extension that takes no events answers 404, and a failure is
          // only a log line (events are never replayed, as for a Worker extension).
          void request("POST", "/event", { event: message.event }).then(
            (answer) => {
              if (answer.status >= 300 && answer.status !== 404) log(`[gantry] POST /event (${message.event.kind}) answered ${answer.status}`);
            },
            (error: Error) => log(`[gantry] POST /event (${message.event.kind}) failed: ${error.message}`),
          );
          return;
        default:
          // Calls from a container are answered over HTTP, not by "reply" messages.
          return;
      }
    },
    async terminate() {
      terminated = true;
      clearInterval(healthTimer);
      await container?.remove({ force: true }).catch(() => undefined);
    },
  };
}
