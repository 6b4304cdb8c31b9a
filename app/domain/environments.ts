// An environment: a named deployment target (a Docker Swarm today) with the global secrets its
// deploys receive. Pure rules here: what an environment's name and settings may say.
import * as v from "valibot";
import { ENV_NAME_PATTERN, ID_PATTERN, RESERVED_ENV_PREFIX } from "./ids.ts";
import { SECRET_NAME_PATTERN } from "./secrets.ts";
import { parseDuration } from "./duration.ts";
import { configSchemaOf, PROVIDERS, type ProviderConfig, type ProviderId } from "./provider-configs.ts";

// Forms and messages name the providers with the environment.
export { PROVIDERS, type ProviderId };

/** What a person says about an environment. */
export interface EnvironmentSettings {
  provider: ProviderId;
  config: ProviderConfig;
  /**
   * Global secrets given to its deploys, each as an environment variable of the same name; so a
   * name must also be a variable name (no "." or "-", not GANTRY_*).
   */
  secrets: string[];
  description?: string;
  /** What a deploy must pass before it changes anything here (and before it gets the secrets). */
  protection: Protection;
}

/**
 * An environment's protection rules; each absent rule lets everything through.
 * - `pipelines`: "ns/id" patterns (`*` any characters) of the pipelines that may deploy here;
 * - `branches`: patterns of the branches whose runs may deploy (the run's GANTRY_GITHUB_REF, or
 *   its BRANCH variable); a run with no branch is refused;
 * - `approval`: the deploy task must need an approval gate (directly or through other tasks)
 *   that was approved in its run;
 * - `waitMs`: a wait before the deploy starts, shown in its log (cancel stops it).
 */
export interface Protection {
  pipelines?: string[];
  branches?: string[];
  approval?: boolean;
  waitMs?: number;
}

/** The longest wait timer: a day. */
export const MAX_WAIT_MS = 86_400_000;

export const MAX_ENVIRONMENT_SECRETS = 100;
export const MAX_DESCRIPTION_LENGTH = 500;

export const ENVIRONMENT_NAME_RULE = "1-64 characters of a-z, 0-9 and -";

/** An environment's name: it names its API path and labels the services deployed there. */
export const environmentNameSchema = v.pipe(v.string("an environment name must be a string"), v.regex(ID_PATTERN, `an environment name must be ${ENVIRONMENT_NAME_RULE}`));

/** The namespace an environment belongs to: a namespace's name (as pipelines' folders are named). */
export const environmentNamespaceSchema = v.pipe(v.string("namespace must be a namespace's name"), v.regex(ID_PATTERN, `namespace must be ${ENVIRONMENT_NAME_RULE}`));

/**
 * Which environment: a `name` every namespace shares (namespace null), or a namespace's own.
 * A namespace's own is found first by its pipelines' deploys, so a team can have its own
 * "staging" beside the shared one.
 */
export interface EnvironmentRef {
  namespace: string | null;
  name: string;
}

/** The key of an environment: its name when shared, "<namespace>/<name>" when a namespace's own. */
export function environmentKey(ref: EnvironmentRef): string {
  return ref.namespace === null ? ref.name : `${ref.namespace}/${ref.name}`;
}

/** The environment a key names. */
export function environmentRefOf(key: string): EnvironmentRef {
  const slash = key.indexOf("/");
  return slash < 0 ? { namespace: null, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Where a deploy of a pipeline of `namespace` to `name` looks, in order: the namespace's own, then the shared one. */
export function deployCandidates(namespace: string, name: string): string[] {
  return [environmentKey({ namespace, name }), name];
}

/** The last word on whether an environment's target answers: a connection test's, or a deploy's. */
export const ENVIRONMENT_STATUSES = ["ok", "failing"] as const;
export type EnvironmentStatus = (typeof ENVIRONMENT_STATUSES)[number];

/** Why a secret's name cannot be given to deploys, or undefined when it can. */
export function environmentSecretProblem(name: string): string | undefined {
  if (!SECRET_NAME_PATTERN.test(name) || !ENV_NAME_PATTERN.test(name)) {
    return `"${name}" cannot be given as an environment variable: a name of A-Z, a-z, 0-9 and _, not starting with a digit`;
  }
  if (name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)) return `"${name}": ${RESERVED_ENV_PREFIX}* names are reserved for the system`;
  return undefined;
}

const secretsSchema = v.pipe(
  v.array(v.string("secrets must be names of global secrets"), "secrets must be a list of global secrets' names"),
  v.maxLength(MAX_ENVIRONMENT_SECRETS, `secrets must name at most ${MAX_ENVIRONMENT_SECRETS} secrets`),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const name of dataset.value) {
      const problem = environmentSecretProblem(name);
      if (problem) addIssue({ message: `secrets: ${problem}` });
    }
    const repeated = dataset.value.filter((name, index) => dataset.value.indexOf(name) !== index);
    if (repeated.length) addIssue({ message: `secrets: "${repeated[0]}" is named twice` });
  }),
);

const descriptionSchema = v.pipe(
  v.string("description must be text"),
  v.maxLength(MAX_DESCRIPTION_LENGTH, `description must be at most ${MAX_DESCRIPTION_LENGTH} characters`),
  v.check((text) => !/\p{Cc}/u.test(text), "description must be one line, without control characters"),
);

