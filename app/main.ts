#!/usr/bin/env bun
// Entry: `gantry <command>`. Commands load lazily so the task runner and the CLI start fast.
import { TASK_RUNNER_COMMAND } from "./engine/task-runner/command.ts";
import { BUILD_PIPELINE_COMMAND, IMPORT_PIPELINE_COMMAND } from "./engine/pipelines/sandboxed-commands.ts";

const [command, ...args] = process.argv.slice(2);

async function main(): Promise<number> {
  switch (command) {
    case TASK_RUNNER_COMMAND: {
      return (await import("./engine/task-runner/main.ts")).runRunner(args);
    }
    case BUILD_PIPELINE_COMMAND:
      return (await import("./engine/pipelines/pipeline-build-main.ts")).buildPipeline(args[0] ?? "");
    case IMPORT_PIPELINE_COMMAND:
      return (await import("./engine/pipelines/pipeline-import-main.ts")).importPipeline(args[0] ?? "");
    case "serve":
      return (await import("./cli/serve.ts")).serveCommand(args);
    case "dev":
      return (await import("./cli/dev.ts")).devCommand(args);
    case "test":
      return (await import("./cli/test.ts")).testCommand(args);
    case "pipeline":
    case "pipelines":
      return (await import("./cli/pipeline.ts")).pipelineCommand(args);
    case "run":
    case "runs":
      return (await import("./cli/run.ts")).runCommand(args);
    case "logs":
      return (await import("./cli/logs.ts")).logsCommand(args);
    case "source":
    case "sources":
      return (await import("./cli/source.ts")).sourceCommand(args);
    case "deploy":
      return (await import("./cli/deploy.ts")).deployCommand(args);
    case "env":
    case "envs":
    case "environment":
    case "environments":
      return (await import("./cli/environment.ts")).environmentCommand(args);
    case "secret":
    case "secrets":
      return (await import("./cli/secret.ts")).secretCommand(args);
    case "object":
    case "objects":
      return (await import("./cli/object.ts")).objectCommand(args);
    case "artifact":
    case "artifacts":
      return (await import("./cli/artifact.ts")).artifactCommand(args);
    case "extension":
    case "extensions":
      return (await import("./cli/extension.ts")).extensionCommand(args);
    case "token":
    case "tokens":
      return (await import("./cli/token.ts")).tokenCommand(args);
    case "user":
    case "users":
      return (await import("./cli/user.ts")).userCommand(args);
    case "status":
      return (await import("./cli/status.ts")).statusCommand(args);
    case "system":
      return (await import("./cli/system.ts")).systemCommand(args);
    case "backup":
      return (await import("./cli/backup.ts")).backupCommand(args);
    case "restore":
      return (await import("./cli/backup.ts")).restoreCommand(args);
    case "runner-image":
      return (await import("./cli/runner-image.ts")).runnerImageCommand(args);
    case "version":
    case "--version":
    case "-v":
      console.log((await import("./version.ts")).GANTRY_VERSION);
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      if (command === undefined) {
        console.error((await import("./cli/help.ts")).HELP);
        return 2;
      }
      console.log((await import("./cli/help.ts")).HELP);
      return 0;
    default:
      console.error(`gantry: unknown command "${command}"; see gantry --help`);
      return 2;
  }
}

process.exitCode = await main();
