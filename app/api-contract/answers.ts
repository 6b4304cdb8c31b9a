// The shapes of the API's answers, described once: each route's doc() (http/api/route-doc.ts)
// names its answer here, the OpenAPI document is made from them, the test suite checks every
// answer the server gives against them, and the CLI reads answers through them. States stay
// plain strings and unknown fields are dropped (v.object, never strictObject) on purpose: a
// newer server with a new state or field should still print, not fail validation.
import * as v from "valibot";
import { INPUT_FORMATS } from "../domain/run-inputs.ts";

const timestamp = v.nullable(v.string());

const issueSchema = v.object({ path: v.string(), message: v.string() });

const loadErrorSchema = v.object({ file: v.string(), issues: v.array(issueSchema) });

export const triggerSchema = v.looseObject({ kind: v.string() });

const pipelineTaskSchema = v.object({
  id: v.string(),
  kind: v.string(),
  needs: v.record(v.string(), v.string()),
  timeoutMs: v.optional(v.number()),
  retries: v.optional(v.number()),
  image: v.optional(v.string()),
});

/** One input's JSON Schema: a form field (app/domain/run-inputs.ts's InputSchema). */
const inputSchemaSchema = v.object({
  type: v.picklist(["string", "number", "integer", "boolean"]),
  enum: v.optional(v.array(v.union([v.string(), v.number()]))),
  title: v.optional(v.string()),
  description: v.optional(v.string()),
  default: v.optional(v.union([v.string(), v.number(), v.boolean()])),
  minimum: v.optional(v.number()),
  maximum: v.optional(v.number()),
  exclusiveMinimum: v.optional(v.number()),
  exclusiveMaximum: v.optional(v.number()),
  multipleOf: v.optional(v.number()),
  minLength: v.optional(v.number()),
  maxLength: v.optional(v.number()),
  pattern: v.optional(v.string()),
  // A format this CLI does not know (a newer server's) is dropped: the server checks it alone.
  format: v.fallback(v.optional(v.picklist(INPUT_FORMATS)), undefined),
});

/** A pipeline's inputs as one JSON Schema object, properties in the file's order. */
const inputsSchema = v.object({
  properties: v.record(v.string(), inputSchemaSchema),
  required: v.optional(v.array(v.string()), []),
});
export type InputsJson = v.InferOutput<typeof inputsSchema>;

const pipelineSchema = v.pipe(
  v.object({
    namespace: v.string(),
    id: v.string(),
    name: v.string(),
    description: v.string(),
    version: v.nullable(v.number()),
    parallelism: v.optional(v.nullable(v.number())),
    /** Its badge is shown to anyone (absent from older servers). */
    public: v.optional(v.boolean()),
    variables: v.optional(v.record(v.string(), v.string()), {}),
    tasks: v.array(pipelineTaskSchema),
    triggers: v.array(triggerSchema),
    /** Absent from servers before typed inputs. */
    inputs: v.optional(inputsSchema),
    file: v.optional(v.string()),
    /** The git source it comes from; absent for the local pipelines folder (and from older servers). */
    source: v.optional(v.string()),
    updatedAt: v.optional(timestamp),
    error: v.optional(loadErrorSchema),
  }),
  v.metadata({ ref: "Pipeline" }),
);
export type PipelineJson = v.InferOutput<typeof pipelineSchema>;
export type TriggerJson = v.InferOutput<typeof triggerSchema>;

/** What a task's log (or one attempt's part of it) lost to the cap. */
const logTruncationSchema = v.object({ truncated: v.boolean(), droppedLines: v.number(), droppedBytes: v.number(), maxBytes: v.number() });

