// `gantry deploy rollback <env> <service> [-n NS]`: a service of an environment (a namespace's
// own with -n) goes back to its previous successful image, through the API; exit 0 once it runs
// it, 1 when the rollback failed.
import * as v from "valibot";
import { SERVICE_PATTERN } from "../domain/deploy-tasks.ts";
import { environmentKey, environmentNameSchema } from "../domain/environments.ts";
import { createApiClient } from "./api-client.ts";
import { deploymentAnswer } from "../api-contract/answers.ts";
import { environmentPath, parseEnvironmentNamespace } from "./environment.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { paint, printJson } from "./output.ts";

/** A rollback waits for the service to run the image again (the provider's own limit bounds it). */
const ROLLBACK_TIMEOUT_MS = 10 * 60_000;

const rollback: Subcommand = {
  usage: "gantry deploy rollback <environment> <service> [-n|--namespace NS] [--json]   (-n: that namespace's own environment)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { namespace: { type: "string", short: "n" }, json: { type: "boolean" } });
    const [name, service] = takePositionals(positionals, ["environment", "service"]);
    if (!v.safeParse(environmentNameSchema, name).success) throw new UsageError(`"${name}" is not an environment name`);
    if (!SERVICE_PATTERN.test(service!)) throw new UsageError(`"${service}" is not a service name (a-z, 0-9 and -)`);
    const ref = { namespace: parseEnvironmentNamespace(values.namespace), name: name! };
    const environment = environmentKey(ref);
    const path = environmentPath(ref, `/services/${encodeURIComponent(service!)}/rollback`);
    const { data, raw } = await createApiClient().json("POST", path, deploymentAnswer, undefined, { timeoutMs: ROLLBACK_TIMEOUT_MS });
    if (values.json) printJson(raw);
    const deployment = data.deployment;
    if (deployment.state === "succeeded") {
      if (!values.json) console.log(`${service} of ${environment} runs ${deployment.image} again (was ${deployment.previousImage ?? "unknown"})`);
      return 0;
    }
    if (!values.json) console.log(paint("red", `the rollback of ${service} to ${deployment.image} failed: ${deployment.reason ?? deployment.state}`));
    return 1;
  },
};

export function deployCommand(args: string[]): Promise<number> {
  return dispatch("deploy", args, { rollback });
}
