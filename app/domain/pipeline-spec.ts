// Validates what a pipeline file exports and turns it into the serialisable spec stored
// with each version. Errors carry the path inside the object so authors find the typo.
import * as v from "valibot";
import { parseDuration } from "./duration.ts";
import { envNameSchema, idSchema } from "./ids.ts";
import { findDagProblems } from "./dag.ts";
import { groupTemplateProblems, type ConcurrencySpec } from "./concurrency.ts";
import { RUN_VARIABLE_LIMITS, runVariableNameProblem } from "./run-variables.ts";
import { fixedRetryDelay, growingRetryDelay, MAX_RETRY_DELAY_MS, type RetryDelay } from "./retry-delay.ts";
import { triggerProblems } from "./trigger-checks.ts";
import { inputSpecs } from "./describe-inputs.ts";
import type { InputSpec } from "./run-inputs.ts";
import { NOTIFY_EVENTS, type NotificationSpec } from "./notifications.ts";
import { ARTIFACT_NAME_PATTERN, workspacePathProblem, type ArtifactsSpec, type CacheSpec, type SarifSpec } from "./task-files.ts";
import { imageReferenceProblem, pushProblem, registryProblem, type ImageBuildSpec, type ImagePushSpec } from "./image-tasks.ts";
import { HTTP_PATH_PATTERN, isPort, MAX_PROBE_WAIT_MS, portsProblem, SERVICE_PATTERN, type DeploySpec } from "./deploy-tasks.ts";
import { mergeRunsOn, NODE_LABEL_KEY_MESSAGE, NODE_LABEL_KEY_PATTERN, NODE_LABEL_VALUE_MESSAGE, NODE_LABEL_VALUE_PATTERN, type RunsOn } from "./placement.ts";

const durationSchema = v.pipe(
  v.union([v.number(), v.string()], "must be milliseconds or a string like \"30s\""),
  v.check((value) => parseDuration(value) !== undefined, 'must be milliseconds or a string like "500ms", "30s", "5m", "1h"'),
  v.transform((value) => parseDuration(value)!),
);

/** A fixed wait before each retry (0: at once), or one that grows: `{ initial, factor?, max? }`. */
const retryDelayPartSchema = v.pipe(durationSchema, v.maxValue(MAX_RETRY_DELAY_MS, "must be at most 1d"));
const growingRetryDelaySchema = v.pipe(
  v.strictObject({
    initial: retryDelayPartSchema,
    factor: v.optional(v.pipe(v.number(), v.minValue(1, "must be at least 1"), v.maxValue(10, "must be at most 10"))),
    max: v.optional(retryDelayPartSchema),
  }),
  v.check((delay) => delay.max === undefined || delay.max >= delay.initial, "max must not be less than initial"),
  v.transform((delay) => growingRetryDelay(delay.initial, delay.factor, delay.max)),
);
const fixedRetryDelaySchema = v.pipe(retryDelayPartSchema, v.transform(fixedRetryDelay));
// Chosen by the value's shape, so an author reads the problem of the form they wrote, not a union's "invalid".
const retryDelaySchema = v.lazy((input) => (typeof input === "object" && input !== null ? growingRetryDelaySchema : fixedRetryDelaySchema));

const secretRefSchema = v.strictObject({
  __gantry: v.literal("secret"),
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,128}$/, "secret names are 1-128 of A-Z a-z 0-9 _ . -")),
});

const envValueSchema = v.union([v.string(), secretRefSchema], "must be a string or secret(\"name\")");

const needsSchema = v.record(idSchema, v.picklist(["success", "failure", "any"], 'must be "success", "failure" or "any"'));

const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i;
const MEMORY_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes for a memory limit such as 268435456, "256m" or "1g". */
export function parseMemory(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value > 0 ? value : undefined;
  const match = MEMORY_PATTERN.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * MEMORY_UNITS[match[2]!.toLowerCase()]!);
}

const artifactNameSchema = v.pipe(v.string(), v.regex(ARTIFACT_NAME_PATTERN, "must be an artifact name: 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)"));
const workspacePathSchema = v.pipe(
  v.string("must be a path in the workspace"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = workspacePathProblem(dataset.value);
    if (problem) addIssue({ message: problem });
  }),
);