/** One attempt of a task (a retry keeps the earlier ones). */
const attemptSchema = v.pipe(
  v.object({
    attempt: v.number(),
    state: v.string(),
    exitCode: v.nullable(v.number()),
    reason: v.optional(v.string()),
    startedAt: timestamp,
    endedAt: timestamp,
    node: v.optional(v.string()),
    /** Only when this attempt's part of the log lost lines to the cap. */
    log: v.optional(logTruncationSchema),
  }),
  v.metadata({ ref: "Attempt" }),
);
export type AttemptJson = v.InferOutput<typeof attemptSchema>;

/** Who decided a gate, when, and how (a person, or autoApprove / the timeout). */
const decisionSchema = v.object({
  outcome: v.string(),
  by: v.string(),
  comment: v.optional(v.string()),
  at: v.string(),
  auto: v.optional(v.string()),
});

/** An approval gate on its execution: what it waits for, and its decision once made. */
const approvalSchema = v.pipe(
  v.object({
    message: v.optional(v.string()),
    approvers: v.optional(v.array(v.string()), []),
    allowSelfApproval: v.optional(v.boolean(), false),
    onTimeout: v.optional(v.string()),
    waitingSince: v.optional(timestamp),
    decideBy: v.optional(timestamp),
    autoApproveNote: v.optional(v.string()),
    decision: v.nullish(decisionSchema),
  }),
  v.metadata({ ref: "Approval" }),
);
export type ApprovalJson = v.InferOutput<typeof approvalSchema>;

const executionSchema = v.pipe(
  v.object({
    id: v.string(),
    kind: v.string(),
    state: v.string(),
    exitCode: v.nullable(v.number()),
    attempt: v.number(),
    reason: v.optional(v.string()),
    /** While a failed attempt waits out its retry delay: when the next one starts (absent from older servers). */
    retryAt: v.optional(timestamp, null),
    /** A `reused` task: the run whose successful execution a re-run kept. */
    reusedFrom: v.optional(v.number()),
    startedAt: timestamp,
    endedAt: timestamp,
    // Optional with a default, so a server from before attempts were kept still answers.
    attempts: v.optional(v.array(attemptSchema), []),
    /** Only when the log lost lines to its cap (GANTRY_LOG_MAX_BYTES). */
    log: v.optional(logTruncationSchema),
    /** An approval gate's (kind "approval") wait and decision; null or absent for other tasks. */
    approval: v.nullish(approvalSchema),
    /** What became of its cache (a task with `cache`): hit exact, prefix or miss, and whether it saved. */
    cache: v.optional(
      v.object({ key: v.string(), hit: v.picklist(["exact", "prefix", "miss"]), restoredKey: v.optional(v.string()), saved: v.optional(v.boolean()), error: v.optional(v.string()) }),
    ),
  }),
  v.metadata({ ref: "Execution" }),
);
export type ExecutionJson = v.InferOutput<typeof executionSchema>;

const runSchema = v.pipe(
  v.object({
    namespace: v.string(),
    pipeline: v.string(),
    id: v.number(),
    state: v.string(),
    reason: v.optional(v.string()),
    /** While queued: 1 = next to start, and why it has not started yet. */
    position: v.optional(v.number()),
    waitingFor: v.optional(v.string()),
    trigger: v.looseObject({ kind: v.string(), by: v.optional(v.string()) }),
    version: v.number(),
    /** The commit of a git source it runs as of (asked for with --commit, or its version's). */
    commit: v.optional(v.string()),
    variables: v.record(v.string(), v.string()),
    /** Its typed inputs, checked and with defaults applied (absent from older servers). */
    inputs: v.optional(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()])), {}),
    /** The concurrency group the run counts against, when its pipeline declares one. */
    group: v.optional(v.string()),
    rerunOf: v.optional(v.number()),
    /** "all" or "failed" (a newer server may know more scopes). */
    rerunOnly: v.optional(v.string()),
    cancelRequestedAt: v.optional(timestamp),
    /** The node (server process) driving it. */
    node: v.optional(v.string()),
    /** Who started it (a person or a token's name), when someone did. */
    startedBy: v.optional(v.string()),
    /** What its scans found, by level (absent when it has none). */
    findings: v.optional(v.object({ error: v.number(), warning: v.number(), note: v.number() })),
    createdAt: v.optional(timestamp),
    queuedAt: v.optional(timestamp),
    startedAt: timestamp,
    endedAt: timestamp,
    tasks: v.array(executionSchema),
  }),
  v.metadata({ ref: "Run" }),
);
export type RunJson = v.InferOutput<typeof runSchema>;

