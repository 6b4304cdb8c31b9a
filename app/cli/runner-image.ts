// `gantry runner-image`: builds the image a swarm service runs run() tasks in (the compiled
// binary and its shared libraries FROM a local base, never pulled) on the Docker engine of
// GANTRY_DOCKER_HOST, printing the build's progress and the tag.
import { resolve } from "node:path";
import { ConfigError, loadConfig } from "../config.ts";
import { createDockerClient } from "../engine/executors/docker-client.ts";
import { buildRunnerImage, DEFAULT_RUNNER_BASE, RUNNER_IMAGE_REPOSITORY, RunnerImageError } from "../engine/executors/runner-image.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { guard } from "./command.ts";
import { CliError } from "./errors.ts";

const USAGE = `usage: gantry runner-image [--tag ${RUNNER_IMAGE_REPOSITORY}:<version>] [--binary <path>] [--base ${DEFAULT_RUNNER_BASE}]`;

export async function runnerImageCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      `${USAGE}\n\nBuilds the runner image from a compiled gantry (this binary, or --binary) on the Docker engine of\nGANTRY_DOCKER_HOST: the binary and the shared libraries ldd lists, FROM a local base image (never\npulled). The tag defaults to ${RUNNER_IMAGE_REPOSITORY}:<the binary's version>.`,
    );
    return 0;
  }
  return guard(USAGE, async () => {
    const { values, positionals } = parseArguments(args, {
      tag: { type: "string" },
      binary: { type: "string" },
      base: { type: "string" },
    });
    takePositionals(positionals, []);
    const binary = values.binary !== undefined ? resolve(values.binary) : Bun.isStandaloneExecutable ? process.execPath : undefined;
    if (!binary) {
      throw new CliError("gantry runs from source here, and the image holds the compiled binary: build it first (bun run build) and run dist/gantry runner-image, or pass --binary dist/gantry");
    }
    let dockerHost: string | undefined;
    try {
      dockerHost = loadConfig().dockerHost;
    } catch (error) {
      if (error instanceof ConfigError) throw new CliError(`configuration error: ${error.message}`);
      throw error;
    }
    const { docker, host } = createDockerClient(dockerHost);
    try {
      const built = await buildRunnerImage({
        docker,
        host,
        binary,
        ...(values.tag !== undefined && { tag: values.tag }),
        ...(values.base !== undefined && { base: values.base }),
        log: (stream, text) => (stream === "err" ? console.error(text) : console.log(text)),
      });
      console.log(`built ${built.tag} (${built.id.replace(/^sha256:/, "").slice(0, 12)}): gantry ${built.version}`);
      return 0;
    } catch (error) {
      if (error instanceof RunnerImageError) throw new CliError(error.message);
      throw error;
    }
  });
}