/** Node labels a container task's node must carry: they become scheduling constraints, so only a safe charset passes. */
const runsOnSchema = v.strictObject({
  labels: v.pipe(
    v.record(v.pipe(v.string(), v.regex(NODE_LABEL_KEY_PATTERN, NODE_LABEL_KEY_MESSAGE)), v.pipe(v.string("must be a string"), v.regex(NODE_LABEL_VALUE_PATTERN, NODE_LABEL_VALUE_MESSAGE))),
    v.check((labels) => Object.keys(labels).length > 0, "must name at least one node label, e.g. { gpu: \"true\" }"),
  ),
});

const commonTaskEntries = {
  needs: v.optional(needsSchema),
  env: v.optional(v.record(envNameSchema, envValueSchema)),
  timeout: v.optional(durationSchema),
  retries: v.optional(v.pipe(v.number(), v.integer("must be a whole number"), v.minValue(0), v.maxValue(20))),
  retryDelay: v.optional(retryDelaySchema),
  workdir: v.optional(v.pipe(v.string(), v.minLength(1))),
  injectApiToken: v.optional(v.boolean()),
  artifacts: v.optional(
    v.strictObject({
      out: v.optional(v.record(artifactNameSchema, workspacePathSchema)),
      in: v.optional(
        v.record(
          artifactNameSchema,
          v.union(
            [
              idSchema,
              v.strictObject({
                run: v.union([v.literal("latest-successful"), v.pipe(v.number(), v.integer(), v.minValue(1))], 'must be "latest-successful" or a run number'),
                name: v.optional(artifactNameSchema),
              }),
            ],
            'must be the id of the task that stores it, or { run: "latest-successful" | <number>, name? }',
          ),
        ),
      ),
    }),
  ),
  cache: v.optional(
    v.strictObject({
      key: v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), v.maxLength(512, "must be at most 512 characters")),
      paths: v.pipe(v.array(workspacePathSchema), v.minLength(1, "must name at least one path")),
      restoreKeys: v.optional(v.array(v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(512)))),
    }),
  ),
  sarif: v.optional(
    v.strictObject({
      path: workspacePathSchema,
      failOn: v.optional(v.picklist(["error", "warning", "note", "none"], 'must be "error", "warning", "note" or "none"')),
      tool: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(100))),
    }),
  ),
};

const runTaskSchema = v.strictObject({
  kind: v.literal("run"),
  fn: v.function("must be a function"),
  network: v.optional(v.literal("none", 'must be "none" (a run() task has the network unless it says "none")')),
  // Named only to say why not instead of "unknown key".
  runsOn: v.optional(v.custom<never>(() => false, "run() tasks are not placed by node labels (they run in the server's sandbox, or with the swarm executor on their run's node); runsOn places container() tasks")),
  ...commonTaskEntries,
});

const imageReferenceSchema = v.pipe(
  v.string("must be an image reference"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = imageReferenceProblem(dataset.value);
    if (problem) addIssue({ message: problem });
  }),
);

/** What dockerBuild() adds to a container task: the executor builds instead of running a container. */
const imageBuildSchema = v.strictObject({
  context: workspacePathSchema,
  dockerfile: v.optional(workspacePathSchema),
  tags: v.pipe(v.array(imageReferenceSchema), v.minLength(1, "must name at least one tag"), v.maxLength(20, "may name at most 20 tags")),
  buildArgs: v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a build argument name")), v.string("must be a string"))),
  target: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "must be a stage name"))),
  cacheFrom: v.optional(v.array(imageReferenceSchema)),
  labels: v.optional(v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(256)), v.string("must be a string"))),
  noCache: v.optional(v.boolean("must be true or false")),
});

/** What dockerPush() adds to a container task: the executor pushes instead of running a container. */
const imagePushSchema = v.pipe(
  v.strictObject({
    image: imageReferenceSchema,
    registry: v.optional(
      v.pipe(
        v.string("must be a registry address"),
        v.rawCheck(({ dataset, addIssue }) => {
          if (!dataset.typed) return;
          const problem = registryProblem(dataset.value);
          if (problem) addIssue({ message: problem });
        }),
      ),
    ),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = pushProblem(dataset.value);
    if (problem) addIssue({ message: problem });
  }),
);

const wholeMs = (least: number) =>
  v.pipe(v.number("must be milliseconds"), v.integer("must be whole milliseconds"), v.minValue(least, least === 0 ? "must not be negative" : `must be at least ${least}ms`));

