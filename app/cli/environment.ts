// `gantry env ls|get|set|rm|test`: deployment targets — their settings, what runs in each now
// and its deployments — and a test of the connection to one.
import * as v from "valibot";
import { environmentNameSchema } from "../domain/environments.ts";
import { formatDuration } from "../domain/duration.ts";
import { ApiError, createApiClient } from "./api-client.ts";
import { environmentAnswer, environmentDetailAnswer, environmentListAnswer, environmentTestAnswer, type DeploymentJson, type EnvironmentJson } from "./api-schemas.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { ago, formatTime, paint, printJson, table, truncate, type Style, printFacts } from "./output.ts";

/** Drops --docker-host on `env set`: the server's own engine is used. */
const NONE = "none";
/** What a swarm environment naming no engine deploys to. */
const SERVER_ENGINE = "the server's own Docker engine";

function parseName(text: string): string {
  const checked = v.safeParse(environmentNameSchema, text);
  if (!checked.success) throw new UsageError(`"${text}" is not an environment name: ${checked.issues[0].message.replace(/^an environment name /, "")}`);
  return text;
}

const environmentPath = (name: string) => `/environments/${encodeURIComponent(name)}`;

const set: Subcommand = {
  usage:
    "gantry env set <name> [--provider swarm] [--docker-host unix:///path|tcp://host:port|none] [--secret NAME]... [--no-secrets] [--description TEXT] [--allow-pipeline NS/ID]... [--allow-branch PATTERN]... [--require-approval|--no-approval] [--wait DURATION|0] [--no-protection] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      provider: { type: "string" },
      "docker-host": { type: "string" },
      secret: { type: "string", multiple: true },
      "no-secrets": { type: "boolean" },
      description: { type: "string" },
      "allow-pipeline": { type: "string", multiple: true },
      "allow-branch": { type: "string", multiple: true },
      "require-approval": { type: "boolean" },
      "no-approval": { type: "boolean" },
      wait: { type: "string" },
      "no-protection": { type: "boolean" },
      json: { type: "boolean" },
    });
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    if (values.secret && values["no-secrets"]) throw new UsageError("--secret and --no-secrets contradict each other");
    const client = createApiClient();
    const current = await currentSettings(name);
    if (!current && values.provider === undefined) throw new UsageError(`environment ${name} does not exist yet: --provider is required to create it (swarm)`);
    if (values["require-approval"] && values["no-approval"]) throw new UsageError("--require-approval and --no-approval contradict each other");
    const protectionFlags = [values["allow-pipeline"], values["allow-branch"], values["require-approval"], values["no-approval"], values.wait, values["no-protection"]];
    if (current && ![values.provider, values["docker-host"], values.secret, values["no-secrets"], values.description, ...protectionFlags].some((flag) => flag !== undefined)) {
      throw new UsageError("nothing to change: give at least one of --provider, --docker-host, --secret, --no-secrets, --description, or a protection flag");
    }
    // The flags given laid over what the environment says now; the server checks every field and names each problem.
    const dockerHost = values["docker-host"] === NONE ? undefined : (values["docker-host"] ?? current?.config.dockerHost);
    const description = values.description ?? current?.description;
    const body = {
      provider: values.provider ?? current?.provider,
      config: { ...(dockerHost !== undefined && { dockerHost }) },
      secrets: values["no-secrets"] ? [] : (values.secret ?? current?.secrets ?? []),
      ...(description !== undefined && description !== "" && { description }),
      protection: protectionBody(values, values["no-protection"] ? {} : (current?.protection ?? {})),
    };
    const saved = await client.json("PUT", environmentPath(name), environmentAnswer, body);
    if (values.json) {
      printJson(saved.raw);
      return 0;
    }
    console.log(`${saved.status === 201 ? "created" : "updated"} environment ${name}`);
    printFacts(settingsFacts(saved.data.environment));
    console.log(`check the connection: gantry env test ${name}`);
    return 0;
  },
};

/** The protection rules: the flags given laid over the current ones (each list flag replaces its list). */
function protectionBody(
  values: { "allow-pipeline"?: string[]; "allow-branch"?: string[]; "require-approval"?: boolean; "no-approval"?: boolean; wait?: string },
  current: NonNullable<EnvironmentJson["protection"]>,
): Record<string, unknown> {
  const pipelines = values["allow-pipeline"] ?? current.pipelines;
  const branches = values["allow-branch"] ?? current.branches;
  const approval = values["require-approval"] ? true : values["no-approval"] ? false : current.approval;
  const wait = values.wait ?? current.wait;
  return {
    ...(pipelines && { pipelines }),
    ...(branches && { branches }),
    ...(approval && { approval: true }),
    ...(wait !== undefined && wait !== "0" && wait !== 0 && { wait }),
  };
}

