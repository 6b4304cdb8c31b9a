// Boots a Gantry server from a Config: database, pipelines, HTTP, then the run engine,
// which takes back the runs the previous process left in flight.
import { ConfigError, type Config } from "./config.ts";
import { createDeps, type Deps } from "./deps.ts";
import { createServer } from "./server.ts";
import { websocket } from "hono/bun";
import { ensureBootstrapToken } from "./auth/tokens.ts";
import { createLoginCode } from "./auth/login-codes.ts";
import { parseTrustedProxies } from "./http/client-address.ts";
import { createHooksReceiver, MAX_HOOK_BODY_BYTES } from "./http/hooks/receiver.ts";
import { revokeRunTokens } from "./db/repos/tokens.ts";
import { unfinishedRunKeys } from "./db/repos/runs.ts";
import type { PruneResult } from "./engine/janitor.ts";
import { startEventRelay } from "./engine/event-relay.ts";

export interface RunningGantry {
  deps: Deps;
  /** Base URL of the web UI and API, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Base URL of the webhook receiver (GANTRY_HOOKS_PORT). */
  hooksUrl: string;
  /**
   * A fresh install's bootstrap token (for tests and embedders in this process; `gantry serve`
   * never prints it: it lives in <data>/bootstrap-token).
   */
  bootstrapToken?: string;
  /** A fresh install's one-time web login link (`/login?code=...`), valid 15 minutes, used once. */
  loginUrl?: string;
  /** Runs the previous process left in flight that this one took back. */
  runsResumed: number;
  /** What the start-up prune (in the background) removed, and whether Docker answered. */
  pruned: Promise<PruneResult>;
  /**
   * Settles with the reason if another process claims this server's node id (this one went
   * without a heartbeat for the lease): its engine has stopped; stop the server.
   */
  lost: Promise<string>;
  /**
   * Stops serving. Runs in flight are left to the next start (containers keep running and
   * are taken back), or with `cancelRuns` cancelled and waited for.
   */
  stop(options?: { cancelRuns?: boolean }): Promise<void>;
}

export async function startGantry(config: Config, options: { now?: () => Date } = {}): Promise<RunningGantry> {
  // A bad proxy entry would otherwise surface on the first login; say so before serving.
  parseTrustedProxies(config.trustedProxies);
  const deps = await createDeps(config, options);
  // Before anything is done as this node: the id is claimed, so no other server is this node
  // while this one runs (servers sharing a data dir, and so its node-id, would drive runs twice).
  const taken = await deps.orchestrator.claimNode();
  if (taken) {
    deps.database.close();
    throw new ConfigError(taken);
  }
  // Should a later step fail, what had started stops again, the last first, down to the node's
  // heartbeat and claim (so a restart need not wait for the id) and the database.
  const started: (() => unknown)[] = [() => deps.database.close(), () => deps.orchestrator.shutdown("detach")];
  try {
    return await serve(config, deps, started);
  } catch (error) {
    for (const stop of started.reverse()) await Promise.resolve().then(stop).catch(() => undefined);
    throw error;
  }
}