/** A permission as the API shows it (a role's, or a task token's own). */
const permissionSchema = v.object({ resource: v.string(), target: v.string(), actions: v.array(v.string()) });

const tokenSchema = v.pipe(
  v.object({
    id: v.string(),
    name: v.string(),
    roles: v.array(v.string()),
    createdAt: v.optional(timestamp),
    expiresAt: timestamp,
    revokedAt: v.optional(timestamp),
    /** The person a personal token belongs to; null for other tokens (absent from older servers). */
    userId: v.optional(v.nullable(v.string())),
    /** A token's own permissions, beside its roles (a task's token). */
    permissions: v.optional(v.array(permissionSchema)),
    /** A token the engine issued to a task: its run, task and scope. */
    issuedTo: v.optional(v.object({ run: v.nullable(v.string()), task: v.nullable(v.string()), scope: v.nullable(v.string()) })),
  }),
  v.metadata({ ref: "Token" }),
);
export type TokenJson = v.InferOutput<typeof tokenSchema>;

const userSchema = v.pipe(
  v.object({
    id: v.string(),
    provider: v.string(),
    subject: v.string(),
    name: v.string(),
    login: v.nullable(v.string()),
    email: v.nullable(v.string()),
    avatarUrl: v.nullable(v.string()),
    groups: v.array(v.string()),
    mappedRoles: v.array(v.string()),
    grantedRoles: v.array(v.string()),
    /** What they hold now: mapped and granted. */
    roles: v.array(v.string()),
    createdAt: v.string(),
    lastSignInAt: timestamp,
    disabledAt: timestamp,
    disabledBy: v.nullable(v.string()),
  }),
  v.metadata({ ref: "User" }),
);
export type UserJson = v.InferOutput<typeof userSchema>;

const secretSchema = v.pipe(
  v.object({
    name: v.string(),
    scope: v.string(),
    createdAt: v.string(),
    updatedAt: v.string(),
    /** Why masking may miss parts of the value; absent when it looks like one token. */
    warning: v.optional(v.string()),
  }),
  v.metadata({ ref: "Secret" }),
);

const objectSchema = v.pipe(
  v.object({ key: v.string(), size: v.number(), sha256: v.string(), createdAt: v.string(), updatedAt: v.string() }),
  v.metadata({ ref: "StoredObject" }),
);

export const pipelineListAnswer = v.object({ pipelines: v.array(pipelineSchema) });
export const pipelineAnswer = v.object({ pipeline: pipelineSchema });
export const runListAnswer = v.object({ runs: v.array(runSchema) });
export const runAnswer = v.object({ run: runSchema });
export const tokenListAnswer = v.object({ tokens: v.array(tokenSchema) });
export const tokenAnswer = v.object({ token: tokenSchema });
export const createdTokenAnswer = v.object({ token: tokenSchema, secret: v.string() });
export const userListAnswer = v.object({ users: v.array(userSchema) });
export const userAnswer = v.object({ user: userSchema });
export const objectAnswer = v.object({ object: objectSchema });
export const objectListAnswer = v.object({ objects: v.array(objectSchema) });
/** The answer to a DELETE of an object or a secret: the key or name deleted. */
export const deletedAnswer = v.object({ deleted: v.string() });
export const secretAnswer = v.object({ secret: secretSchema });
export const secretListAnswer = v.object({ secrets: v.array(secretSchema) });
/** newKey comes only when the key was GANTRY_SECRET_KEY, which the server cannot rewrite. */
export const rotatedKeyAnswer = v.object({
  keyId: v.string(),
  reencrypted: v.number(),
  newKey: v.optional(v.string()),
  notice: v.optional(v.string()),
});