/** "ns/id" patterns, branch patterns: a-z A-Z 0-9 and . _ - / *, at most 50 of 200 characters. */
const patternsSchema = (what: string, allowed: RegExp) =>
  v.pipe(
    v.array(v.pipe(v.string(`${what} must be patterns`), v.minLength(1, `${what}: a pattern must not be empty`), v.maxLength(200, `${what}: a pattern must be at most 200 characters`), v.regex(allowed, `${what}: a pattern may hold only ${allowed === PIPELINE_PATTERN_CHARS ? "a-z, 0-9, -, / and *" : "letters, digits, . _ - / and *"}`)), `${what} must be a list of patterns`),
    v.maxLength(50, `${what} must name at most 50 patterns`),
  );
const PIPELINE_PATTERN_CHARS = /^[a-z0-9*-]+\/[a-z0-9*-]+$/;
const BRANCH_PATTERN_CHARS = /^[A-Za-z0-9._\/*-]+$/;

const protectionSchema = v.strictObject(
  {
    pipelines: v.optional(patternsSchema("protection.pipelines", PIPELINE_PATTERN_CHARS)),
    branches: v.optional(patternsSchema("protection.branches", BRANCH_PATTERN_CHARS)),
    approval: v.optional(v.boolean("protection.approval must be true or false")),
    wait: v.optional(
      v.pipe(
        v.union([v.number(), v.string()], 'protection.wait must be a duration like "5m"'),
        v.transform((value) => parseDuration(value)),
        v.check((value) => value !== undefined && value <= MAX_WAIT_MS, 'protection.wait must be a duration like "5m", at most a day'),
        v.transform((value) => value!),
      ),
    ),
  },
  (issue) => `protection takes pipelines, branches, approval and wait${issue.expected === "never" ? `, not "${String(issue.received).replace(/^"|"$/g, "")}"` : ""}`,
);

/**
 * The settings' shape, for the API's document: the same pieces environmentSettingsSchema
 * checks one by one (with a message naming each problem), put together as one object.
 */
export const environmentSettingsShape = v.object({
  provider: v.picklist(PROVIDERS),
  config: v.optional(v.union(PROVIDERS.map((provider) => configSchemaOf(provider)))),
  secrets: v.optional(secretsSchema),
  description: v.optional(descriptionSchema),
  protection: v.optional(protectionSchema),
});

/** The fields an environment's settings take, for messages. */
const FIELDS = "provider, config, secrets, description and protection";

/** Settings as given over the API: every field checked with a message naming it, defaults filled in. */
export const environmentSettingsSchema = v.pipe(
  v.custom<Record<string, unknown>>((input) => typeof input === "object" && input !== null && !Array.isArray(input), `the settings must be an object of ${FIELDS}`),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const input = dataset.value;
    // Each field on its own, so one message names every problem (valibot stops a strict
    // object's pipe at the first failing key otherwise).
    const unknown = Object.keys(input).filter((key) => !["provider", "config", "secrets", "description", "protection"].includes(key));
    for (const key of unknown) addIssue({ message: `unknown field "${key}": an environment takes ${FIELDS}` });
    const provider = v.safeParse(v.picklist(PROVIDERS, `provider must be one of: ${PROVIDERS.join(", ")}`), input.provider);
    if (!provider.success) addIssue({ message: input.provider === undefined ? `provider is required (one of: ${PROVIDERS.join(", ")})` : provider.issues[0].message });
    // The provider's own schema; an unknown provider's config is left to that message.
    const config = v.safeParse(v.optional(provider.success ? configSchemaOf(provider.output) : v.unknown(), {}), input.config);
    if (!config.success) for (const issue of config.issues) addIssue({ message: issue.message });
    const secrets = v.safeParse(v.optional(secretsSchema, []), input.secrets);
    if (!secrets.success) for (const issue of secrets.issues) addIssue({ message: issue.message });
    const description = v.safeParse(v.optional(descriptionSchema), input.description);
    if (!description.success) for (const issue of description.issues) addIssue({ message: issue.message });
    const protection = v.safeParse(v.optional(protectionSchema, {}), input.protection);
    if (!protection.success) for (const issue of protection.issues) addIssue({ message: issue.message });
    if (unknown.length || !provider.success || !config.success || !secrets.success || !description.success || !protection.success) return NEVER;
    const rules = protection.output;
    const settings: EnvironmentSettings = {
      provider: provider.output,
      config: config.output as ProviderConfig,
      secrets: secrets.output,
      ...(description.output !== undefined && description.output !== "" && { description: description.output }),
      protection: {
        ...(rules.pipelines && rules.pipelines.length > 0 && { pipelines: rules.pipelines }),
        ...(rules.branches && rules.branches.length > 0 && { branches: rules.branches }),
        ...(rules.approval && { approval: true }),
        ...(rules.wait !== undefined && rules.wait > 0 && { waitMs: rules.wait }),
      },
    };
    return settings;
  }),
);

/** The settings of an environment, or every problem with them in one sentence. */
export function parseEnvironmentSettings(input: unknown): { ok: true; settings: EnvironmentSettings } | { ok: false; message: string } {
  const parsed = v.safeParse(environmentSettingsSchema, input);
  if (parsed.success) return { ok: true, settings: parsed.output };
  return { ok: false, message: parsed.issues.map((issue) => issue.message).join("; ") };
}

/** The states of a deployment: one in flight, then how it ended. */
export const DEPLOYMENT_STATES = ["running", "succeeded", "failed", "rolled_back"] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];
