// The deploy provider behind an environment: its provider id and config made into a client of
// the target (for "swarm", a Docker engine client of the manager it names).
import type { EnvironmentRow } from "../../db/repos/environments.ts";
import { ValidationError } from "../../domain/errors.ts";
import { createDockerClient } from "../executors/docker-client.ts";
import type { DeployProvider } from "./provider.ts";
import { createSwarmProvider } from "./swarm-provider.ts";

export interface ProviderForOptions {
  /** The server's own engine (GANTRY_DOCKER_HOST), used when a swarm environment names none. */
  defaultDockerHost?: string;
}

export function providerFor(environment: Pick<EnvironmentRow, "name" | "provider" | "config">, options: ProviderForOptions = {}): DeployProvider {
  switch (environment.provider) {
    case "swarm": {
      const { docker } = createDockerClient(environment.config.dockerHost ?? options.defaultDockerHost);
      return createSwarmProvider({ docker });
    }
    default:
      // A row written by a newer server, or by hand: say so rather than guess.
      throw new ValidationError(`environment ${environment.name} has provider "${String(environment.provider)}", which this server does not know`);
  }
}