const nodeSchema = v.pipe(
  v.object({
    id: v.string(),
    hostname: v.string(),
    pid: v.number(),
    version: v.string(),
    startedAt: timestamp,
    heartbeatAt: timestamp,
    stoppedAt: timestamp,
    alive: v.boolean(),
    /** The node that answered this request. */
    self: v.boolean(),
    /** Running runs it drives. */
    runs: v.number(),
  }),
  v.metadata({ ref: "Node" }),
);
export type NodeJson = v.InferOutput<typeof nodeSchema>;

/** The answering server's warm runners, and how the run() tasks it ran in its sandbox got their runners since it started. */
const runnersSchema = v.object({
  /** Spares ready now; how many it keeps (GANTRY_RUN_POOL; 0 when off or stopped); new runs that found none ready. */
  pool: v.object({ ready: v.number(), size: v.number(), misses: v.number() }),
  /** run() tasks started on a warm runner, on one booted ahead and still booting, on one of their own. */
  started: v.object({ warm: v.number(), booting: v.number(), own: v.number() }),
});

/** GET /system and the answer to pause and resume: the pause switch, the nodes and (with system:read) the warm runners. */
export const systemAnswer = v.object({
  paused: v.boolean(),
  pausedBy: v.nullable(v.string()),
  pausedAt: timestamp,
  nodes: v.array(nodeSchema),
  /** Absent from servers older than it, and for a token that may not read the system (pause and resume). */
  runners: v.optional(runnersSchema),
});
export type SystemJson = v.InferOutput<typeof systemAnswer>;

/** The final message of a followed log: how the task ended. */
export const logEndSchema = v.object({ state: v.string(), exitCode: v.nullable(v.number()) });

const subscriptionSchema = v.pipe(
  v.object({
    id: v.number(),
    extension: v.string(),
    namespace: v.string(),
    pipeline: v.string(),
    params: v.unknown(),
    source: v.string(),
    createdAt: v.string(),
    error: v.optional(v.string()),
  }),
  v.metadata({ ref: "Subscription" }),
);
export type SubscriptionJson = v.InferOutput<typeof subscriptionSchema>;

const installedSchema = v.object({ package: v.string(), version: v.string(), integrity: v.string(), installedAt: v.string() });

const extensionSchema = v.pipe(
  v.object({
    id: v.string(),
    source: v.optional(v.string()),
    installed: v.optional(installedSchema),
    state: v.string(),
    restarts: v.number(),
    error: v.optional(v.string()),
    subscriptions: v.array(subscriptionSchema),
    log: v.array(v.string()),
  }),
  v.metadata({ ref: "Extension" }),
);
export type ExtensionJson = v.InferOutput<typeof extensionSchema>;

export const extensionListAnswer = v.object({ extensions: v.array(extensionSchema) });
export const extensionAnswer = v.object({ extension: extensionSchema });
/** Where an install's pin went: gantry.toml, or installed.json and why not gantry.toml. */
const pinSchema = v.object({ file: v.string(), problem: v.optional(v.string()) });
export const extensionInstallAnswer = v.object({
  id: v.string(),
  installed: installedSchema,
  previous: v.optional(v.string()),
  unchanged: v.optional(v.boolean()),
  state: v.string(),
  error: v.optional(v.string()),
  pin: v.optional(pinSchema),
});
export const extensionUninstallAnswer = v.object({ id: v.string(), uninstalled: installedSchema, pin: v.optional(pinSchema) });
export const extensionAvailableAnswer = v.object({
  registry: v.string(),
  packages: v.array(
    v.object({
      name: v.string(),
      version: v.string(),
      description: v.optional(v.string()),
      installed: v.optional(v.object({ id: v.string(), version: v.string() })),
    }),
  ),
});
export const subscriptionListAnswer = v.object({ subscriptions: v.array(subscriptionSchema) });
export const subscriptionAnswer = v.object({ subscription: subscriptionSchema });

