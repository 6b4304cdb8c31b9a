// `gantry serve`: start the server in the foreground until SIGINT/SIGTERM.
import { ConfigError, loadConfig } from "../config.ts";
import { startGantry } from "../start.ts";
import { SecretKeyError } from "../stores/secret-key.ts";
import { GANTRY_VERSION } from "../version.ts";
import { sandboxRefusal } from "../engine/executors/run-sandbox.ts";

export async function serveCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log("usage: gantry serve\n\nSettings come from GANTRY_* variables and gantry.toml (see README).");
    return 0;
  }
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
  console.log(`gantry ${GANTRY_VERSION} listening on ${gantry.url}`);
  console.log(`  hooks:     ${gantry.hooksUrl}/hooks/<extension>/...`);
  console.log(`  data:      ${config.dataDir}`);
  console.log(`  pipelines: ${config.pipelinesDir}`);
  console.log(`  node:      ${gantry.deps.orchestrator.nodeId}`);
  const sandbox = gantry.deps.sandbox.status;
  if (sandbox.state === "on") console.log(`  sandbox:   bubblewrap, as ${sandbox.user ? `user ${sandbox.user.name} (${sandbox.user.uid})` : "this user, in user namespaces"}`);
  else if (sandbox.state === "off") console.warn(`  sandbox:   OFF (GANTRY_RUN_SANDBOX=off): run() tasks and pipeline imports run with this server's rights`);
  else console.warn(`  sandbox:   UNAVAILABLE: ${sandboxRefusal(sandbox.reason)}`);
  if (gantry.runsResumed > 0) console.log(`  resumed ${gantry.runsResumed} run(s) the last process left in flight`);
  if (gantry.loginUrl) {
    // The token itself is never printed (logs are kept and shared); the link's code works once, briefly.
    console.log(`\nFirst start: an admin token was written to ${config.dataDir}/bootstrap-token (readable by this user only).`);
    console.log(`Log in to the web UI with this one-time link (works once, for 15 minutes):`);
    console.log(`  ${gantry.loginUrl}`);
    console.log(`Later, or if the link has expired, paste the token from that file on the login page.`);
    console.log(`CLI: export GANTRY_URL=${gantry.url} GANTRY_TOKEN=$(cat ${config.dataDir}/bootstrap-token)\n`);
  }
  const pipelines = await (await import("../db/repos/pipelines.ts")).listPipelines(gantry.deps.db);
  for (const pipeline of pipelines) {
    const status = pipeline.loadError ? `error: ${pipeline.loadError.issues[0]?.message ?? "invalid"}` : `v${pipeline.currentVersion}`;
    console.log(`  pipeline ${pipeline.namespace}/${pipeline.id} (${status})`);
  }
  // Asked last: the engine may take a moment to answer (or not at all).
  const docker = await gantry.deps.docker.health();
  console.log(
    docker.status === "ok"
      ? `  docker:    ok (engine ${docker.version})`
      : `  docker:    unavailable — ${docker.message}\n             container tasks fail until it is reachable; run() tasks are not affected`,
  );
  if (config.executor === "swarm") {
    const swarm = await gantry.deps.swarm.health();
    if (swarm.status === "unavailable") console.warn(`  executor:  swarm, but ${swarm.message}`);
    else console.log(`  executor:  swarm (container and run() tasks as services; this engine is node ${swarm.node})`);
    // Loud: services asked to run with no-new-privileges do not get it on engines before Docker 25.
    if (swarm.status === "degraded") console.warn(`\n  WARNING: ${swarm.message}\n`);
  }
  const lost = await new Promise<string | undefined>((resolve) => {
    const stop = (signal: string) => {
      console.log(`\n${signal}: stopping (container tasks keep running and are taken back on the next start)`);
      resolve(undefined);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    void gantry.lost.then(resolve);
  });
  // Another server runs as this node now: this one drives nothing any more (the engine said why), and stops.
  if (lost) console.error("\ngantry: FATAL: another server holds this node id now; stopping (servers sharing a data dir need a GANTRY_NODE_ID each)");
  await gantry.stop();
  // Everything is stopped and the database closed; an idle keep-alive socket (the Docker
  // engine's) would otherwise hold the process for another five seconds.
  process.exit(lost ? 1 : 0);
}
