// The composition root's type: everything the server, CLI commands and tests share,
// built once by createDeps and handed down. No module keeps hidden singletons.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { publicUrl, type Config } from "./config.ts";
import { openDatabase, type Database, type Db } from "./db/client.ts";
import { migrate } from "./db/migrate.ts";
import { prepareToken } from "./auth/tokens.ts";
import { prepareBundleToken } from "./auth/bundle-tokens.ts";
import { createSessionManager, type SessionManager } from "./auth/sessions.ts";
import { createFailedAuthLimiter, type FailedAuthLimiter } from "./auth/failed-auth-limiter.ts";
import { createSignInFlows, type SignInFlows } from "./auth/sign-in-flow.ts";
import { createOidcSignIn, type OidcSignIn } from "./auth/oidc-sign-in.ts";
import { createGithubSignIn, type GithubSignIn } from "./auth/github-sign-in.ts";
import { deleteRevokedRunTokens, insertToken, revokeRunTokensOf, revokeToken, runTokenName } from "./db/repos/tokens.ts";
import { unfinishedRunKeys } from "./db/repos/runs.ts";
import { ensureInstanceId } from "./db/repos/system-state.ts";
import { pruneEvents } from "./db/repos/events.ts";
import { pruneBundles } from "./engine/pipelines/bundle-pruning.ts";
import { createEventBus, type EventBus } from "./engine/event-bus.ts";
import { createBunProcessExecutor, type RunnerCounts } from "./engine/executors/bun-process.ts";
import { prepareRunSandbox, type RunSandbox } from "./engine/executors/run-sandbox.ts";
import { createSandboxedImporter } from "./engine/pipelines/sandboxed-import.ts";
import { createSandboxedBuilder } from "./engine/pipelines/sandboxed-build.ts";
import { createDockerClient } from "./engine/executors/docker-client.ts";
import { createDockerExecutor, type DockerExecutor } from "./engine/executors/docker.ts";
import { createContainerExec, type ContainerExec } from "./engine/executors/container-exec.ts";
import { createSwarmExecutor, type SwarmExecutor } from "./engine/executors/swarm.ts";
import { runnerImageTag } from "./engine/executors/runner-image.ts";
import { startDeployTask } from "./engine/executors/deploy-task.ts";
import { createEnvironmentAdmin, type EnvironmentAdmin } from "./engine/deploy/environments.ts";
import { createJanitor, type Janitor } from "./engine/janitor.ts";
import type { ContainerPolicy } from "./domain/container-policy.ts";
import { exactTarget } from "./domain/permissions.ts";
import { runKeyString } from "./domain/run-key.ts";
import { createOrchestrator, type Orchestrator } from "./engine/runs/orchestrator.ts";
import { createTaskFiles } from "./engine/task-files/index.ts";
import { createFindingsCollector } from "./engine/task-files/findings.ts";
import { createArtifactParts } from "./engine/task-files/artifact-parts.ts";
import type { ArtifactStore } from "./stores/artifact-store.ts";
import { createPipelineLoader, type PipelineLoader } from "./engine/pipelines/pipeline-loader.ts";
import { createSourceManager, type SourceManager } from "./engine/sources/source-manager.ts";
import { engineNode } from "./engine/node-identity.ts";
import { GANTRY_VERSION } from "./version.ts";
import { createLogStore, type LogStore } from "./stores/logs.ts";
import { createExtensionHost, type ExtensionHost } from "./extension-host/host.ts";
import { containerExtensionIds, createExtensionInstaller, type ExtensionInstaller } from "./extension-host/extension-installer.ts";
import { installedEntries } from "./extension-host/installed-extensions.ts";
import { loadSecretKey } from "./stores/secret-key.ts";
import { createSecretStore, type SecretStore } from "./stores/secrets.ts";
import { secureDataDir } from "./stores/data-dir.ts";
import { createObjectStore, type ObjectStore } from "./stores/objects.ts";
import { createMetrics, type Metrics } from "./engine/metrics.ts";

