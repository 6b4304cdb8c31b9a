// Creating, changing, removing and testing environments, and rolling a service back, for the
// API and the web alike: the secrets named must exist as global secrets, each change is an
// event (names, never values), and each test records the environment's status.
import type { Db } from "../../db/client.ts";
import { deleteEnvironment, insertEnvironment, requireEnvironment, setEnvironmentStatus, upsertEnvironment, type EnvironmentRow } from "../../db/repos/environments.ts";
import { recordEvent } from "../record-event.ts";
import type { DeploymentRow } from "../../db/repos/deployments.ts";
import { ConflictError, messageOf, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { environmentKey, type EnvironmentRef, type EnvironmentSettings } from "../../domain/environments.ts";
import { PROVIDER_CONFIGS } from "../../domain/provider-configs.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { SecretStore } from "../../stores/secrets.ts";
import type { EventBus } from "../event-bus.ts";
import type { DeployProvider, DeployResult } from "./provider.ts";
import { providerFor } from "./providers.ts";
import { rollbackService } from "./rollback-service.ts";

export interface EnvironmentAdminOptions {
  db: Db;
  bus: EventBus;
  secrets: SecretStore;
  now: () => Date;
  /** The server's own Docker engine (GANTRY_DOCKER_HOST): a swarm environment naming none uses it, and images are pushed from it. */
  defaultDockerHost?: string;
  /** Builds the provider of an environment; tests may give their own. */
  providerFor?: (environment: EnvironmentRow) => DeployProvider;
}

export type TestOutcome = { ok: true; detail: string } | { ok: false; problem: string };

/** How long a connection test may take before it counts as the target not answering. */
export const TEST_TIMEOUT_MS = 10_000;

export interface EnvironmentAdmin {
  /** Creates it; ConflictError when the name is taken (in its namespace, or among the shared ones). */
  create(ref: EnvironmentRef, settings: EnvironmentSettings, by: string): Promise<EnvironmentRow>;
  /** Creates or replaces it. */
  save(ref: EnvironmentRef, settings: EnvironmentSettings, by: string): Promise<{ environment: EnvironmentRow; created: boolean }>;
  /** Removes it and its deployment history; the services deployed keep running on the target. */
  remove(key: string, by: string): Promise<void>;
  /** The provider's own check of the target (reachable, able to take deployments), recorded as the environment's status. */
  test(key: string): Promise<TestOutcome>;
  /** The environment's provider, a client of its target. */
  providerOf(environment: EnvironmentRow): DeployProvider;
  /** Records what a deploy found of the target: it answered (ok) or could not be reached. */
  recordStatus(key: string, outcome: TestOutcome): Promise<void>;
  /** Rolls a service back to its previous successful image (NotFoundError when there is none). */
  rollback(key: string, service: string, by: string, log?: (line: string) => void): Promise<{ deployment: DeploymentRow; result: DeployResult }>;
}

export function createEnvironmentAdmin(options: EnvironmentAdminOptions): EnvironmentAdmin {
  const { db, bus, secrets, now } = options;
  const providerOf =
    options.providerFor ?? ((environment: EnvironmentRow) => providerFor(environment, { ...(options.defaultDockerHost !== undefined && { defaultDockerHost: options.defaultDockerHost }) }));

  const record = async (kind: EventKind, key: string, by: string) => {
    await recordEvent({ db, bus }, { kind, data: { environment: key, by }, at: now() });
  };

  /** Every secret named must be a global secret now: a deploy would fail on a missing one later, far from here. */
  const checkSecrets = async (settings: EnvironmentSettings) => {
    const missing = async (names: readonly string[]) => {
      const absent: string[] = [];
      for (const name of names) if (!(await secrets.get({ kind: "global" }, name))) absent.push(name);
      return absent;
    };
    const problems: string[] = [];
    const absent = await missing(settings.secrets);
    if (absent.length) {
      const list = absent.map((name) => `"${name}"`).join(", ");
      problems.push(`secrets: ${list} ${absent.length === 1 ? "is not a global secret" : "are not global secrets"}; set ${absent.length === 1 ? "it" : "them"} first (gantry secret set <name>)`);
    }
    // Secrets the provider's config names (the registry's credentials), each by its field.
    const fields = PROVIDER_CONFIGS[settings.provider].fields.filter((field) => field.namesSecret);
    for (const field of fields) {
      const name = (settings.config as Record<string, unknown>)[field.key];
      if (typeof name === "string" && (await missing([name])).length) problems.push(`config.${field.key} names "${name}", which is not a global secret; set it first (gantry secret set ${name})`);
    }
    if (problems.length) throw new ValidationError(problems.join("; "));
  };

  const recordStatus = async (key: string, outcome: TestOutcome) => {
    await setEnvironmentStatus(db, key, { state: outcome.ok ? "ok" : "failing", detail: outcome.ok ? outcome.detail : outcome.problem, at: now() });
    bus.publish({ kind: "environment.changed" });
  };

  return {
    providerOf,
    recordStatus,
    async create(ref, settings, by) {
      await checkSecrets(settings);
      const created = await insertEnvironment(db, ref, settings, now());
      const key = environmentKey(ref);
      if (!created) throw new ConflictError(`environment ${key} already exists; change it with PUT /api/v1/environments/${ref.name}${ref.namespace !== null ? `?namespace=${ref.namespace}` : ""}`);
      await record("environment.created", key, by);
      return created;
    },
    async save(ref, settings, by) {
      await checkSecrets(settings);
      const saved = await upsertEnvironment(db, ref, settings, now());
      await record(saved.created ? "environment.created" : "environment.changed", environmentKey(ref), by);
      return saved;
    },
    async remove(key, by) {
      if (!(await deleteEnvironment(db, key))) throw new NotFoundError(`environment ${key} not found`);
      await record("environment.removed", key, by);
    },
    async test(key) {
      const environment = await requireEnvironment(db, key);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<TestOutcome>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, problem: `no answer from the ${environment.provider} target in ${TEST_TIMEOUT_MS / 1000} s` }), TEST_TIMEOUT_MS);
      });
      let outcome: TestOutcome;
      try {
        // A provider that throws instead of answering still gets its reason told.
        const check = providerOf(environment)
          .testConnection()
          .catch((error: unknown): TestOutcome => ({ ok: false, problem: messageOf(error) }));
        outcome = await Promise.race([check, late]);
      } catch (error) {
        outcome = { ok: false, problem: messageOf(error) };
      } finally {
        clearTimeout(timer);
      }
      await recordStatus(key, outcome);
      return outcome;
    },
    async rollback(key, service, by, log) {
      const environment = await requireEnvironment(db, key);
      const authName = environment.config.registryAuth;
      const registryAuth = authName !== undefined ? await secrets.resolveGlobal(authName) : undefined;
      if (authName !== undefined && registryAuth === undefined) throw new ValidationError(`secret ${authName} (the registry credentials of environment ${key}) is not set`);
      return rollbackService({ db, now, providerFor: providerOf, ...(registryAuth !== undefined && { registryAuth }) }, environment, service, by, log);
    },
  };
}