/** canary()'s analysis: an HTTP probe of each canary task (see HttpAnalysis). */
const canaryAnalysisSchema = v.strictObject(
  {
    http: v.strictObject(
      {
        port: v.pipe(v.number("must be a port number"), v.integer("must be a whole number"), v.minValue(1, "must be a port number (1-65535)"), v.maxValue(65_535, "must be a port number (1-65535)")),
        path: v.pipe(v.string("must be a path"), v.regex(HTTP_PATH_PATTERN, "must start with / and have no spaces or quotes")),
        requests: v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1, "must be 1 to 1000"), v.maxValue(1000, "must be 1 to 1000")),
        // Bounded: the probe's exec stream stays quiet for a request's time plus the gap, and the
        // swarm client counts a longer silence as an engine that hangs.
        intervalMs: v.pipe(wholeMs(0), v.maxValue(MAX_PROBE_WAIT_MS, "must be at most 1 minute")),
        timeoutMs: v.pipe(wholeMs(1), v.maxValue(MAX_PROBE_WAIT_MS, "must be at most 1 minute")),
        minSuccessPercent: v.pipe(v.number("must be a percentage"), v.minValue(0, "must be 0 to 100"), v.maxValue(100, "must be 0 to 100")),
        latencyPercentile: v.pipe(v.number("must be a percentile"), v.minValue(1, "must be 1 to 100"), v.maxValue(100, "must be 1 to 100")),
        maxLatencyMs: wholeMs(1),
      },
      "must say what to request, as canary({ analysis: { http: { port, path } } }) does",
    ),
  },
  "must be an object, as canary({ analysis: { http: {...} } }) makes",
);

/** What deploy() adds to a container task: the executor rolls a service of an environment to the image instead. */
const publishedPortSchema = v.strictObject(
  {
    published: v.pipe(v.number("must be a port number"), v.check(isPort, "must be a port number (1-65535)")),
    target: v.pipe(v.number("must be a port number"), v.check(isPort, "must be a port number (1-65535)")),
    protocol: v.picklist(["tcp", "udp"], 'must be "tcp" or "udp"'),
    mode: v.picklist(["ingress", "host"], 'must be "ingress" or "host"'),
  },
  "must be a port as deploy({ ports }) makes it",
);

const deploySchema = v.pipe(
  v.strictObject({
    environment: idSchema,
    service: v.pipe(v.string("must be a service name"), v.regex(SERVICE_PATTERN, "must be a service name: a-z, 0-9 and - (1-63, not starting or ending with -)")),
    image: imageReferenceSchema,
    replicas: v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(0), v.maxValue(1000)),
    strategy: v.variant(
      "kind",
      [
        v.strictObject({
          kind: v.literal("rolling"),
          parallelism: v.pipe(v.number(), v.integer("must be a whole number"), v.minValue(1), v.maxValue(1000)),
          delayMs: v.pipe(v.number(), v.integer(), v.minValue(0)),
          order: v.picklist(["start-first", "stop-first"], 'must be "start-first" or "stop-first"'),
          monitorMs: v.pipe(v.number(), v.integer(), v.minValue(0)),
        }),
        v.strictObject({
          kind: v.literal("blue-green"),
          keepPreviousMs: v.pipe(v.number("must be milliseconds"), v.integer("must be whole milliseconds"), v.minValue(0, "must not be negative")),
          monitorMs: v.pipe(v.number("must be milliseconds"), v.integer("must be whole milliseconds"), v.minValue(0, "must not be negative")),
        }),
        v.strictObject({
          kind: v.literal("canary"),
          steps: v.pipe(
            v.array(
              v.pipe(
                v.strictObject({
                  replicas: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"), v.maxValue(1000, "must be at most 1000"))),
                  percent: v.optional(v.pipe(v.number("must be a number"), v.minValue(1, "must be 1 to 100"), v.maxValue(100, "must be 1 to 100"))),
                  pauseMs: v.pipe(v.number("must be milliseconds"), v.integer("must be whole milliseconds"), v.minValue(0, "must not be negative")),
                }),
                v.check((step) => (step.replicas === undefined) !== (step.percent === undefined), "a canary step takes exactly one of replicas and percent"),
              ),
              "must be a list of steps",
            ),
            v.minLength(1, "a canary needs at least one step"),
            v.maxLength(10, "a canary takes at most 10 steps"),
          ),
          analysis: v.optional(canaryAnalysisSchema),
        }),
      ],
      "must be made with rolling(...), blueGreen(...) or canary(...)",
    ),
    healthCheck: v.optional(
      v.strictObject({
        command: v.pipe(v.array(v.string()), v.minLength(1, "must name a command")),
        intervalMs: v.pipe(v.number(), v.integer(), v.minValue(1)),
        timeoutMs: v.pipe(v.number(), v.integer(), v.minValue(1)),
        retries: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)),
        startPeriodMs: v.pipe(v.number(), v.integer(), v.minValue(0)),
      }),
    ),
    env: v.record(envNameSchema, v.string("must be a string")),
    ports: v.optional(v.array(publishedPortSchema, "must be a list of ports")),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    const problem = dataset.typed ? portsProblem(dataset.value.ports ?? [], dataset.value.strategy) : undefined;
    if (problem) addIssue({ message: `ports: ${problem}` });
  }),
);

