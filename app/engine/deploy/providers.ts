// The deploy provider behind an environment: its provider id and config made into a client of
// the target (for "swarm", a Docker engine client of the manager it names, and of the server's
// own engine, which images are pushed from).
import type { EnvironmentRow } from "../../db/repos/environments.ts";
import { ValidationError } from "../../domain/errors.ts";
import { createDockerClient } from "../executors/docker-client.ts";
import type { DeployProvider } from "./provider.ts";
import { createSwarmProvider } from "./swarm-provider.ts";

export interface ProviderForOptions {
  /** The server's own engine (GANTRY_DOCKER_HOST), used when a swarm environment names none, and the one images are pushed from. */
  defaultDockerHost?: string;
}

/**
 * How long one call to a swarm manager may stay silent. Rollouts are watched by polling, and
 * the canary's probe streams a line per request (a request's timeout plus the interval apart,
 * at most two minutes by MAX_PROBE_WAIT_MS), so a longer silence is an engine that hangs.
 */
const MANAGER_CALL_TIMEOUT_MS = 150_000;

export function providerFor(environment: Pick<EnvironmentRow, "key" | "provider" | "config">, options: ProviderForOptions = {}): DeployProvider {
  switch (environment.provider) {
    case "swarm": {
      const { docker } = createDockerClient(environment.config.dockerHost ?? options.defaultDockerHost, { timeoutMs: MANAGER_CALL_TIMEOUT_MS });
      // The push streams for as long as the layers take: no idle limit on the server's engine.
      const source = createDockerClient(options.defaultDockerHost);
      return createSwarmProvider({ docker, source, ...(environment.config.registry !== undefined && { registry: environment.config.registry }) });
    }
    default:
      // A row written by a newer server, or by hand: say so rather than guess.
      throw new ValidationError(`environment ${environment.key} has provider "${String(environment.provider)}", which this server does not know`);
  }
}
