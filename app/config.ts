// Environment and gantry.toml → one typed Config. The environment wins over the file;
// a bad value stops start-up with a message that names the key.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as v from "valibot";
import { parseDuration } from "./domain/duration.ts";
import { parseMemory } from "./domain/pipeline-spec.ts";
import type { RoleMapping } from "./domain/user-roles.ts";
import { signInSettingsProblem } from "./auth/sign-in-checks.ts";
import { parseSourceSettings, sourceNameSchema, type SourceSettings } from "./domain/sources.ts";
import { EXTENSION_VERSIONS_TABLE, extensionVersionsSchema } from "./extension-host/config-file-pins.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Each setting: its env name, its gantry.toml key, and how to read it. */
const port = v.pipe(v.union([v.number(), v.string()]), v.transform(Number), v.integer("must be a whole number"), v.minValue(0), v.maxValue(65535));
const positiveInt = v.pipe(v.union([v.number(), v.string()]), v.transform(Number), v.integer("must be a whole number"), v.minValue(1));
const duration = v.pipe(
  v.union([v.number(), v.string()]),
  v.check((value) => parseDuration(value) !== undefined, 'must be milliseconds or a duration like "10s"'),
  v.transform((value) => parseDuration(value)!),
);
const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
/** A list: a TOML array, or comma-separated in an environment variable. */
const list = v.pipe(
  v.union([v.array(v.string()), v.string()], "must be a list of strings"),
  v.transform((value) => (typeof value === "string" ? value.split(",") : value).map((item) => item.trim()).filter(Boolean)),
);
const extensionConfigs = v.pipe(
  v.union([v.string(), v.record(v.string(), v.record(v.string(), v.unknown()))], "must be a table of tables"),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    if (typeof dataset.value !== "string") return dataset.value;
    try {
      return JSON.parse(dataset.value) as Record<string, Record<string, unknown>>;
    } catch {
      addIssue({ message: 'must be JSON like {"cron":{"minimum":"1s"}}' });
      return NEVER;
    }
  }),
);
/** Bytes: a whole number, or with a unit like "512m" or "2g". */
const byteSize = v.pipe(
  v.union([v.number(), v.string()]),
  v.check((value) => parseMemory(value) !== undefined, 'must be bytes or a size like "512m" or "2g"'),
  v.transform((value) => parseMemory(value)!),
);
const cpus = v.pipe(v.union([v.number(), v.string()]), v.transform(Number), v.number("must be a number"), v.minValue(0.01), v.maxValue(1024));
export interface SandboxPath {
  path: string;
  writable: boolean;
}
/** "/opt/tools" (read-only) or "/srv/cache:rw": absolute host paths for the run() sandbox. */
const sandboxPaths = v.pipe(
  list,
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const paths: SandboxPath[] = [];
    for (const entry of dataset.value) {
      const match = /^(\/[^:]*?)(?::(ro|rw))?$/.exec(entry);
      if (!match) {
        addIssue({ message: `"${entry}" must be an absolute path, optionally followed by :ro or :rw` });
        return NEVER;
      }
      paths.push({ path: match[1]!.replace(/\/+$/, "") || "/", writable: match[2] === "rw" });
    }
    return paths;
  }),
);
/** "group=role,..." in the environment; a list of "group=role" or a table { group = "role" } in gantry.toml. */
const roleMap = v.pipe(
  v.union([v.string(), v.array(v.string()), v.record(v.string(), v.string())], "must be group=role pairs"),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const pairs =
      typeof dataset.value === "string" || Array.isArray(dataset.value)
        ? (typeof dataset.value === "string" ? dataset.value.split(",") : dataset.value).map((item) => item.trim()).filter(Boolean).map((item) => {
            const at = item.lastIndexOf("=");
            return at > 0 ? [item.slice(0, at).trim(), item.slice(at + 1).trim()] : [item, ""];
          })
        : Object.entries(dataset.value);
    const mappings: RoleMapping[] = [];
    for (const [group, role] of pairs) {
      if (!group || !role) {
        addIssue({ message: `"${group}" must be group=role, e.g. platform=admin` });
        return NEVER;
      }
      mappings.push({ group, role });
    }
    return mappings;
  }),
);
/** "s3://bucket" or "s3://bucket/some/prefix": the bucket artifacts and caches go to. */
const artifactsUrl = v.pipe(
  v.string(),
  v.regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._\/-]*)?$/, 'must be "s3://bucket" or "s3://bucket/prefix" (bucket: a-z 0-9 . -; prefix: A-Z a-z 0-9 . _ - /)'),
  v.check((value) => !value.split("/").slice(3).includes(".."), "must not contain .. in its prefix"),
);
/** gantry.toml's snake_case keys of a source, as the API spells them. */
const SOURCE_KEYS: Record<string, string> = { hook_secret: "hookSecret", poll_interval: "pollInterval" };
/** [sources.<name>] tables in gantry.toml (or JSON in the environment): git repositories to load pipelines from. */
const sourceConfigs = v.pipe(
  v.union([v.string(), v.record(v.string(), v.record(v.string(), v.unknown()))], "must be a table of tables"),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    let tables: Record<string, Record<string, unknown>>;
    try {
      tables = typeof dataset.value === "string" ? (JSON.parse(dataset.value) as Record<string, Record<string, unknown>>) : dataset.value;
    } catch {
      addIssue({ message: 'must be JSON like {"ops":{"repo":"https://git.example.com/ops.git"}}' });
      return NEVER;
    }
    const sources: Record<string, SourceSettings> = {};
    for (const [name, table] of Object.entries(tables)) {
      const named = v.safeParse(sourceNameSchema, name);
      if (!named.success) {
        addIssue({ message: `[sources.${name}]: ${named.issues[0].message}` });
        return NEVER;
      }
      const input = Object.fromEntries(Object.entries(table ?? {}).map(([key, value]) => [SOURCE_KEYS[key] ?? key, value]));
      const parsed = parseSourceSettings(name, input);
      if (!parsed.ok) {
        addIssue({ message: `[sources.${name}]: ${parsed.message}` });
        return NEVER;
      }
      const taken = Object.entries(sources).find(([, other]) => other.namespace === parsed.settings.namespace);
      if (taken) {
        addIssue({ message: `[sources.${name}]: namespace "${parsed.settings.namespace}" is already the namespace of [sources.${taken[0]}]` });
        return NEVER;
      }
      sources[name] = parsed.settings;
    }
    return sources;
  }),
);
const nonNegativeInt = v.pipe(v.union([v.number(), v.string()]), v.transform(Number), v.integer("must be a whole number"), v.minValue(0));

