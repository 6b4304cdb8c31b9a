// What each kind of deployment target takes as its config: the schema that checks it (with
// messages naming each field) and the fields a form shows for it, so forms are built from the
// provider's own description rather than by hand. Swarm is the one provider today; a cloud's
// would add its entry here and its client in engine/deploy/ (docs/providers.md).
import * as v from "valibot";
import { registryProblem } from "./image-tasks.ts";
import { SECRET_NAME_PATTERN } from "./secrets.ts";

/** The deployment targets Gantry can drive; each has a provider in engine/deploy/. */
export const PROVIDERS = ["swarm"] as const;
export type ProviderId = (typeof PROVIDERS)[number];

/** A Docker Swarm manager's engine, and the registry its nodes pull deployed images from. */
export interface SwarmConfig {
  /** unix:///path or tcp://host:port; absent: the engine the server itself uses (GANTRY_DOCKER_HOST). */
  dockerHost?: string;
  /**
   * A registry ("host[:port]") each deploy pushes its image to first, from the server's
   * engine, so that every node of the swarm can pull it; absent: the image must be on the nodes.
   */
  registry?: string;
  /** A global secret holding the registry's credentials (`user:password` or Docker's JSON auth). */
  registryAuth?: string;
}

/**
 * Why a Docker engine URL cannot be a swarm environment's, or undefined when it can: a unix
 * socket by absolute path, or tcp://host:port (plain TCP; TLS-protected engines are not taken yet).
 */
export function dockerHostProblem(host: string): string | undefined {
  if (host.length > 1000) return "must be at most 1000 characters";
  if (/[\s\u0000-\u001f\u007f]/.test(host)) return "must not contain spaces or control characters";
  if (host.startsWith("unix://")) {
    const path = host.slice("unix://".length);
    if (!path.startsWith("/")) return 'must name the socket by its absolute path, like "unix:///var/run/docker.sock"';
    if (path.split("/").includes("..")) return 'must not contain ".."';
    return undefined;
  }
  if (!host.startsWith("tcp://")) return 'must be "unix:///path/to/docker.sock" or "tcp://host:port"';
  let url: URL;
  try {
    url = new URL(host.replace(/^tcp:\/\//, "http://"));
  } catch {
    return 'must be "tcp://host:port"';
  }
  if (!url.hostname) return "must name a host";
  if (url.username || url.password) return "must not carry credentials";
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) return 'must be just "tcp://host:port", with no path, query or fragment';
  if (!url.port) return 'must name the port, like "tcp://manager.internal:2375"';
  return undefined;
}

export const swarmConfigSchema = v.pipe(
  v.strictObject(
    {
      dockerHost: v.optional(
        v.pipe(
          v.string("config.dockerHost must be a Docker engine URL"),
          v.check((host) => dockerHostProblem(host) === undefined, (issue) => `config.dockerHost ${dockerHostProblem(String(issue.input))}`),
        ),
      ),
      registry: v.optional(
        v.pipe(
          v.string("config.registry must be a registry like \"registry.internal:5000\""),
          v.check((registry) => registryProblem(registry, false) === undefined, (issue) => `config.registry ${registryProblem(String(issue.input), false)}`),
        ),
      ),
      registryAuth: v.optional(
        v.pipe(
          v.string("config.registryAuth must name a global secret"),
          v.check((name) => SECRET_NAME_PATTERN.test(name), 'config.registryAuth must name a global secret (letters, digits, ".", "_" and "-")'),
        ),
      ),
    },
    (issue) =>
      issue.expected === "never"
        ? `unknown field config.${String(issue.received).replace(/^"|"$/g, "")}: a swarm environment's config takes dockerHost, registry and registryAuth`
        : "config must be an object like { dockerHost, registry, registryAuth }",
  ),
  v.check((config) => config.registryAuth === undefined || config.registry !== undefined, "config.registryAuth names the credentials of config.registry, which is not set"),
);

/** Any provider's config, as an environment's row holds it. */
export type ProviderConfig = SwarmConfig;

/** A field of a provider's config as a form shows it. */
export interface ProviderConfigField {
  key: string;
  label: string;
  /** What it means and what an empty field does. */
  hint: string;
  placeholder?: string;
  /** The field names a global secret (naming one takes secrets:write on global). */
  namesSecret?: boolean;
}

export interface ProviderDescription {
  /** Checks a config (an absent config is `{}`); messages name each field as `config.<key>`. */
  schema: v.GenericSchema<unknown, ProviderConfig>;
  fields: ProviderConfigField[];
}

export const PROVIDER_CONFIGS: Record<ProviderId, ProviderDescription> = {
  swarm: {
    schema: swarmConfigSchema,
    fields: [
      {
        key: "dockerHost",
        label: "Docker engine",
        hint: "A swarm manager's engine: unix:///path/to/docker.sock or tcp://host:port. Empty: the server's own engine.",
        placeholder: "tcp://manager.internal:2375",
      },
      {
        key: "registry",
        label: "Registry",
        hint: "A registry (host[:port]) each deploy pushes its image to first, so every node of the swarm can pull it. Empty: images must be on the nodes already (a one-node swarm).",
        placeholder: "registry.internal:5000",
      },
      {
        key: "registryAuth",
        label: "Registry credentials",
        hint: "The name of a global secret holding user:password (or Docker's JSON auth) for the registry. Empty: the registry needs none.",
        namesSecret: true,
      },
    ],
  },
};

/** The schema of a provider's config. */
export function configSchemaOf(provider: ProviderId): ProviderDescription["schema"] {
  return PROVIDER_CONFIGS[provider].schema;
}

/** The secrets a config names (naming them hands them to the target). */
export function secretsNamedBy(provider: ProviderId, config: ProviderConfig): string[] {
  return PROVIDER_CONFIGS[provider].fields.flatMap((field) => {
    const value = (config as Record<string, unknown>)[field.key];
    return field.namesSecret && typeof value === "string" ? [value] : [];
  });
}