const containerTaskSchema = v.strictObject({
  kind: v.literal("container"),
  image: v.pipe(v.string(), v.minLength(1, "must name an image")),
  command: v.optional(v.array(v.string())),
  entrypoint: v.optional(v.array(v.string())),
  pull: v.optional(v.picklist(["never", "if-missing", "always"], 'must be "never", "if-missing" or "always"')),
  memory: v.optional(
    v.pipe(
      v.union([v.number(), v.string()]),
      v.check((value) => parseMemory(value) !== undefined, 'must be bytes or a string like "256m"'),
      v.transform((value) => parseMemory(value)!),
    ),
  ),
  cpus: v.optional(v.pipe(v.number(), v.minValue(0.01), v.maxValue(1024))),
  pids: v.optional(v.pipe(v.number(), v.integer("must be a whole number"), v.minValue(1))),
  user: v.optional(v.pipe(v.string(), v.regex(/^[\w.-]+(:[\w.-]+)?$/, 'must be "user", "uid" or "uid:gid"'))),
  network: v.optional(v.pipe(v.string(), v.regex(/^[\w.-]+$/, "must be a network name"))),
  capabilities: v.optional(v.array(v.pipe(v.string(), v.regex(/^(CAP_)?[A-Z_]+$/, "must be a capability name like CHOWN")))),
  mounts: v.optional(
    v.array(
      v.strictObject({
        source: v.pipe(v.string(), v.startsWith("/", "must be an absolute host path")),
        target: v.pipe(v.string(), v.startsWith("/", "must be an absolute path in the container")),
        readonly: v.optional(v.boolean()),
      }),
    ),
  ),
  keepContainer: v.optional(v.boolean()),
  pullSecret: v.optional(secretRefSchema),
  build: v.optional(imageBuildSchema),
  push: v.optional(imagePushSchema),
  deploy: v.optional(deploySchema),
  runsOn: v.optional(runsOnSchema),
  // Named only to say no clearly instead of "unknown key".
  privileged: v.optional(v.literal(false, "privileged containers are never allowed")),
  ...commonTaskEntries,
});