const SETTINGS = {
  port: { env: "GANTRY_PORT", toml: "port", schema: port, fallback: 8080 },
  host: { env: "GANTRY_HOST", toml: "host", schema: text, fallback: "127.0.0.1" },
  hooksPort: { env: "GANTRY_HOOKS_PORT", toml: "hooks_port", schema: port, fallback: 8081 },
  dataDir: { env: "GANTRY_DATA_DIR", toml: "data_dir", schema: text, fallback: "./data" },
  pipelinesDir: { env: "GANTRY_PIPELINES_DIR", toml: "pipelines_dir", schema: text, fallback: "./pipelines" },
  extensionsDir: { env: "GANTRY_EXTENSIONS_DIR", toml: "extensions_dir", schema: text, fallback: "./extensions" },
  dbUrl: { env: "GANTRY_DB_URL", toml: "db_url", schema: v.optional(text), fallback: undefined },
  dbAuthToken: { env: "GANTRY_DB_AUTH_TOKEN", toml: "db_auth_token", schema: v.optional(text), fallback: undefined },
  secretKey: { env: "GANTRY_SECRET_KEY", toml: "secret_key", schema: v.optional(text), fallback: undefined },
  dockerHost: { env: "GANTRY_DOCKER_HOST", toml: "docker_host", schema: v.optional(text), fallback: undefined },
  publicUrl: { env: "GANTRY_PUBLIC_URL", toml: "public_url", schema: v.optional(v.pipe(v.string(), v.url("must be a URL"))), fallback: undefined },
  /** Where senders reach the webhook receiver (GANTRY_HOOKS_PORT), when not at the address it listens on: shown in the pipeline page's trigger examples. */
  hooksPublicUrl: { env: "GANTRY_HOOKS_PUBLIC_URL", toml: "hooks_public_url", schema: v.optional(v.pipe(v.string(), v.url("must be a URL"))), fallback: undefined },
  maxParallelTasks: { env: "GANTRY_MAX_PARALLEL_TASKS", toml: "max_parallel_tasks", schema: positiveInt, fallback: 32 },
  logMaxBytes: { env: "GANTRY_LOG_MAX_BYTES", toml: "log_max_bytes", schema: positiveInt, fallback: 10 * 1024 * 1024 },
  killGraceMs: { env: "GANTRY_KILL_GRACE", toml: "kill_grace", schema: duration, fallback: 10_000 },
  /** How long a node's claims on runs and tasks hold without a heartbeat; another node may take them over after. */
  leaseMs: { env: "GANTRY_LEASE_TIMEOUT", toml: "lease_timeout", schema: duration, fallback: 30_000 },
  /**
   * This server's node id; unset, one is kept in <data>/node-id. Servers sharing a data dir
   * (and so their logs) need one each, the same across a server's restarts.
   */
  nodeId: {
    env: "GANTRY_NODE_ID",
    toml: "node_id",
    schema: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be 1 to 63 of a-z 0-9 and -, starting with a letter or digit"))),
    fallback: undefined,
  },
  /**
   * What runs container() and run() tasks: "docker" (containers on the server's engine, run() in
   * its sandbox) or "swarm" (replicated-job services, placed by runsOn; run() in the runner image).
   */
  executor: {
    env: "GANTRY_EXECUTOR",
    toml: "executor",
    schema: v.picklist(["docker", "swarm"], 'must be "docker" or "swarm" (swarm runs container and run() tasks as Swarm services; the engine must be a swarm manager)'),
    fallback: "docker" as "docker" | "swarm",
  },
  /** The image run() tasks run in under the swarm executor (`gantry runner-image`); unset, this version's local/gantry-runner:<version>. */
  runnerImage: { env: "GANTRY_RUNNER_IMAGE", toml: "runner_image", schema: v.optional(text), fallback: undefined },
  /**
   * The API as a runner service reaches it (its task's GANTRY_API_URL, and where it fetches its
   * bundle); unset, the public URL. A loopback one is reached on the server's own node only.
   */
  runnerApiUrl: {
    env: "GANTRY_RUNNER_API_URL",
    toml: "runner_api_url",
    schema: v.optional(v.pipe(v.string(), v.url("must be a URL"), v.regex(/^https?:\/\//, "must be an http(s) URL"))),
    fallback: undefined,
  },
  /** The network runner services join: "host" (the node's own, the default), "bridge" (the node's default bridge) or a swarm network. */
  runnerNetwork: {
    env: "GANTRY_RUNNER_NETWORK",
    toml: "runner_network",
    schema: v.pipe(text, v.check((name) => name !== "none", 'cannot be "none": a runner fetches its bundle from the API')),
    fallback: "host",
  },
  containerNetwork: { env: "GANTRY_CONTAINER_NETWORK", toml: "container_network", schema: text, fallback: "bridge" },
  containerAllowedMounts: { env: "GANTRY_CONTAINER_ALLOWED_MOUNTS", toml: "container_allowed_mounts", schema: list, fallback: [] as string[] },
  containerAllowedCapabilities: {
    env: "GANTRY_CONTAINER_ALLOWED_CAPABILITIES",
    toml: "container_allowed_capabilities",
    schema: list,
    fallback: [] as string[],
  },
  containerAllowedNetworks: {
    env: "GANTRY_CONTAINER_ALLOWED_NETWORKS",
    toml: "container_allowed_networks",
    schema: list,
    fallback: [] as string[],
  },
  /** Limits every container task gets unless it asks for less (or, up to the maximum, more). */
  containerDefaultMemory: { env: "GANTRY_CONTAINER_DEFAULT_MEMORY", toml: "container_default_memory", schema: byteSize, fallback: 2 * 1024 ** 3 },
  containerDefaultCpus: { env: "GANTRY_CONTAINER_DEFAULT_CPUS", toml: "container_default_cpus", schema: cpus, fallback: 2 },
  containerDefaultPids: { env: "GANTRY_CONTAINER_DEFAULT_PIDS", toml: "container_default_pids", schema: positiveInt, fallback: 1024 },
  containerMaxMemory: { env: "GANTRY_CONTAINER_MAX_MEMORY", toml: "container_max_memory", schema: byteSize, fallback: 8 * 1024 ** 3 },
  containerMaxCpus: { env: "GANTRY_CONTAINER_MAX_CPUS", toml: "container_max_cpus", schema: cpus, fallback: 4 },
  containerMaxPids: { env: "GANTRY_CONTAINER_MAX_PIDS", toml: "container_max_pids", schema: positiveInt, fallback: 4096 },
  /** run() tasks and pipeline imports run in a bubblewrap sandbox; "off" (an admin's choice) runs them as plain processes. */
  runSandbox: { env: "GANTRY_RUN_SANDBOX", toml: "run_sandbox", schema: v.picklist(["on", "off"], 'must be "on" or "off"'), fallback: "on" as "on" | "off" },
  /** GET /metrics without a token (for a scraper inside a trusted network); otherwise it takes one with system:read. */
  metricsPublic: {
    env: "GANTRY_METRICS_PUBLIC",
    toml: "metrics_public",
    schema: v.pipe(v.union([v.boolean(), v.picklist(["true", "false"], 'must be "true" or "false"')]), v.transform((value) => value === true || value === "true")),
    fallback: false,
  },
  /** Warm sandboxed run() runners waiting for new runs (0: every task starts its own). */
  runPool: { env: "GANTRY_RUN_POOL", toml: "run_pool", schema: nonNegativeInt, fallback: 4 },
  /** Host paths bound into every sandbox, read-only unless suffixed ":rw" (toolchains, shared caches). */
  runSandboxPaths: { env: "GANTRY_RUN_SANDBOX_PATHS", toml: "run_sandbox_paths", schema: sandboxPaths, fallback: [] as SandboxPath[] },
  /** How long a timed-out task has to stop after SIGTERM before SIGKILL (cancel uses kill_grace). */
  timeoutGraceMs: { env: "GANTRY_TIMEOUT_GRACE", toml: "timeout_grace", schema: duration, fallback: 3_000 },
  /** Sign-in with an OpenID Connect provider ([auth.oidc] in gantry.toml); off unless an issuer is set. */
  oidcIssuer: { env: "GANTRY_OIDC_ISSUER", toml: "auth.oidc.issuer", schema: v.optional(v.pipe(v.string(), v.url("must be a URL"))), fallback: undefined },
  oidcClientId: { env: "GANTRY_OIDC_CLIENT_ID", toml: "auth.oidc.client_id", schema: v.optional(text), fallback: undefined },
  oidcClientSecret: { env: "GANTRY_OIDC_CLIENT_SECRET", toml: "auth.oidc.client_secret", schema: v.optional(text), fallback: undefined },
  /** The sign-in button's label: "Sign in with <name>". */
  oidcName: { env: "GANTRY_OIDC_NAME", toml: "auth.oidc.name", schema: text, fallback: "single sign-on" },
  oidcGroupsClaim: { env: "GANTRY_OIDC_GROUPS_CLAIM", toml: "auth.oidc.groups_claim", schema: text, fallback: "groups" },
  /** group=role pairs: "platform=admin,dev=viewer" (a table or list in gantry.toml). */
  oidcRoleMap: { env: "GANTRY_OIDC_ROLE_MAP", toml: "auth.oidc.role_map", schema: roleMap, fallback: [] as RoleMapping[] },
  /** Email domains allowed to sign in; any when empty. */
  oidcAllowedDomains: { env: "GANTRY_OIDC_ALLOWED_DOMAINS", toml: "auth.oidc.allowed_domains", schema: list, fallback: [] as string[] },
  /** Sign-in with GitHub (OAuth) ([auth.github]); off unless a client id is set. */
  githubOAuthClientId: { env: "GANTRY_GITHUB_OAUTH_CLIENT_ID", toml: "auth.github.client_id", schema: v.optional(text), fallback: undefined },
  githubOAuthClientSecret: { env: "GANTRY_GITHUB_OAUTH_CLIENT_SECRET", toml: "auth.github.client_secret", schema: v.optional(text), fallback: undefined },
  /** org=role or org/team=role pairs: "acme=viewer,acme/platform=admin". */
  githubOAuthRoleMap: { env: "GANTRY_GITHUB_OAUTH_ROLE_MAP", toml: "auth.github.role_map", schema: roleMap, fallback: [] as RoleMapping[] },
  /** Where GitHub answers (GitHub Enterprise, or a test's stand-in): its web and API base URLs. */
  githubOAuthUrl: { env: "GANTRY_GITHUB_OAUTH_URL", toml: "auth.github.url", schema: v.pipe(v.string(), v.url("must be a URL")), fallback: "https://github.com" },
  githubOAuthApiUrl: { env: "GANTRY_GITHUB_OAUTH_API_URL", toml: "auth.github.api_url", schema: v.pipe(v.string(), v.url("must be a URL")), fallback: "https://api.github.com" },
  /** Largest JSON body the API accepts, in bytes; bigger ones get 413. */
  apiMaxBody: { env: "GANTRY_API_MAX_BODY", toml: "api_max_body", schema: positiveInt, fallback: 1024 * 1024 },
  /** Addresses (or CIDR ranges) of reverse proxies whose X-Forwarded-For is believed for the client address. */
  trustedProxies: { env: "GANTRY_TRUSTED_PROXIES", toml: "trusted_proxies", schema: list, fallback: [] as string[] },
  sessionIdleMs: { env: "GANTRY_SESSION_IDLE", toml: "session_idle", schema: duration, fallback: 30 * 60_000 },
  sessionMaxAgeMs: { env: "GANTRY_SESSION_MAX_AGE", toml: "session_max_age", schema: duration, fallback: 12 * 3_600_000 },
  /** Open live streams check their session or token this often, and end once it is gone. */
  streamRecheckMs: { env: "GANTRY_STREAM_RECHECK", toml: "stream_recheck", schema: duration, fallback: 30_000 },
  /** Failed authentications allowed per client address per minute before 429. */
  authFailureLimit: { env: "GANTRY_AUTH_FAILURE_LIMIT", toml: "auth_failure_limit", schema: positiveInt, fallback: 10 },
  /** Each extension's system config: [extensions.<id>] tables in gantry.toml, or JSON in the env. */
  extensionConfigs: { env: "GANTRY_EXTENSIONS_CONFIG", toml: "extensions", schema: extensionConfigs, fallback: {} as Record<string, Record<string, unknown>> },
  /** The npm registry `gantry extension install` fetches extensions from (a mirror, or a stub in tests). */
  npmRegistry: { env: "GANTRY_NPM_REGISTRY", toml: "npm_registry", schema: v.pipe(v.string(), v.url("must be a URL"), v.regex(/^https?:\/\//, "must be an http(s) URL")), fallback: "https://registry.npmjs.org" },
  pruneIntervalMs: { env: "GANTRY_PRUNE_INTERVAL", toml: "prune_interval", schema: duration, fallback: 10 * 60_000 },
  /** Workspaces and kept containers of this many latest finished runs per pipeline survive a prune. */
  pruneKeepLast: { env: "GANTRY_PRUNE_KEEP_LAST", toml: "prune_keep_last", schema: nonNegativeInt, fallback: 5 },
  /** Largest object the object store accepts, in bytes. */
  objectMaxBytes: { env: "GANTRY_OBJECT_MAX_BYTES", toml: "object_max_bytes", schema: positiveInt, fallback: 64 * 1024 * 1024 },
  /** Objects a pipeline keeps; a new one beyond this evicts the least recently written. */
  objectPipelineLimit: { env: "GANTRY_OBJECT_PIPELINE_LIMIT", toml: "object_pipeline_limit", schema: positiveInt, fallback: 100 },
  /** A run's objects expire once this many later runs of its pipeline exist. */
  objectRunExpiry: { env: "GANTRY_OBJECT_RUN_EXPIRY", toml: "object_run_expiry", schema: positiveInt, fallback: 5 },
  /**
   * Where artifacts and caches are kept: the data dir (<data>/artifacts) when unset, or an
   * S3-compatible bucket as "s3://bucket/prefix" (with the endpoint and credentials below).
   */
  artifactsUrl: { env: "GANTRY_ARTIFACTS_URL", toml: "artifacts_url", schema: v.optional(artifactsUrl), fallback: undefined },
  /** The S3 endpoint (MinIO, R2, a local test server...); AWS's when unset. */
  artifactsS3Endpoint: { env: "GANTRY_ARTIFACTS_S3_ENDPOINT", toml: "artifacts_s3_endpoint", schema: v.optional(v.pipe(v.string(), v.url("must be a URL"))), fallback: undefined },
  artifactsS3Region: { env: "GANTRY_ARTIFACTS_S3_REGION", toml: "artifacts_s3_region", schema: v.optional(text), fallback: undefined },
  artifactsS3AccessKeyId: { env: "GANTRY_ARTIFACTS_S3_ACCESS_KEY_ID", toml: "artifacts_s3_access_key_id", schema: v.optional(text), fallback: undefined },
  /** Never logged nor shown; a bad value is reported without it. */
  artifactsS3SecretAccessKey: { env: "GANTRY_ARTIFACTS_S3_SECRET_ACCESS_KEY", toml: "artifacts_s3_secret_access_key", schema: v.optional(text), fallback: undefined },
  /** The largest one artifact's tar may be: packing stops there and the task fails, before the disk fills. */
  artifactMaxBytes: { env: "GANTRY_ARTIFACT_MAX_BYTES", toml: "artifact_max_bytes", schema: byteSize, fallback: 10 * 1024 ** 3 },
  /** A pipeline's caches together keep at most this many bytes; the least recently used go first. */
  cacheMaxBytes: { env: "GANTRY_CACHE_MAX_BYTES", toml: "cache_max_bytes", schema: byteSize, fallback: 2 * 1024 ** 3 },
  /** Git repositories pipelines are loaded from, beside the local folder: [sources.<name>] tables in gantry.toml. */
  sources: { env: "GANTRY_SOURCES", toml: "sources", schema: sourceConfigs, fallback: {} as Record<string, SourceSettings> },
  /** Events older than this are pruned by the janitor. */
  eventsMaxAgeMs: { env: "GANTRY_EVENTS_MAX_AGE", toml: "events_max_age", schema: duration, fallback: 30 * 86_400_000 },
  /** At most this many of the newest events are kept. */
  eventsMaxCount: { env: "GANTRY_EVENTS_MAX_COUNT", toml: "events_max_count", schema: positiveInt, fallback: 100_000 },
} as const;

/** Settings whose values are secrets: never repeated in an error. */
const SECRET_SETTINGS = new Set<string>(["secretKey", "dbAuthToken", "oidcClientSecret", "githubOAuthClientSecret", "artifactsS3SecretAccessKey"]);

type Settings = typeof SETTINGS;
type SettingValue<K extends keyof Settings> = v.InferOutput<Settings[K]["schema"]> | Settings[K]["fallback"];

export type Config = { [K in keyof Settings]: SettingValue<K> } & {
  /** Absolute paths derived from the settings. */
  dataDir: string;
  pipelinesDir: string;
  extensionsDir: string;
  dbUrl: string;
  /** The gantry.toml this config was read from (absolute), when there is one: installs keep their pins in it. */
  configFile: string | undefined;
  /**
   * gantry.toml's [extension_versions]: npm package → the exact version installed at start;
   * undefined when the file has no such table. No environment variable: the server writes these
   * pins into the file on install, upgrade and uninstall, and could not write a variable.
   */
  extensionVersions: Record<string, string> | undefined;
};

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  /** Path of gantry.toml; `GANTRY_CONFIG` or ./gantry.toml when absent. */
  file?: string;
  cwd?: string;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const filePath = resolve(cwd, options.file ?? env.GANTRY_CONFIG ?? "gantry.toml");
  const fromFile = readToml(filePath, options.file !== undefined || env.GANTRY_CONFIG !== undefined);

  const known = new Set<string>([...Object.values(SETTINGS).map((setting) => setting.toml), EXTENSION_VERSIONS_TABLE]);
  for (const key of flattenTables(fromFile)) {
    if (!known.has(key)) throw new ConfigError(`${filePath}: unknown setting "${key}"`);
  }

  const values: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS)) {
    const envValue = env[setting.env];
    const raw = envValue !== undefined && envValue !== "" ? envValue : tomlValue(fromFile, setting.toml);
    if (raw === undefined) {
      values[name] = setting.fallback;
      continue;
    }
    const parsed = v.safeParse(setting.schema as v.GenericSchema, raw);
    if (!parsed.success) {
      const source = envValue !== undefined && envValue !== "" ? setting.env : `${setting.toml} in ${filePath}`;
      // A secret's value is never echoed, not even a wrong one.
      const got = SECRET_SETTINGS.has(name) ? "" : ` (got ${JSON.stringify(raw)})`;
      throw new ConfigError(`${source}: ${parsed.issues[0]?.message ?? "invalid value"}${got}`);
    }
    values[name] = parsed.output;
  }
  const config = values as Config;
  config.dataDir = resolve(cwd, config.dataDir);
  config.pipelinesDir = resolve(cwd, config.pipelinesDir);
  config.extensionsDir = resolve(cwd, config.extensionsDir);
  config.dbUrl ??= `file:${resolve(config.dataDir, "gantry.db")}`;
  config.configFile = existsSync(filePath) ? filePath : undefined;
  config.extensionVersions = undefined;
  if (fromFile[EXTENSION_VERSIONS_TABLE] !== undefined) {
    const pins = v.safeParse(extensionVersionsSchema, fromFile[EXTENSION_VERSIONS_TABLE]);
    if (!pins.success) {
      const key = v.getDotPath(pins.issues[0]);
      throw new ConfigError(`[${EXTENSION_VERSIONS_TABLE}]${key ? ` ${JSON.stringify(key)}` : ""} in ${filePath}: ${pins.issues[0].message}`);
    }
    config.extensionVersions = pins.output;
  }
  const signInProblem = signInSettingsProblem(config);
  if (signInProblem) throw new ConfigError(signInProblem);
  return config;
}

/** Tables whose keys are settings of their own ([auth.oidc] issuer = ...), named "auth.oidc.issuer". */
const NESTED_TABLES = ["auth", "auth.oidc", "auth.github"];

/** Every setting key of the file, nested tables' keys dotted. */
function flattenTables(table: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(table).flatMap(([key, value]) => {
    const name = prefix ? `${prefix}.${key}` : key;
    return NESTED_TABLES.includes(name) && value && typeof value === "object" && !Array.isArray(value)
      ? flattenTables(value as Record<string, unknown>, name)
      : [name];
  });
}

function tomlValue(table: Record<string, unknown>, key: string): unknown {
  let value: unknown = table;
  for (const part of key.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
  return value;
}

function readToml(path: string, required: boolean): Record<string, unknown> {
  if (!existsSync(path)) {
    if (required) throw new ConfigError(`config file ${path} does not exist`);
    return {};
  }
  try {
    return Bun.TOML.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`${path}: not valid TOML: ${(error as Error).message}`);
  }
}

/** The base URL of this server's API as tasks and links should use it. */
export function publicUrl(config: Config): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/$/, "");
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
}