/** An environment's settings now, or undefined when there is none of that name. */
async function currentSettings(name: string): Promise<EnvironmentJson | undefined> {
  try {
    return (await createApiClient().json("GET", environmentPath(name), environmentDetailAnswer)).data.environment;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

const ls: Subcommand = {
  usage: "gantry env ls [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    takePositionals(positionals, []);
    const { data, raw } = await createApiClient().json("GET", "/environments", environmentListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.environments.length === 0) {
      console.log("no environments you may read");
      return 0;
    }
    const rows = data.environments.map((environment) => [
      environment.name,
      environment.provider,
      environment.config.dockerHost ?? paint("dim", "(server's engine)"),
      environment.secrets.length ? environment.secrets.join(", ") : "-",
      truncate(environment.description ?? "", 50),
    ]);
    console.log(table(["NAME", "PROVIDER", "TARGET", "SECRETS", "DESCRIPTION"], rows));
    return 0;
  },
};

const get: Subcommand = {
  usage: "gantry env get <name> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    const { data, raw } = await createApiClient().json("GET", environmentPath(name), environmentDetailAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    const { environment, current, deployments } = data;
    console.log(paint("bold", `environment ${environment.name}`));
    const facts = settingsFacts(environment);
    facts.push(["created", formatTime(environment.createdAt)]);
    if (environment.updatedAt !== environment.createdAt) facts.push(["updated", `${formatTime(environment.updatedAt)} (${ago(environment.updatedAt)})`]);
    printFacts(facts);
    console.log();
    if (current.length === 0) {
      console.log("nothing deployed here yet");
    } else {
      console.log(paint("dim", "running now:"));
      const rows = current.map((service) => [service.service, service.image, `${formatTime(service.deployedAt)} (${ago(service.deployedAt)})`, runText(service), service.task ?? "-"]);
      console.log(table(["SERVICE", "IMAGE", "DEPLOYED", "RUN", "TASK"], rows));
    }
    if (deployments.length) {
      console.log();
      console.log(paint("dim", `deployments (the last ${deployments.length}, newest first):`));
      const rows = deployments.map((deployment) => [
        String(deployment.id),
        deployment.service,
        deployment.image,
        paintDeploymentState(deployment.state),
        deployment.strategy,
        runText(deployment),
        formatTime(deployment.startedAt),
        deploymentNote(deployment),
      ]);
      console.log(table(["ID", "SERVICE", "IMAGE", "STATE", "STRATEGY", "RUN", "STARTED", "NOTE"], rows));
    }
    return 0;
  },
};

const rm: Subcommand = {
  usage: "gantry env rm <name>",
  async run(args) {
    const { positionals } = parseArguments(args, {});
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    // 204, no body: read as bytes, which asks nothing of the answer but an ok status.
    await createApiClient().bytes("DELETE", environmentPath(name));
    console.log(`deleted environment ${name} and its deployment history (the services deployed there keep running)`);
    return 0;
  },
};

const test: Subcommand = {
  usage: "gantry env test <name> [--json]   (exit 0 when the target answers and can take deployments, 1 when not)",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    const { data, raw } = await createApiClient().json("POST", `${environmentPath(name)}/test`, environmentTestAnswer);
    if (values.json) printJson(raw);
    else if (data.ok) console.log(`${paint("green", "ok")}: ${data.detail}`);
    else console.log(`${paint("red", "problem")}: ${data.problem}`);
    return data.ok ? 0 : 1;
  },
};

export function environmentCommand(args: string[]): Promise<number> {
  return dispatch("env", args, { ls, get, set, rm, test }, { list: "ls", show: "get", delete: "rm", remove: "rm" });
}

/** What an environment is set to, as label/value pairs. */
function settingsFacts(environment: EnvironmentJson): [string, string][] {
  const facts: [string, string][] = [["provider", environment.provider]];
  if (environment.provider === "swarm") facts.push(["docker host", environment.config.dockerHost ?? SERVER_ENGINE]);
  facts.push(["secrets", environment.secrets.length ? environment.secrets.join(", ") : "none"]);
  if (environment.description) facts.push(["description", environment.description]);
  const rules = environment.protection ?? {};
  const protection = [
    rules.pipelines && `pipelines ${rules.pipelines.join(", ")}`,
    rules.branches && `branches ${rules.branches.join(", ")}`,
    rules.approval && "an approved gate",
    rules.wait && `a ${formatDuration(rules.wait)} wait`,
  ].filter(Boolean);
  facts.push(["protection", protection.length ? protection.join("; ") : "none"]);
  return facts;
}

/** The run that deployed it, or who rolled it back by hand. */
const runText = (origin: { run?: DeploymentJson["run"]; by?: string | undefined }) =>
  origin.run ? `${origin.run.namespace}/${origin.run.pipeline} #${origin.run.id}` : origin.by ? `rollback by ${origin.by}` : "-";

/** Why it failed or was rolled back, or what it replaced. */
function deploymentNote(deployment: DeploymentJson): string {
  if (deployment.reason) return paint(deployment.state === "failed" ? "red" : "yellow", deployment.reason);
  return deployment.previousImage ? `was ${deployment.previousImage}` : "";
}

const DEPLOYMENT_STATE_STYLE: Record<string, Style> = { running: "cyan", succeeded: "green", failed: "red", rolled_back: "yellow" };

function paintDeploymentState(state: string): string {
  const style = DEPLOYMENT_STATE_STYLE[state];
  return style ? paint(style, state) : state;
}