/** A gate waiting for a decision, as GET /approvals lists them for the caller. */
const waitingApprovalSchema = v.object({
  namespace: v.string(),
  pipeline: v.string(),
  run: v.number(),
  task: v.string(),
  message: v.optional(v.string()),
  approvers: v.optional(v.array(v.string()), []),
  decideBy: timestamp,
  waitingSince: timestamp,
  startedBy: v.optional(v.nullable(v.string())),
  /** Whether the caller may decide it; when not, why (refusal). */
  mayDecide: v.boolean(),
  refusal: v.optional(v.string()),
});
export type WaitingApprovalJson = v.InferOutput<typeof waitingApprovalSchema>;

export const approvalListAnswer = v.object({ approvals: v.array(waitingApprovalSchema) });

/** A commit of a git source: a source's head, a version's origin. */
const commitSchema = v.object({
  sha: v.string(),
  author: v.string(),
  message: v.string(),
  committedAt: v.string(),
  /** Where a browser shows it (http(s) repositories only). */
  url: v.optional(v.string()),
});
export type CommitJson = v.InferOutput<typeof commitSchema>;

const versionSchema = v.pipe(
  v.object({
    version: v.number(),
    hash: v.string(),
    createdAt: timestamp,
    /** The commit that made it, for a pipeline of a git source. */
    commit: v.optional(v.object({ ...commitSchema.entries, source: v.string() })),
    tasks: v.array(v.object({ id: v.string(), kind: v.string() })),
  }),
  v.metadata({ ref: "Version" }),
);
export type VersionJson = v.InferOutput<typeof versionSchema>;

export const versionListAnswer = v.object({ versions: v.array(versionSchema) });

/** What changed from one version to another, a unified diff per file. */
export const versionDiffAnswer = v.object({
  from: v.nullable(v.number()),
  to: v.number(),
  /** False when a version was stored before its text was kept: no diff can be shown. */
  complete: v.boolean(),
  files: v.array(v.object({ path: v.string(), status: v.string(), patch: v.string(), added: v.number(), removed: v.number() })),
});
export type VersionDiffJson = v.InferOutput<typeof versionDiffAnswer>;

/** What one sync did: the commits it saw and loaded, the versions they made, the files that failed. */
const syncSchema = v.object({
  unchanged: v.boolean(),
  head: v.optional(commitSchema),
  commits: v.number(),
  loaded: v.number(),
  versions: v.array(v.object({ pipeline: v.string(), version: v.number(), commit: v.string() })),
  failures: v.array(v.object({ file: v.string(), commit: v.string(), issues: v.array(issueSchema) })),
  warnings: v.array(v.string()),
});
export type SyncJson = v.InferOutput<typeof syncSchema>;

/** A source: a git repository (or, as "local", the pipelines folder) pipelines are loaded from. */
const sourceSchema = v.pipe(
  v.object({
    name: v.string(),
    kind: v.string(),
    repo: v.optional(v.string()),
    branch: v.optional(v.string()),
    path: v.string(),
    namespace: v.optional(v.string()),
    /** "secret:<name>". */
    auth: v.optional(v.string()),
    hookSecret: v.optional(v.string()),
    /** Milliseconds between polls; 0: never polled. */
    pollInterval: v.optional(v.number()),
    /** "api" or "config" (gantry.toml: changed there, not here). */
    definedIn: v.optional(v.string()),
    state: v.string(),
    head: v.optional(commitSchema),
    error: v.optional(v.string()),
    lastSyncAt: v.optional(timestamp),
    lastCheckedAt: v.optional(timestamp),
    /** What the last sync that got through did (the one adding a source starts included). */
    lastSync: v.optional(v.object({ at: v.string(), ...v.omit(syncSchema, ["unchanged", "head"]).entries })),
    pipelines: v.array(v.object({ namespace: v.string(), id: v.string(), file: v.string(), error: v.optional(loadErrorSchema) })),
  }),
  v.metadata({ ref: "Source" }),
);
export type SourceJson = v.InferOutput<typeof sourceSchema>;