/** How long a gate waits by default, and at most. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 24 * 60 * 60 * 1000;
const MAX_APPROVAL_TIMEOUT_MS = 90 * 24 * 60 * 60 * 1000;

const approvalTaskSchema = v.strictObject({
  kind: v.literal("approval"),
  needs: v.optional(needsSchema),
  approvers: v.optional(
    v.pipe(
      v.array(v.pipe(v.string("must be a role name"), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be a role name (1-64 of A-Z a-z 0-9 _ . -)"))),
      v.minLength(1, "must name at least one role (leave it out for anyone with runs:approve)"),
    ),
  ),
  timeout: v.optional(v.pipe(durationSchema, v.minValue(1, "must be more than 0"), v.maxValue(MAX_APPROVAL_TIMEOUT_MS, "must be at most 90d"))),
  onTimeout: v.optional(v.picklist(["reject", "approve"], 'must be "reject" or "approve"')),
  autoApprove: v.optional(v.function("must be a function returning true or false")),
  message: v.optional(v.pipe(v.string("must be a string"), v.maxLength(2000, "must be at most 2000 characters"))),
  allowSelfApproval: v.optional(v.boolean("must be true or false")),
  env: v.optional(v.record(envNameSchema, envValueSchema)),
});

const taskSchema = v.variant(
  "kind",
  [runTaskSchema, containerTaskSchema, approvalTaskSchema],
  "must be made with run(...), container(...) or approval(...)",
);

const notificationSchema = v.strictObject({
  kind: v.literal("notify", "must be made with notify(...)"),
  url: secretRefSchema,
  secret: v.optional(secretRefSchema),
  on: v.pipe(v.array(v.picklist(NOTIFY_EVENTS, `must be one of ${NOTIFY_EVENTS.join(", ")}`)), v.minLength(1, "must name at least one event")),
});

const triggerSchema = v.variant(
  "kind",
  [
    v.strictObject({ kind: v.literal("cron"), expression: v.pipe(v.string(), v.minLength(1)), timezone: v.optional(v.string()) }),
    v.strictObject({ kind: v.literal("interval"), every: durationSchema }),
    v.strictObject({
      kind: v.literal("webhook"),
      secret: secretRefSchema,
      // What a delivery maps becomes run variables: their count and name limits hold at load already.
      variables: v.optional(
        v.pipe(
          v.record(v.pipe(envNameSchema, v.maxLength(RUN_VARIABLE_LIMITS.nameLength, `must be at most ${RUN_VARIABLE_LIMITS.nameLength} characters`)), v.string()),
          v.maxEntries(RUN_VARIABLE_LIMITS.count, `may map at most ${RUN_VARIABLE_LIMITS.count} variables (the limit of run variables)`),
        ),
      ),
    }),
    v.strictObject({
      kind: v.literal("github"),
      repo: v.pipe(v.string(), v.regex(/^[\w.-]+\/[\w.-]+$/, 'must be "owner/name"')),
      events: v.pipe(v.array(v.string()), v.minLength(1, "must name at least one event")),
      branches: v.optional(v.array(v.string())),
    }),
  ],
  "must be made with cron(), interval(), webhook() or github()",
);

const concurrencySchema = v.strictObject({
  limit: v.optional(v.pipe(v.number(), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"), v.maxValue(10_000))),
  group: v.optional(v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), v.maxLength(200))),
  queue: v.optional(v.picklist(["all", "latest"], 'must be "all" or "latest"')),
  cancelInProgress: v.optional(v.boolean()),
});

export const pipelineDefinitionSchema = v.strictObject({
  id: idSchema,
  name: v.optional(v.pipe(v.string(), v.maxLength(200))),
  description: v.optional(v.pipe(v.string(), v.maxLength(2000))),
  parallelism: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000))),
  public: v.optional(v.boolean("must be true or false")),
  variables: v.optional(v.record(envNameSchema, v.string("must be a string"))),
  concurrency: v.optional(concurrencySchema),
  triggers: v.optional(v.array(triggerSchema)),
  // Live schemas (or their described form from the sandbox): inputSpecs checks each.
  inputs: v.optional(
    v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be an object of schemas, e.g. { env: v.picklist([...]) }"),
  ),
  notifications: v.optional(v.array(notificationSchema)),
  /** Node labels for every container task of the pipeline (a task's own win per key). */
  runsOn: v.optional(runsOnSchema),
  tasks: v.pipe(
    v.record(idSchema, taskSchema),
    v.check((tasks) => Object.keys(tasks).length > 0, "must define at least one task"),
  ),
});

type ParsedDefinition = v.InferOutput<typeof pipelineDefinitionSchema>;
type ParsedTask = ParsedDefinition["tasks"][string];

export type SecretReference = { secret: string };
export type TriggerSpec = NonNullable<ParsedDefinition["triggers"]>[number];

/** A task as stored with a version: data only, the function stays in the bundle. */
export interface TaskSpec {
  id: string;
  kind: "run" | "container" | "approval";
  needs: Record<string, "success" | "failure" | "any">;
  env: Record<string, string | SecretReference>;
  timeoutMs?: number;
  retries: number;
  /** The wait before each retry; absent: DEFAULT_RETRY_DELAY (versions stored before it existed too). */
  retryDelay?: RetryDelay;
  workdir?: string;
  injectApiToken: boolean;
  /** A run() task's sandbox network: absent means the host's network. */
  runNetwork?: "none";
  /** An approval gate's rules. */
  approval?: ApprovalSpec;
  /** Artifacts it stores (after success) and takes in (before it starts); absent when none. */
  artifacts?: ArtifactsSpec;
  cache?: CacheSpec;
  /** The SARIF report it writes, read into findings. */
  sarif?: SarifSpec;
  container?: {
    image: string;
    command?: string[];
    entrypoint?: string[];
    pull: "never" | "if-missing" | "always";
    memoryBytes?: number;
    cpus?: number;
    pidsLimit?: number;
    user?: string;
    network?: string;
    /** Capabilities kept (all others dropped), without the CAP_ prefix. */
    capabilities: string[];
    mounts: { source: string; target: string; readonly: boolean }[];
    keepContainer: boolean;
    /** Registry credentials: for pulling the image, or for a push the registry's. */
    pullSecret?: string;
    /** An image build (dockerBuild) instead of a container. */
    build?: ImageBuildSpec;
    /** A deploy (deploy()) of a service of an environment instead of a container. */
    deploy?: DeploySpec;
    /** An image push (dockerPush) instead of a container. */
    push?: ImagePushSpec;
    /** Node labels its node must carry (its own over its pipeline's); only the swarm executor places tasks. */
    runsOn?: RunsOn;
  };
}