export interface Deps {
  config: Config;
  /** Drizzle over the one database connection. */
  db: Db;
  database: Database;
  /** The current time; tests may pass a fake clock. */
  now: () => Date;
  /** In-process change notifications (SSE, followers). */
  bus: EventBus;
  logs: LogStore;
  loader: PipelineLoader;
  /** Git sources of pipelines: their syncs, polling, pushes and pinned commits. */
  sources: SourceManager;
  /** Deployment targets: create, change, remove and test them (the API and the web pages alike). */
  environments: EnvironmentAdmin;
  orchestrator: Orchestrator;
  /** The bubblewrap sandbox run() tasks and pipeline imports run in, and whether it works here. */
  sandbox: RunSandbox;
  /** Runs container() tasks; reports whether the engine answers. */
  docker: DockerExecutor;
  /** Commands and shells in running container tasks (gantry run exec), on the same engine. */
  containerExec: ContainerExec;
  /** Runs container() and run() tasks as Swarm services (GANTRY_EXECUTOR=swarm); there in any case, to find attempts made as services again. */
  swarm: SwarmExecutor;
  /** Prunes old containers and workspaces. */
  janitor: Janitor;
  /** Encrypted secrets, resolved for tasks. */
  secrets: SecretStore;
  /** Pipeline and run objects (raw bytes under <data>/objects). */
  objects: ObjectStore;
  /** Artifact and cache blobs (the data dir or an S3 bucket). */
  artifactStore: ArtifactStore;
  /** Web UI sessions (cookie ↔ token). */
  sessions: SessionManager;
  /** Failed authentications per client address. */
  authLimiter: FailedAuthLimiter;
  /** Extension modules (triggers), each in its own Worker. */
  extensions: ExtensionHost;
  /** Installs, upgrades and uninstalls extensions from the npm registry; one per server, so its changes queue one after another. */
  extensionInstaller: ExtensionInstaller;
  /** Sign-in through an identity provider: each configured provider, and the flows in between. */
  signIns: { flows: SignInFlows; oidc?: OidcSignIn; github?: GithubSignIn };
  /** Where this server's API and its webhook receiver answer (their public URLs when set); set once they listen. */
  urls: { api: string; hooks: string };
  /** What GET /metrics answers (engine/metrics.ts). */
  metrics: Metrics;
  /** How this server's run() tasks got their runners, and its warm runners now (metrics, the dashboard). */
  runners: () => RunnerCounts;
}

export interface CreateDepsOptions {
  now?: () => Date;
}