export const sourceListAnswer = v.object({ sources: v.array(sourceSchema) });
export const sourceAnswer = v.object({ source: sourceSchema });
export const sourceDetailAnswer = v.object({
  source: sourceSchema,
  commits: v.array(v.object({ ...commitSchema.entries, loaded: v.boolean(), syncedAt: timestamp })),
});
/** The local folder's sync is a rescan and has no outcome of its own. */
export const sourceSyncAnswer = v.object({ source: sourceSchema, sync: v.optional(syncSchema) });

/** Whether an environment's target answered at its last connection test or deploy. */
const environmentStatusSchema = v.object({
  /** ok, failing, or unknown (never tested nor deployed to). */
  state: v.string(),
  detail: v.optional(v.string()),
  checkedAt: v.optional(timestamp),
});

/** An environment: a deployment target and the global secrets (by name) its deploys receive. */
const environmentSchema = v.pipe(
  v.object({
    name: v.string(),
    /** The namespace whose pipelines alone deploy here; null (or absent, from an older server) when shared. */
    namespace: v.optional(v.nullable(v.string()), null),
    provider: v.string(),
    /**
     * The provider's settings: a swarm's dockerHost (absent: the server's own engine), the registry
     * each deploy pushes its image to first, and the global secret holding that registry's credentials.
     */
    config: v.object({ dockerHost: v.optional(v.string()), registry: v.optional(v.string()), registryAuth: v.optional(v.string()) }),
    status: v.optional(environmentStatusSchema, { state: "unknown" }),
    secrets: v.array(v.string()),
    description: v.optional(v.string()),
    /** What a deploy must pass first; `wait` in milliseconds. */
    protection: v.optional(
      v.object({ pipelines: v.optional(v.array(v.string())), branches: v.optional(v.array(v.string())), approval: v.optional(v.boolean()), wait: v.optional(v.number()) }),
      {},
    ),
    createdAt: timestamp,
    updatedAt: timestamp,
  }),
  v.metadata({ ref: "Environment" }),
);
export type EnvironmentJson = v.InferOutput<typeof environmentSchema>;

const deploymentRunSchema = v.object({ namespace: v.string(), pipeline: v.string(), id: v.number() });

/** One deployment of a service to an environment, and how it ended. */
const deploymentSchema = v.pipe(
  v.object({
    id: v.number(),
    service: v.string(),
    image: v.string(),
    previousImage: v.nullable(v.string()),
    /** running, succeeded, failed or rolled_back. */
    state: v.string(),
    reason: v.optional(v.string()),
    strategy: v.string(),
    /** The run that deployed it; absent for a rollback a person asked for (`by`). */
    run: v.optional(deploymentRunSchema),
    task: v.optional(v.string()),
    by: v.optional(v.string()),
    startedAt: timestamp,
    endedAt: timestamp,
  }),
  v.metadata({ ref: "Deployment" }),
);
export type DeploymentJson = v.InferOutput<typeof deploymentSchema>;

export const environmentListAnswer = v.object({ environments: v.array(environmentSchema) });
export const environmentAnswer = v.object({ environment: environmentSchema });
export const environmentDetailAnswer = v.object({
  environment: environmentSchema,
  /** What runs there now: each service's newest succeeded deployment. */
  current: v.array(v.object({ service: v.string(), image: v.string(), deployedAt: timestamp, run: v.optional(deploymentRunSchema), task: v.optional(v.string()), by: v.optional(v.string()) })),
  deployments: v.array(deploymentSchema),
});
export const environmentTestAnswer = v.variant("ok", [
  v.object({ ok: v.literal(true), detail: v.string() }),
  v.object({ ok: v.literal(false), problem: v.string() }),
]);