/** An approval gate as stored: who may decide, how long it waits, what a timeout decides. */
export interface ApprovalSpec {
  /** Roles that may decide (one is enough); empty: anyone with runs:approve on the pipeline. */
  approvers: string[];
  timeoutMs: number;
  onTimeout: "reject" | "approve";
  /** The file has an autoApprove function (run in the sandbox like a run() task). */
  autoApprove: boolean;
  message?: string;
  allowSelfApproval: boolean;
}

/** The serialisable form of a pipeline version. */
export interface PipelineSpec {
  id: string;
  name: string;
  description: string;
  parallelism: number;
  /** Its state may be shown to anyone: a badge at /badges/<ns>/<id>.svg. Absent when not. */
  public?: true;
  variables: Record<string, string>;
  /** Absent when the pipeline sets no concurrency (its runs start at once). */
  concurrency?: ConcurrencySpec;
  triggers: TriggerSpec[];
  /** Typed run inputs, in the file's order; absent when it declares none. */
  inputs?: InputSpec[];
  /** Notifications (the notify extension's subscriptions); absent when none. */
  notifications?: NotificationSpec[];
  tasks: TaskSpec[];
}

/** One problem in a pipeline file: where in the object, and what is wrong. */
export interface SpecIssue {
  path: string;
  message: string;
}

export type SpecResult = { ok: true; spec: PipelineSpec } | { ok: false; issues: SpecIssue[] };

export const DEFAULT_PARALLELISM = 4;

/** Validates a pipeline file's default export and checks its DAG. */
export function toPipelineSpec(definition: unknown): SpecResult {
  if (definition === undefined) {
    return { ok: false, issues: [{ path: "", message: "the file has no default export; export default definePipeline({...})" }] };
  }
  const parsed = v.safeParse(pipelineDefinitionSchema, definition);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.issues.map((issue) => ({
        path: v.getDotPath(issue) ?? "",
        message: issueMessage(issue),
      })),
    };
  }
  const def = parsed.output;
  // A schedule that cannot fire is a load error, or the pipeline would show "ok" and never run.
  const scheduleIssues = triggerProblems(def.triggers ?? [], (definition as { triggers?: unknown }).triggers);
  if (scheduleIssues.length > 0) return { ok: false, issues: scheduleIssues };
  const inputs = def.inputs ? inputSpecs(def.inputs) : undefined;
  if (inputs && !inputs.ok) return { ok: false, issues: inputs.issues };
  // What a delivery maps becomes run variables (or, named like an input, that input): a run may not set all names.
  const inputNames = new Set(inputs?.ok ? inputs.inputs.map((input) => input.name) : []);
  const deniedMappings = (def.triggers ?? []).flatMap((trigger, index) =>
    trigger.kind !== "webhook"
      ? []
      : Object.keys(trigger.variables ?? {})
          .filter((name) => !inputNames.has(name) && runVariableNameProblem(name) !== undefined)
          .map((name) => ({ path: `triggers.${index}.variables.${name}`, message: "would change how the tasks' programs run: a delivery may not set it (a pipeline may, in its own variables)" })),
  );
  if (deniedMappings.length > 0) return { ok: false, issues: deniedMappings };
  const runsOnIssues = Object.entries(def.tasks).flatMap(([id, task]) =>
    task.kind === "container" && task.runsOn && (task.build || task.push || task.deploy)
      ? [{ path: `tasks.${id}.runsOn`, message: "dockerBuild, dockerPush and deploy tasks run on the server's Docker engine; runsOn places container() tasks only" }]
      : [],
  );
  if (runsOnIssues.length > 0) return { ok: false, issues: runsOnIssues };
  const tasks = Object.entries(def.tasks).map(([id, task]) => toTaskSpec(id, task, def.runsOn));
  const dagIssues = findDagProblems(tasks);
  if (dagIssues.length > 0) return { ok: false, issues: dagIssues };
  const artifactIssues = artifactProblems(tasks);
  if (artifactIssues.length > 0) return { ok: false, issues: artifactIssues };
  const concurrency = def.concurrency && toConcurrencySpec(def.concurrency);
  if (def.concurrency?.group !== undefined) {
    const problems = groupTemplateProblems(def.concurrency.group, Object.keys(def.variables ?? {}));
    if (problems.length > 0) return { ok: false, issues: problems.map((message) => ({ path: "concurrency.group", message })) };
  }
  return {
    ok: true,
    spec: {
      id: def.id,
      name: def.name ?? def.id,
      description: def.description ?? "",
      parallelism: def.parallelism ?? DEFAULT_PARALLELISM,
      ...(def.public === true && { public: true as const }),
      variables: def.variables ?? {},
      ...(concurrency && { concurrency }),
      triggers: def.triggers ?? [],
      ...(inputs && inputs.inputs.length > 0 && { inputs: inputs.inputs }),
      ...(def.notifications &&
        def.notifications.length > 0 && {
          notifications: def.notifications.map((notification) => ({
            url: notification.url.name,
            ...(notification.secret && { secret: notification.secret.name }),
            on: [...new Set(notification.on)],
          })),
        }),
      tasks,
    },
  };
}

