// Creating, changing, removing and testing environments, for the API and the web alike: the
// secrets named must exist as global secrets, and each change is an event (names, never values).
import type { Db } from "../../db/client.ts";
import { deleteEnvironment, insertEnvironment, requireEnvironment, upsertEnvironment, type EnvironmentRow } from "../../db/repos/environments.ts";
import { insertEvent } from "../../db/repos/events.ts";
import { ConflictError, messageOf, NotFoundError, ValidationError } from "../../domain/errors.ts";
import type { EnvironmentSettings } from "../../domain/environments.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { SecretStore } from "../../stores/secrets.ts";
import type { EventBus } from "../event-bus.ts";
import type { DeployProvider } from "./provider.ts";
import { providerFor } from "./providers.ts";

export interface EnvironmentAdminOptions {
  db: Db;
  bus: EventBus;
  secrets: SecretStore;
  now: () => Date;
  /** The server's own Docker engine (GANTRY_DOCKER_HOST): a swarm environment naming none uses it. */
  defaultDockerHost?: string;
  /** Builds the provider of an environment; tests may give their own. */
  providerFor?: (environment: EnvironmentRow) => DeployProvider;
}

export type TestOutcome = { ok: true; detail: string } | { ok: false; problem: string };

/** How long a connection test may take before it counts as the target not answering. */
export const TEST_TIMEOUT_MS = 10_000;

export interface EnvironmentAdmin {
  /** Creates it; ConflictError when the name is taken. */
  create(name: string, settings: EnvironmentSettings, by: string): Promise<EnvironmentRow>;
  /** Creates or replaces it. */
  save(name: string, settings: EnvironmentSettings, by: string): Promise<{ environment: EnvironmentRow; created: boolean }>;
  /** Removes it and its deployment history; the services deployed keep running on the target. */
  remove(name: string, by: string): Promise<void>;
  /** The provider's own check of the target (reachable, able to take deployments). */
  test(name: string): Promise<TestOutcome>;
}

export function createEnvironmentAdmin(options: EnvironmentAdminOptions): EnvironmentAdmin {
  const { db, bus, secrets, now } = options;
  const provider = options.providerFor ?? ((environment: EnvironmentRow) => providerFor(environment, { ...(options.defaultDockerHost !== undefined && { defaultDockerHost: options.defaultDockerHost }) }));

  const record = async (kind: EventKind, name: string, by: string) => {
    await insertEvent(db, { kind, data: { environment: name, by }, at: now() });
    bus.publish({ kind });
  };

  /** Every secret named must be a global secret now: a deploy would fail on a missing one later, far from here. */
  const checkSecrets = async (settings: EnvironmentSettings) => {
    const missing: string[] = [];
    for (const name of settings.secrets) if (!(await secrets.get({ kind: "global" }, name))) missing.push(name);
    if (missing.length) {
      const list = missing.map((name) => `"${name}"`).join(", ");
      throw new ValidationError(`secrets: ${list} ${missing.length === 1 ? "is not a global secret" : "are not global secrets"}; set ${missing.length === 1 ? "it" : "them"} first (gantry secret set <name>)`);
    }
  };

  return {
    async create(name, settings, by) {
      await checkSecrets(settings);
      const created = await insertEnvironment(db, name, settings, now());
      if (!created) throw new ConflictError(`environment ${name} already exists; change it with PUT /api/v1/environments/${name}`);
      await record("environment.created", name, by);
      return created;
    },
    async save(name, settings, by) {
      await checkSecrets(settings);
      const saved = await upsertEnvironment(db, name, settings, now());
      await record(saved.created ? "environment.created" : "environment.changed", name, by);
      return saved;
    },
    async remove(name, by) {
      if (!(await deleteEnvironment(db, name))) throw new NotFoundError(`environment ${name} not found`);
      await record("environment.removed", name, by);
    },
    async test(name) {
      const environment = await requireEnvironment(db, name);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<TestOutcome>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, problem: `no answer from the ${environment.provider} target in ${TEST_TIMEOUT_MS / 1000} s` }), TEST_TIMEOUT_MS);
      });
      try {
        // A provider that throws instead of answering still gets its reason told.
        const check = provider(environment)
          .testConnection()
          .catch((error: unknown): TestOutcome => ({ ok: false, problem: messageOf(error) }));
        return await Promise.race([check, late]);
      } catch (error) {
        return { ok: false, problem: messageOf(error) };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