/** POST /environments/:name/services/:service/rollback: the rollback, recorded as a deployment. */
export const deploymentAnswer = v.object({ deployment: deploymentSchema });

/** GET /health: the server and its subsystems (503 with the same body when the database is down). */
const subsystemSchema = v.object({ status: v.string(), message: v.optional(v.string()) });
export const healthAnswer = v.object({
  status: v.picklist(["ok", "unavailable"]),
  version: v.string(),
  subsystems: v.object({
    database: subsystemSchema,
    docker: subsystemSchema,
    sandbox: v.object({ status: v.string(), user: v.optional(v.string()), message: v.optional(v.string()) }),
    swarm: v.optional(subsystemSchema),
  }),
});

const roleSchema = v.pipe(
  v.object({
    id: v.string(),
    description: v.string(),
    permissions: v.array(permissionSchema),
    builtIn: v.boolean(),
    createdAt: v.optional(v.string()),
    updatedAt: v.optional(v.string()),
  }),
  v.metadata({ ref: "Role" }),
);
export const roleListAnswer = v.object({ roles: v.array(roleSchema) });
export const roleAnswer = v.object({ role: roleSchema });

/** GET /tokens/whoami: the calling token and the permissions its roles give. */
export const whoamiAnswer = v.object({ token: tokenSchema, permissions: v.array(permissionSchema) });

const eventSchema = v.pipe(
  v.object({
    id: v.number(),
    kind: v.string(),
    namespace: v.nullable(v.string()),
    pipeline: v.nullable(v.string()),
    run: v.nullable(v.number()),
    task: v.nullable(v.string()),
    data: v.unknown(),
    at: v.string(),
  }),
  v.metadata({ ref: "Event" }),
);
export type EventJson = v.InferOutput<typeof eventSchema>;
export const eventListAnswer = v.object({ events: v.array(eventSchema) });

/** What a run's scans found, each finding marked new against the last successful run before it (`since`). */
export const findingsAnswer = v.object({
  findings: v.array(
    v.object({
      task: v.string(),
      tool: v.string(),
      ruleId: v.string(),
      level: v.picklist(["error", "warning", "note"]),
      message: v.string(),
      file: v.nullable(v.string()),
      line: v.nullable(v.number()),
      new: v.boolean(),
    }),
  ),
  counts: v.object({ error: v.number(), warning: v.number(), note: v.number() }),
  since: v.nullable(v.number()),
});

/** A search of a run's task logs: every match counted, one page of them listed. */
export const logSearchAnswer = v.object({
  total: v.number(),
  perTask: v.record(v.string(), v.number()),
  matches: v.array(
    v.object({
      task: v.string(),
      /** The line's number in its task's log, from 1. */
      line: v.number(),
      stream: v.picklist(["out", "err", "gantry"]),
      at: v.nullable(v.string()),
      /** The line's text without its ANSI colour codes. */
      text: v.string(),
    }),
  ),
});

export const artifactListAnswer = v.object({
  artifacts: v.array(
    v.object({ name: v.string(), task: v.string(), path: v.string(), kind: v.picklist(["file", "folder"]), size: v.number(), sha256: v.string(), createdAt: v.string() }),
  ),
});

export const cacheListAnswer = v.object({
  caches: v.array(v.object({ key: v.string(), size: v.number(), sha256: v.string(), run: v.number(), createdAt: v.string(), lastUsedAt: v.string() })),
  totalBytes: v.number(),
  maxBytes: v.number(),
});

/** An approve or reject: the run, or only the gate's execution for a caller who may decide but not read the run. */
export const decisionAnswer = v.union([runAnswer, v.object({ task: executionSchema })]);

/** A container extension's call: what the method gave (null for nothing). */
export const extensionCallAnswer = v.object({ value: v.unknown() });