/**
 * Artifact names are the run's: each stored by one task. A task takes one in from a task of
 * the run only if that task stores it and is upstream (it has ended before this one starts).
 */
function artifactProblems(tasks: TaskSpec[]): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const storedBy = new Map<string, string>();
  for (const task of tasks) {
    for (const { name } of task.artifacts?.out ?? []) {
      const other = storedBy.get(name);
      if (other !== undefined) issues.push({ path: `tasks.${task.id}.artifacts.out.${name}`, message: `artifact "${name}" is stored by task ${other} already; names are the run's` });
      else storedBy.set(name, task.id);
    }
  }
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const upstreamOf = (id: string, seen = new Set<string>()): Set<string> => {
    for (const need of Object.keys(byId.get(id)?.needs ?? {})) {
      if (seen.has(need)) continue;
      seen.add(need);
      upstreamOf(need, seen);
    }
    return seen;
  };
  for (const task of tasks) {
    for (const { name, from } of task.artifacts?.in ?? []) {
      if (!("task" in from)) continue;
      const path = `tasks.${task.id}.artifacts.in.${name}`;
      const producer = byId.get(from.task);
      if (!producer) issues.push({ path, message: `no task "${from.task}" in this pipeline` });
      else if (!producer.artifacts?.out.some((artifact) => artifact.name === name)) issues.push({ path, message: `task ${from.task} stores no artifact "${name}"` });
      else if (!upstreamOf(task.id).has(from.task)) issues.push({ path, message: `task ${from.task} must be upstream (in needs, directly or not) to hand "${name}" on` });
    }
  }
  return issues;
}

function toConcurrencySpec(concurrency: NonNullable<ParsedDefinition["concurrency"]>): ConcurrencySpec | undefined {
  const spec: ConcurrencySpec = { queue: concurrency.queue ?? "all", cancelInProgress: concurrency.cancelInProgress ?? false };
  if (concurrency.limit !== undefined) spec.limit = concurrency.limit;
  if (concurrency.group !== undefined) spec.group = concurrency.group;
  // `concurrency: {}` asks for nothing: its runs need no queue.
  return spec.limit === undefined && spec.group === undefined && spec.queue === "all" && !spec.cancelInProgress ? undefined : spec;
}

/** Every key a pipeline file may use, for "did you mean" hints on typos. */
const KNOWN_KEYS = [
  ...Object.keys(pipelineDefinitionSchema.entries),
  ...Object.keys(concurrencySchema.entries),
  ...Object.keys(runTaskSchema.entries),
  ...Object.keys(containerTaskSchema.entries),
  ...Object.keys(approvalTaskSchema.entries),
];

/** valibot's strict-object wording ("Invalid key: Expected never...") says little to authors. */
function issueMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.type !== "strict_object") return issue.message;
  if (issue.input === undefined) return "is required";
  // Not an object at all (a number where one belongs): the schema's own message says what is.
  if (issue.expected !== "never") return issue.message;
  const key = String(issue.input);
  // Short keys get less slack, or "x" would suggest "id".
  const slack = Math.min(2, Math.max(1, Math.floor(key.length / 3)));
  const near = KNOWN_KEYS.find((known) => known !== key && editDistance(known, key) <= slack);
  return `unknown key "${key}"${near ? `; did you mean "${near}"?` : ""}`;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