export async function createDeps(config: Config, options: CreateDepsOptions = {}): Promise<Deps> {
  const now = options.now ?? (() => new Date());
  // The data dir first (the folders the sandbox passes through), then the sandbox, whose
  // probe checks it can reach them.
  secureDataDir(config.dataDir, {
    sandboxed: config.runSandbox === "on",
    ...(config.dbUrl.startsWith("file:") && { databaseFile: config.dbUrl.slice("file:".length) }),
  });
  const sandbox = prepareRunSandbox(config.runSandbox, {
    shared: config.runSandboxPaths,
    reach: [join(config.dataDir, "workspaces"), join(config.dataDir, "bundles"), join(config.dataDir, "sources"), ...(existsSync(config.pipelinesDir) ? [config.pipelinesDir] : [])],
  });
  const database = await openDatabase(config.dbUrl, config.dbAuthToken);
  await migrate(database.client);
  const db = database.db;
  const bus = createEventBus();
  const secrets = await createSecretStore({ db, key: await loadSecretKey(config.secretKey, config.dataDir), dataDir: config.dataDir, bus });
  const logs = createLogStore({ dir: join(config.dataDir, "logs"), maxBytes: config.logMaxBytes });
  const urls = { api: publicUrl(config), hooks: config.hooksPublicUrl?.replace(/\/$/, "") ?? "" };
  const objects = createObjectStore({
    db,
    dir: join(config.dataDir, "objects"),
    maxBytes: config.objectMaxBytes,
    pipelineLimit: config.objectPipelineLimit,
    runExpiry: config.objectRunExpiry,
    now,
  });
  const containerLimits = {
    defaults: { memoryBytes: config.containerDefaultMemory, cpus: config.containerDefaultCpus, pids: config.containerDefaultPids },
    maxima: { memoryBytes: config.containerMaxMemory, cpus: config.containerMaxCpus, pids: config.containerMaxPids },
  };
  const containerPolicy: ContainerPolicy = {
    allowedMounts: config.containerAllowedMounts,
    allowedCapabilities: config.containerAllowedCapabilities,
    allowedNetworks: config.containerAllowedNetworks,
    defaultNetwork: config.containerNetwork,
    maxLimits: containerLimits.maxima,
    executor: config.executor,
  };
  const dockerConnection = createDockerClient(config.dockerHost);
  const environments = createEnvironmentAdmin({ db, bus, secrets, now, ...(config.dockerHost !== undefined && { defaultDockerHost: config.dockerHost }) });
  // Names this installation's containers and services for its janitor: random, kept in the
  // database whose runs they belong to, so a restart (or another server on it) finds its
  // orphans, and another installation on the same engine or swarm never takes them for its own.
  const instance = await ensureInstanceId(db, now());
  const docker = createDockerExecutor({
    connection: dockerConnection,
    instance,
    defaultNetwork: config.containerNetwork,
    limits: containerLimits,
    // deploy() tasks: the environment's provider rolls the service out; the history is kept here.
    startDeploy: (launch) =>
      startDeployTask(launch, {
        db,
        now,
        secret: (name) => secrets.resolveGlobal(name),
        environments,
      }),
    ...(sandbox.workspaceGroup !== undefined && { workspaceGroup: sandbox.workspaceGroup }),
  });
  // Always there, so attempts made as services are found again after a switch back to docker;
  // new container tasks go to it only with GANTRY_EXECUTOR=swarm.
  const swarm = createSwarmExecutor({
    connection: dockerConnection,
    instance,
    defaultNetwork: config.containerNetwork,
    limits: containerLimits,
    stopGraceMs: config.killGraceMs,
    // run() tasks as services of the runner image, which fetch their bundle from the API.
    // Their API URL is the public one unless set (read when a task starts: a port 0 is known only once the server listens).
    runner: { image: config.runnerImage ?? runnerImageTag(), apiUrl: () => config.runnerApiUrl?.replace(/\/+$/, "") ?? urls.api, network: config.runnerNetwork },
    ...(sandbox.workspaceGroup !== undefined && { workspaceGroup: sandbox.workspaceGroup }),
  });
  const bundlesDir = join(config.dataDir, "bundles");
  const loader = createPipelineLoader({
    db,
    bus,
    dir: config.pipelinesDir,
    bundlesDir,
    containerPolicy,
    // Pipeline code (macros and imported files at build time, top-level code at import) runs in the sandbox.
    ...(sandbox.status.state !== "off" && {
      buildBundle: createSandboxedBuilder(sandbox, config.pipelinesDir),
      importBundle: createSandboxedImporter(sandbox),
    }),
    now,
  });
  const sources = createSourceManager({
    db,
    bus,
    now,
    sourcesDir: join(config.dataDir, "sources"),
    bundlesDir,
    sandbox,
    containerPolicy,
    secret: (name) => secrets.resolveGlobal(name),
    ...(sandbox.status.state !== "off" && { importBundle: createSandboxedImporter(sandbox) }),
  });
  const artifactParts = createArtifactParts({ config, db, now });
  const node = engineNode(config.dataDir, GANTRY_VERSION, config.nodeId);
  const runExecutor = createBunProcessExecutor({ sandbox, pool: { dir: join(config.dataDir, "runner-pool", node.id), size: config.runPool } });
  const orchestrator = createOrchestrator({
    db,
    bus,
    logs,
    executors: { run: runExecutor, container: docker, swarm },
    ...(config.executor === "swarm" && { containerExecutor: "swarm" as const, runExecutor: "swarm" as const, serverNode: () => swarm.localNode() }),
    workspacesDir: join(config.dataDir, "workspaces"),
    ownWorkspace: (path) => sandbox.own(path, join(config.dataDir, "workspaces")),
    reclaimWorkspace: (path) => sandbox.reclaim(path),
    maxParallelTasks: config.maxParallelTasks,
    killGraceMs: config.killGraceMs,
    timeoutGraceMs: config.timeoutGraceMs,
    node,
    leaseMs: config.leaseMs,
    apiUrl: () => urls.api,
    resolveSecret: (pipeline, name) => secrets.resolve(pipeline, name),
    // Reserved secrets (github-app-token) come fresh from the extension that provides them.
    // `extensions` is built below (it starts runs through the orchestrator); asked only once tasks run.
    provideToken: (extension, request) => extensions.provideToken(extension, request),
    // Artifacts, caches and findings around a task's attempts (their parts join as they land).
    taskFiles: createTaskFiles({ db, artifacts: artifactParts.artifacts, caches: artifactParts.caches, findings: createFindingsCollector({ db }) }),
    tokens: {
      issue(run, task, resource = "*") {
        // Limited to its own pipeline (and to one resource when asked); revoked when the run ends.
        // The run columns mark it as the engine's: clean-up finds it by them, never by its name.
        const { row, secret } = prepareToken(
          {
            name: runTokenName(run, task),
            roles: [],
            permissions: [{ resource, target: exactTarget(run.namespace, run.id), actions: ["read", "write"] }],
            issuedTo: { run: runKeyString(run), task, scope: resource === "objects" ? "objects" : "api" },
          },
          now(),
        );
        return { id: row.id, secret, stored: insertToken(db, row).then(() => undefined) };
      },
      issueBundle(run) {
        const { row, secret } = prepareBundleToken(run, now());
        return { id: row.id, secret, stored: insertToken(db, row).then(() => undefined) };
      },
      async revoke(ids) {
        for (const id of ids) await revokeToken(db, id, now());
      },
      revokeRun: (run) => revokeRunTokensOf(db, run, now()).then(() => undefined),
    },
    afterRun: async (run, { recovered }) => {
      await objects.expireRuns(run);
      // A run taken over after a restart may have left containers of attempts it could not clean up.
      if (recovered) await janitor.pruneRun(run);
    },
    now,
  });
  const janitor = createJanitor({
    docker: dockerConnection,
    instance,
    workspacesDir: join(config.dataDir, "workspaces"),
    keepLast: config.pruneKeepLast,
    unfinishedRuns: () => unfinishedRunKeys(db),
    expireObjects: () => objects.expireRuns(),
    pruneEvents: () => pruneEvents(db, { olderThan: new Date(now().getTime() - config.eventsMaxAgeMs), keepLast: config.eventsMaxCount }),
    // A day as revoked tells a late caller why its token stopped working; then the row goes.
    pruneRunTokens: () => deleteRevokedRunTokens(db, new Date(now().getTime() - 86_400_000)),
    pruneBundles: () => pruneBundles(db, bundlesDir, now()),
    pruneArtifacts: artifactParts.pruneBlobs,
  });
  const sessions = createSessionManager({
    db,
    dataDir: config.dataDir,
    idleMs: config.sessionIdleMs,
    maxAgeMs: config.sessionMaxAgeMs,
    now,
  });
  const authLimiter = createFailedAuthLimiter({ limit: config.authFailureLimit, windowMs: 60_000 });
  const extensions = createExtensionHost({
    dir: config.extensionsDir,
    // Extensions installed from an npm registry (gantry extension install), pinned in the data dir.
    installed: () => installedEntries(join(config.dataDir, "extensions")),
    configs: config.extensionConfigs,
    db,
    bus,
    orchestrator,
    secrets,
    now,
    containers: { connection: dockerConnection, instance, apiUrl: () => urls.api },
    sources,
  });
  const extensionInstaller = createExtensionInstaller({
    dir: join(config.dataDir, "extensions"),
    builtInDir: config.extensionsDir,
    containerIds: containerExtensionIds(config.extensionConfigs),
    registryUrl: config.npmRegistry,
    configFile: config.configFile,
    host: extensions,
    now,
  });
  const oidc = createOidcSignIn(config, { now });
  const github = createGithubSignIn(config);
  const signIns = { flows: createSignInFlows({ db, dataDir: config.dataDir, now }), ...(oidc && { oidc }), ...(github && { github }) };
  const runners = () => runExecutor.runners();
  const metrics = createMetrics({ db, bus, sandbox, docker, runners, now });
  return { config, db, database, now, bus, logs, loader, sources, environments, orchestrator, sandbox, docker, containerExec: createContainerExec(dockerConnection), swarm, janitor, secrets, objects, artifactStore: artifactParts.store, sessions, authLimiter, extensions, extensionInstaller, signIns, urls, metrics, runners };
}