async function serve(config: Config, deps: Deps, started: (() => unknown)[]): Promise<RunningGantry> {
  // What other servers on the database do reaches this one's live pages (from now on).
  const relay = await startEventRelay({ db: deps.db, bus: deps.bus, nodeId: deps.orchestrator.nodeId, leaseMs: config.leaseMs, now: deps.now });
  started.push(() => relay.stop());
  started.push(() => deps.metrics.stop());
  // Tokens handed to tasks of runs that ended while no server watched would otherwise live
  // on; those of unfinished runs stay for the engine to take back.
  await revokeRunTokens(deps.db, deps.now(), await unfinishedRunKeys(deps.db));
  // Containers of ended runs (and any other left-over) go; those of unfinished runs stay.
  // In the background: an engine that does not answer (each list waits 3 s) must not hold up
  // the start, and Docker may be down, that's fine.
  const pruned = deps.janitor.prune();
  pruned.catch((error: unknown) => console.error(`start-up prune failed: ${(error as Error).message}`));
  deps.janitor.start(config.pruneIntervalMs);
  started.push(() => deps.janitor.stop());
  // A start that fails later closes the database only once the prune is done with it.
  started.push(() => pruned.catch(() => undefined));
  const bootstrap = await ensureBootstrapToken(deps.db, config.dataDir, deps.now());
  // The first-start link carries a one-time code tied to the bootstrap token, never the token.
  const loginCode = bootstrap && (await createLoginCode(deps.db, bootstrap.id, deps.now()));
  await deps.loader.scan();
  deps.loader.watch();
  started.push(() => deps.loader.close());
  // Git sources sync in the background: a slow or unreachable remote never holds up the start.
  await deps.sources.start(config.sources);
  started.push(() => deps.sources.close());
  const app = createServer(deps);
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    // Bun's own cap (128 MiB by default) must not undercut a larger object size limit.
    maxRequestBodySize: Math.max(128 * 1024 * 1024, config.objectMaxBytes + 1024 * 1024),
    fetch: (request, srv) => app.fetch(request, { server: srv }),
    // The sockets routes upgrade to (gantry run exec) are served by what they gave hono/bun;
    // a message is a terminal's keystrokes or a piece of piped input, never megabytes.
    websocket: { ...websocket, maxPayloadLength: 1024 * 1024 },
  });
  started.push(() => server.stop(true));
  const host = server.hostname === "0.0.0.0" || server.hostname === "::" ? "127.0.0.1" : server.hostname;
  const url = config.publicUrl?.replace(/\/$/, "") ?? `http://${host?.includes(":") ? `[${host}]` : host}:${server.port}`;
  deps.urls.api = url;
  // Once tasks can be told where the API is: resumed runs may start new tasks at once.
  const { resumed: runsResumed } = await deps.orchestrator.start();
  // Extensions start once pipelines (and so their subscriptions) are loaded, and once the
  // API's URL is known (container extensions are told where to call back).
  started.push(() => deps.extensions.stop());
  await deps.extensions.start();
  // Then what gantry.toml pins and is not installed at that version: in the background, as a
  // slow or unreachable registry must not hold up the start (a failure is logged). stop()
  // aborts it and waits for it, so nothing is installed or started once the server is stopped.
  const stopPins = new AbortController();
  const pinsApplied = deps.extensionInstaller
    .applyConfigPins(config.extensionVersions, stopPins.signal)
    .catch((error) => console.error("gantry.toml [extension_versions] not applied:", error));
  started.push(() => (stopPins.abort(), pinsApplied));
  const hooksApp = createHooksReceiver(deps.extensions, MAX_HOOK_BODY_BYTES, {
    db: deps.db,
    bus: deps.bus,
    secret: (name) => deps.secrets.resolveGlobal(name),
    requestSync: (name) => deps.sources.requestSync(name),
    now: deps.now,
  });
  const hooksServer = Bun.serve({
    port: config.hooksPort,
    hostname: config.host,
    maxRequestBodySize: MAX_HOOK_BODY_BYTES + 1024 * 1024,
    fetch: (request) => hooksApp.fetch(request),
  });
  const hooksUrl = `http://${host?.includes(":") ? `[${host}]` : host}:${hooksServer.port}`;
  deps.urls.hooks = config.hooksPublicUrl?.replace(/\/$/, "") ?? hooksUrl;
  return {
    deps,
    url,
    hooksUrl,
    ...(bootstrap && { bootstrapToken: bootstrap.secret }),
    ...(loginCode && { loginUrl: `${url}/login?code=${loginCode.code}` }),
    runsResumed,
    pruned,
    lost: deps.orchestrator.lost,
    async stop(stopOptions = {}) {
      relay.stop();
      deps.metrics.stop();
      await deps.loader.close();
      await deps.sources.close();
      deps.janitor.stop();
      // The start-up prune writes to the database this stop closes.
      await pruned.catch(() => undefined);
      // Downloads stop at once; a change already moving folders finishes, with the host still up.
      stopPins.abort();
      await pinsApplied;
      await deps.extensions.stop();
      await hooksServer.stop(true);
      await server.stop(true);
      await deps.orchestrator.shutdown(stopOptions.cancelRuns ? "cancel" : "detach");
      deps.database.close();
    },
  };
}