function toTaskSpec(id: string, task: ParsedTask, pipelineRunsOn: RunsOn | undefined): TaskSpec {
  const env: TaskSpec["env"] = {};
  for (const [name, value] of Object.entries(task.env ?? {})) {
    env[name] = typeof value === "string" ? value : { secret: value.name };
  }
  if (task.kind === "approval") {
    return {
      id,
      kind: "approval",
      needs: task.needs ?? {},
      env,
      retries: 0,
      injectApiToken: false,
      approval: {
        approvers: task.approvers ?? [],
        timeoutMs: task.timeout ?? DEFAULT_APPROVAL_TIMEOUT_MS,
        onTimeout: task.onTimeout ?? "reject",
        autoApprove: task.autoApprove !== undefined,
        ...(task.message !== undefined && { message: task.message }),
        allowSelfApproval: task.allowSelfApproval ?? false,
      },
    };
  }
  const spec: TaskSpec = {
    id,
    kind: task.kind,
    needs: task.needs ?? {},
    env,
    retries: task.retries ?? 0,
    injectApiToken: task.injectApiToken ?? false,
  };
  if (task.timeout !== undefined) spec.timeoutMs = task.timeout;
  if (task.artifacts && (Object.keys(task.artifacts.out ?? {}).length > 0 || Object.keys(task.artifacts.in ?? {}).length > 0)) {
    spec.artifacts = {
      out: Object.entries(task.artifacts.out ?? {}).map(([name, path]) => ({ name, path: path.replace(/\/+$/, "") })),
      in: Object.entries(task.artifacts.in ?? {}).map(([name, from]) => ({ name, from: typeof from === "string" ? { task: from } : { run: from.run, name: from.name ?? name } })),
    };
  }
  if (task.cache) spec.cache = { key: task.cache.key, paths: task.cache.paths, restoreKeys: task.cache.restoreKeys ?? [] };
  if (task.sarif) spec.sarif = { path: task.sarif.path, failOn: task.sarif.failOn ?? "error", ...(task.sarif.tool !== undefined && { tool: task.sarif.tool }) };
  if (task.retryDelay !== undefined) spec.retryDelay = task.retryDelay;
  if (task.workdir !== undefined) spec.workdir = task.workdir;
  if (task.kind === "run" && task.network !== undefined) spec.runNetwork = task.network;
  if (task.kind === "container") {
    spec.container = {
      image: task.image,
      pull: task.pull ?? "if-missing",
      ...(task.command && { command: task.command }),
      ...(task.entrypoint && { entrypoint: task.entrypoint }),
      ...(task.memory !== undefined && { memoryBytes: task.memory }),
      ...(task.cpus !== undefined && { cpus: task.cpus }),
      ...(task.pids !== undefined && { pidsLimit: task.pids }),
      ...(task.user !== undefined && { user: task.user }),
      ...(task.network !== undefined && { network: task.network }),
      capabilities: (task.capabilities ?? []).map((name) => name.replace(/^CAP_/, "")),
      mounts: (task.mounts ?? []).map((mount) => ({ ...mount, readonly: mount.readonly ?? false })),
      keepContainer: task.keepContainer ?? false,
      ...(task.pullSecret && { pullSecret: task.pullSecret.name }),
      ...(task.build && { build: toImageBuildSpec(task.build) }),
      ...(task.push && { push: { image: task.push.image, ...(task.push.registry !== undefined && { registry: task.push.registry }) } }),
      ...(task.deploy && { deploy: task.deploy as DeploySpec }),
    };
    // The pipeline's labels reach the tasks a cluster places: not builds, pushes and deploys (the server's engine does those).
    const runsOn = task.build || task.push || task.deploy ? undefined : mergeRunsOn(pipelineRunsOn, task.runsOn);
    if (runsOn) spec.container.runsOn = runsOn;
  }
  return spec;
}

function toImageBuildSpec(build: NonNullable<Extract<ParsedTask, { kind: "container" }>["build"]>): ImageBuildSpec {
  return {
    context: build.context.replace(/\/+$/, "") || ".",
    ...(build.dockerfile !== undefined && { dockerfile: build.dockerfile }),
    tags: build.tags,
    ...(build.buildArgs && { buildArgs: build.buildArgs }),
    ...(build.target !== undefined && { target: build.target }),
    ...(build.cacheFrom && build.cacheFrom.length > 0 && { cacheFrom: build.cacheFrom }),
    ...(build.labels && { labels: build.labels }),
    ...(build.noCache && { noCache: true }),
  };
}
