// Boots a Gantry server from a Config: database, orphan recovery, pipelines, HTTP.
import type { Config } from "./config.ts";
import { createDeps, type Deps } from "./deps.ts";
import { createServer } from "./server.ts";
import { ensureBootstrapToken } from "./auth/tokens.ts";
import { createHooksReceiver, MAX_HOOK_BODY_BYTES } from "./http/hooks/receiver.ts";
import { revokeRunTokens } from "./db/repos/tokens.ts";
import type { PruneResult } from "./engine/janitor.ts";

export interface RunningGantry {
  deps: Deps;
  /** Base URL of the web UI and API, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Base URL of the webhook receiver (GANTRY_HOOKS_PORT). */
  hooksUrl: string;
  /** A fresh install's bootstrap token, shown once. */
  bootstrapToken?: string;
  orphansRecovered: number;
  /** What the start-up prune removed, and whether Docker answered. */
  pruned: PruneResult;
  stop(): Promise<void>;
}

export async function startGantry(config: Config, options: { now?: () => Date } = {}): Promise<RunningGantry> {
  const deps = await createDeps(config, options);
  // Before anything new starts: nothing from a previous process may stay "running".
  const orphansRecovered = await deps.orchestrator.recoverOrphans();
  // Tokens handed to tasks of those runs would otherwise live on.
  await revokeRunTokens(deps.db, deps.now());
  // Containers of those runs (and any other left-over) go too; Docker may be down, that's fine.
  const pruned = await deps.janitor.prune();
  deps.janitor.start(config.pruneIntervalMs);
  const bootstrapToken = await ensureBootstrapToken(deps.db, config.dataDir, deps.now());
  await deps.loader.scan();
  deps.loader.watch();
  const app = createServer(deps);
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    // Bun's own cap (128 MiB by default) must not undercut a larger object size limit.
    maxRequestBodySize: Math.max(128 * 1024 * 1024, config.objectMaxBytes + 1024 * 1024),
    fetch: (request, srv) => app.fetch(request, { server: srv }),
  });
  const host = server.hostname === "0.0.0.0" || server.hostname === "::" ? "127.0.0.1" : server.hostname;
  const url = config.publicUrl?.replace(/\/$/, "") ?? `http://${host?.includes(":") ? `[${host}]` : host}:${server.port}`;
  deps.urls.api = url;
  // Extensions start once pipelines (and so their subscriptions) are loaded, and once the
  // API's URL is known (container extensions are told where to call back).
  await deps.extensions.start();
  const hooksApp = createHooksReceiver(deps.extensions);
  const hooksServer = Bun.serve({
    port: config.hooksPort,
    hostname: config.host,
    maxRequestBodySize: MAX_HOOK_BODY_BYTES + 1024 * 1024,
    fetch: (request) => hooksApp.fetch(request),
  });
  const hooksUrl = `http://${host?.includes(":") ? `[${host}]` : host}:${hooksServer.port}`;
  return {
    deps,
    url,
    hooksUrl,
    ...(bootstrapToken && { bootstrapToken }),
    orphansRecovered,
    pruned,
    async stop() {
      await deps.loader.close();
      deps.janitor.stop();
      await deps.extensions.stop();
      await hooksServer.stop(true);
      await server.stop(true);
      await deps.orchestrator.shutdown();
      deps.database.close();
    },
  };
}
