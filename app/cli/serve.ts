// `gantry serve`: start the server in the foreground until SIGINT/SIGTERM.
import { ConfigError, loadConfig } from "../config.ts";
import { startGantry } from "../start.ts";
import { SecretKeyError } from "../stores/secret-key.ts";
import { GANTRY_VERSION } from "../version.ts";
import { sandboxRefusal } from "../engine/executors/run-sandbox.ts";
import { consoleOutput, followRunsOnConsole, LOG_FORMATS, type LogFormat } from "./run-console.ts";
import { giveMemoryBackWhenIdle } from "../engine/idle-memory.ts";

const USAGE = `usage: gantry serve [--log-format text|json]

Settings come from GANTRY_* variables and gantry.toml (see README).
--log-format json: every line is one JSON object (time, level, msg and fields), for log collectors.`;

/** --log-format <text|json> (or --log-format=json); text unless said. */
function logFormatOf(args: string[]): LogFormat | string {
  const at = args.findIndex((arg) => arg === "--log-format" || arg.startsWith("--log-format="));
  if (at === -1) return "text";
  const value = args[at]!.includes("=") ? args[at]!.slice("--log-format=".length) : (args[at + 1] ?? "");
  return value;
}

export async function serveCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const format = logFormatOf(args);
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    console.error(`gantry: --log-format must be text or json, not "${format}"\n${USAGE}`);
    return 2;
  }
  const out = consoleOutput(format as LogFormat);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`gantry: configuration error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  let gantry;
  try {
    // Whatever the server writes is its own unless it says otherwise (workspaces, bundles).
    process.umask(0o077);
    gantry = await startGantry(config);
  } catch (error) {
    // A wrong secret key must stop the server with a clear word, never decrypt into garbage.
    if (error instanceof SecretKeyError) {
      console.error(`gantry: secret key error: ${error.message}`);
      return 2;
    }
    // Settings checked as the server starts (e.g. trusted_proxies entries).
    if (error instanceof ConfigError) {
      console.error(`gantry: configuration error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const sandbox = gantry.deps.sandbox.status;
  if (format === "json") {
    out.info(`gantry ${GANTRY_VERSION} listening`, {
      event: "server.started",
      version: GANTRY_VERSION,
      url: gantry.url,
      hooks: gantry.hooksUrl,
      data: config.dataDir,
      pipelines: config.pipelinesDir,
      node: gantry.deps.orchestrator.nodeId,
      sandbox: sandbox.state === "unavailable" ? { state: sandbox.state, reason: sandboxRefusal(sandbox.reason) } : { state: sandbox.state },
      resumedRuns: gantry.runsResumed,
    });
  } else {
    out.info(`gantry ${GANTRY_VERSION} listening on ${gantry.url}`);
    out.info(`  hooks:     ${gantry.hooksUrl}/hooks/<extension>/...`);
    out.info(`  data:      ${config.dataDir}`);
    out.info(`  pipelines: ${config.pipelinesDir}`);
    out.info(`  node:      ${gantry.deps.orchestrator.nodeId}`);
    if (sandbox.state === "on") out.info(`  sandbox:   bubblewrap, as ${sandbox.user ? `user ${sandbox.user.name} (${sandbox.user.uid})` : "this user, in user namespaces"}`);
    else if (sandbox.state === "off") out.warn(`  sandbox:   OFF (GANTRY_RUN_SANDBOX=off): run() tasks and pipeline imports run with this server's rights`);
    else out.warn(`  sandbox:   UNAVAILABLE: ${sandboxRefusal(sandbox.reason)}`);
    if (gantry.runsResumed > 0) out.info(`  resumed ${gantry.runsResumed} run(s) the last process left in flight`);
  }
  if (gantry.loginUrl) {
    // The token itself is never printed (logs are kept and shared); the link's code works once, briefly.
    if (format === "json") {
      out.info("first start: an admin token was written to the bootstrap-token file; the login link works once, for 15 minutes", {
        event: "server.first_start",
        tokenFile: `${config.dataDir}/bootstrap-token`,
        loginUrl: gantry.loginUrl,
      });
    } else {
      out.info(`\nFirst start: an admin token was written to ${config.dataDir}/bootstrap-token (readable by this user only).`);
      out.info(`Log in to the web UI with this one-time link (works once, for 15 minutes):`);
      out.info(`  ${gantry.loginUrl}`);
      out.info(`Later, or if the link has expired, paste the token from that file on the login page.`);
      out.info(`CLI: export GANTRY_URL=${gantry.url} GANTRY_TOKEN=$(cat ${config.dataDir}/bootstrap-token)\n`);
    }
  }
  // From here on, one line per run this server drives as it starts and ends: before Docker is
  // asked below, which may take seconds to answer while runs already start.
  const unfollow = followRunsOnConsole(gantry.deps, format as LogFormat, out);
  const pipelines = await (await import("../db/repos/pipelines.ts")).listPipelines(gantry.deps.db);
  for (const pipeline of pipelines) {
    const status = pipeline.loadError ? `error: ${pipeline.loadError.issues[0]?.message ?? "invalid"}` : `v${pipeline.currentVersion}`;
    out.info(format === "json" ? `pipeline ${pipeline.namespace}/${pipeline.id} ${status}` : `  pipeline ${pipeline.namespace}/${pipeline.id} (${status})`, { event: "pipeline.loaded" });
  }
  // Asked last: the engine may take a moment to answer (or not at all).
  const docker = await gantry.deps.docker.health();
  if (format === "json") out[docker.status === "ok" ? "info" : "warn"](`docker ${docker.status}`, { event: "docker.checked", ...docker });
  else if (docker.status === "ok") out.info(`  docker:    ok (engine ${docker.version})`);
  else out.info(`  docker:    unavailable — ${docker.message}\n             container tasks fail until it is reachable; run() tasks are not affected`);
  if (config.executor === "swarm") {
    const swarm = await gantry.deps.swarm.health();
    if (swarm.status === "unavailable") out.warn(`  executor:  swarm, but ${swarm.message}`);
    else out.info(`  executor:  swarm (container and run() tasks as services; this engine is node ${swarm.node})`);
    // Loud: services asked to run with no-new-privileges do not get it on engines before Docker 25.
    if (swarm.status === "degraded") out.warn(`\n  WARNING: ${swarm.message}\n`);
  }
  // Start-up's passing memory (transpiling ~750 modules, the first pipeline loads) goes back
  // to the system once it is done (~4 MiB of an idle server's RSS), and a burst of work's
  // once the server has gone quiet after it.
  const idleMemory = giveMemoryBackWhenIdle();
  const lost = await new Promise<string | undefined>((resolve) => {
    const stop = (signal: string) => {
      out.info(`${format === "json" ? "" : "\n"}${signal}: stopping (container tasks keep running and are taken back on the next start)`, { event: "server.stopping" });
      resolve(undefined);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    void gantry.lost.then(resolve);
  });
  // Another server runs as this node now: this one drives nothing any more (the engine said why), and stops.
  if (lost) out.error("gantry: FATAL: another server holds this node id now; stopping (servers sharing a data dir need a GANTRY_NODE_ID each)", { event: "server.lost_node" });
  unfollow();
  idleMemory.stop();
  await gantry.stop();
  // Everything is stopped and the database closed; an idle keep-alive socket (the Docker
  // engine's) would otherwise hold the process for another five seconds.
  process.exit(lost ? 1 : 0);
}
