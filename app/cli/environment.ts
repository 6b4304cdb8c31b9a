// `gantry env ls|get|set|rm|test`: deployment targets — their settings, what runs in each now
// and its deployments — and a test of the connection to one. An environment is shared by every
// namespace, or a namespace's own (`-n <namespace>`, the API's `?namespace=`).
import * as v from "valibot";
import { environmentKey, environmentNameSchema, environmentNamespaceSchema, type EnvironmentRef } from "../domain/environments.ts";
import { formatDuration } from "../domain/duration.ts";
import { ApiError, createApiClient } from "./api-client.ts";
import { environmentAnswer, environmentDetailAnswer, environmentListAnswer, environmentTestAnswer, type DeploymentJson, type EnvironmentJson } from "../api-contract/answers.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { ago, formatTime, paint, printJson, table, truncate, type Style, printFacts } from "./output.ts";

/** Drops --docker-host, --registry or --registry-auth on `env set`. */
const NONE = "none";
/** What a swarm environment naming no engine deploys to. */
const SERVER_ENGINE = "the server's own Docker engine";
/** How `env ls` shows an environment every namespace shares. */
const SHARED = "(shared)";

/** -n/--namespace: a namespace's own environment rather than the shared one of that name. */
const namespaceOption = { namespace: { type: "string", short: "n" } } as const;
const NAMESPACE_USAGE = "[-n|--namespace NS]";

function parseName(text: string): string {
  const checked = v.safeParse(environmentNameSchema, text);
  if (!checked.success) throw new UsageError(`"${text}" is not an environment name: ${checked.issues[0].message.replace(/^an environment name /, "")}`);
  return text;
}

/** -n's value, checked: a namespace's name. */
export function parseEnvironmentNamespace(text: string | undefined): string | null {
  if (text === undefined) return null;
  const checked = v.safeParse(environmentNamespaceSchema, text);
  if (!checked.success) throw new UsageError(`--namespace "${text}" is not a namespace: ${checked.issues[0].message.replace(/^namespace /, "")}`);
  return text;
}

/** The environment `<name> [-n NS]` names. */
function parseRef(nameText: string, namespaceText: string | undefined): EnvironmentRef {
  return { namespace: parseEnvironmentNamespace(namespaceText), name: parseName(nameText) };
}

/** /environments/<name><suffix>, with ?namespace= for a namespace's own. */
export function environmentPath(ref: EnvironmentRef, suffix = ""): string {
  const query = ref.namespace === null ? "" : `?${new URLSearchParams({ namespace: ref.namespace })}`;
  return `/environments/${encodeURIComponent(ref.name)}${suffix}${query}`;
}

/** How the CLI names one in what it prints: "staging", or "team-a/staging". */
const labelOf = environmentKey;

/** The command that reaches the same environment again: "staging", or "staging -n team-a". */
const argumentsOf = (ref: EnvironmentRef) => (ref.namespace === null ? ref.name : `${ref.name} -n ${ref.namespace}`);

/**
 * A request about one environment; a shared one that is not there may be a namespace's own,
 * so the 404 says how to name that.
 */
async function about<T>(ref: EnvironmentRef, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && ref.namespace === null) {
      throw new CliError(`${error.message} (a namespace's own environment is named with -n <namespace>; gantry env ls lists them)`);
    }
    throw error;
  }
}

/** --registry-auth's secret: a global secret's name, as --secret takes it (a "secret:" prefix, as `source` takes it, is allowed). */
const registryAuthOf = (text: string) => text.replace(/^secret:/, "");

const set: Subcommand = {
  usage:
    "gantry env set <name> [-n|--namespace NS] [--provider swarm] [--docker-host unix:///path|tcp://host:port|none] [--registry HOST:PORT|none] [--registry-auth SECRET|none] [--secret NAME]... [--no-secrets] [--description TEXT] [--allow-pipeline NS/ID]... [--allow-branch PATTERN]... [--require-approval|--no-approval] [--wait DURATION|0] [--no-protection] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      ...namespaceOption,
      provider: { type: "string" },
      "docker-host": { type: "string" },
      registry: { type: "string" },
      "registry-auth": { type: "string" },
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
    const ref = parseRef(nameText!, values.namespace);
    const label = labelOf(ref);
    if (values.secret && values["no-secrets"]) throw new UsageError("--secret and --no-secrets contradict each other");
    if (values["registry-auth"] !== undefined && values["registry-auth"] !== NONE && values.registry === NONE) {
      throw new UsageError("--registry-auth names the credentials of a registry, and --registry none drops it");
    }
    const client = createApiClient();
    const current = await currentSettings(ref);
    if (!current && values.provider === undefined) throw new UsageError(`environment ${label} does not exist yet: --provider is required to create it (swarm)`);
    if (values["require-approval"] && values["no-approval"]) throw new UsageError("--require-approval and --no-approval contradict each other");
    const protectionFlags = [values["allow-pipeline"], values["allow-branch"], values["require-approval"], values["no-approval"], values.wait, values["no-protection"]];
    const settingFlags = [values.provider, values["docker-host"], values.registry, values["registry-auth"], values.secret, values["no-secrets"], values.description];
    if (current && ![...settingFlags, ...protectionFlags].some((flag) => flag !== undefined)) {
      throw new UsageError("nothing to change: give at least one of --provider, --docker-host, --registry, --registry-auth, --secret, --no-secrets, --description, or a protection flag");
    }
    // The flags given laid over what the environment says now; the server checks every field and names each problem.
    const dockerHost = values["docker-host"] === NONE ? undefined : (values["docker-host"] ?? current?.config.dockerHost);
    const registry = values.registry === NONE ? undefined : (values.registry ?? current?.config.registry);
    // Dropping the registry drops its credentials with it.
    const registryAuth =
      values["registry-auth"] === NONE || values.registry === NONE ? undefined : values["registry-auth"] !== undefined ? registryAuthOf(values["registry-auth"]) : current?.config.registryAuth;
    const description = values.description ?? current?.description;
    const body = {
      provider: values.provider ?? current?.provider,
      config: { ...(dockerHost !== undefined && { dockerHost }), ...(registry !== undefined && { registry }), ...(registryAuth !== undefined && { registryAuth }) },
      secrets: values["no-secrets"] ? [] : (values.secret ?? current?.secrets ?? []),
      ...(description !== undefined && description !== "" && { description }),
      protection: protectionBody(values, values["no-protection"] ? {} : (current?.protection ?? {})),
    };
    const saved = await client.json("PUT", environmentPath(ref), environmentAnswer, body);
    if (values.json) {
      printJson(saved.raw);
      return 0;
    }
    console.log(`${saved.status === 201 ? "created" : "updated"} environment ${label}`);
    printFacts(settingsFacts(saved.data.environment));
    console.log(`check the connection: gantry env test ${argumentsOf(ref)}`);
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
async function currentSettings(ref: EnvironmentRef): Promise<EnvironmentJson | undefined> {
  try {
    return (await createApiClient().json("GET", environmentPath(ref), environmentDetailAnswer)).data.environment;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

const ls: Subcommand = {
  usage: `gantry env ls ${NAMESPACE_USAGE} [--json]   (with -n: what that namespace's deploys reach, its own and the shared ones)`,
  async run(args) {
    const { values, positionals } = parseArguments(args, { ...namespaceOption, json: { type: "boolean" } });
    takePositionals(positionals, []);
    const namespace = parseEnvironmentNamespace(values.namespace);
    const path = namespace === null ? "/environments" : `/environments?${new URLSearchParams({ namespace })}`;
    const { data, raw } = await createApiClient().json("GET", path, environmentListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.environments.length === 0) {
      console.log(namespace === null ? "no environments you may read" : `no environments of namespace ${namespace} or shared that you may read`);
      return 0;
    }
    const rows = data.environments.map((environment) => [
      environment.name,
      environment.namespace ?? paint("dim", SHARED),
      paintStatus(environment.status.state),
      environment.provider,
      environment.config.dockerHost ?? paint("dim", "(server's engine)"),
      environment.secrets.length ? environment.secrets.join(", ") : "-",
      truncate(environment.description ?? "", 50),
    ]);
    console.log(table(["NAME", "NAMESPACE", "STATUS", "PROVIDER", "TARGET", "SECRETS", "DESCRIPTION"], rows));
    return 0;
  },
};

const get: Subcommand = {
  usage: `gantry env get <name> ${NAMESPACE_USAGE} [--json]`,
  async run(args) {
    const { values, positionals } = parseArguments(args, { ...namespaceOption, json: { type: "boolean" } });
    const [nameText] = takePositionals(positionals, ["name"]);
    const ref = parseRef(nameText!, values.namespace);
    const { data, raw } = await about(ref, () => createApiClient().json("GET", environmentPath(ref), environmentDetailAnswer));
    if (values.json) {
      printJson(raw);
      return 0;
    }
    const { environment, current, deployments } = data;
    console.log(paint("bold", `environment ${labelOf({ namespace: environment.namespace, name: environment.name })}`));
    const facts = settingsFacts(environment);
    facts.push(["status", statusText(environment.status)]);
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
  usage: `gantry env rm <name> ${NAMESPACE_USAGE}`,
  async run(args) {
    const { values, positionals } = parseArguments(args, namespaceOption);
    const [nameText] = takePositionals(positionals, ["name"]);
    const ref = parseRef(nameText!, values.namespace);
    // 204, no body: read as bytes, which asks nothing of the answer but an ok status.
    await about(ref, () => createApiClient().bytes("DELETE", environmentPath(ref)));
    console.log(`deleted environment ${labelOf(ref)} and its deployment history (the services deployed there keep running)`);
    return 0;
  },
};

const test: Subcommand = {
  usage: `gantry env test <name> ${NAMESPACE_USAGE} [--json]   (exit 0 when the target answers and can take deployments, 1 when not)`,
  async run(args) {
    const { values, positionals } = parseArguments(args, { ...namespaceOption, json: { type: "boolean" } });
    const [nameText] = takePositionals(positionals, ["name"]);
    const ref = parseRef(nameText!, values.namespace);
    const { data, raw } = await about(ref, () => createApiClient().json("POST", environmentPath(ref, "/test"), environmentTestAnswer));
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
  const facts: [string, string][] = [
    ["namespace", environment.namespace ?? "all namespaces (shared)"],
    ["provider", environment.provider],
  ];
  if (environment.provider === "swarm") {
    facts.push(["docker host", environment.config.dockerHost ?? SERVER_ENGINE]);
    const { registry, registryAuth } = environment.config;
    facts.push(["registry", registry ? `${registry} (${registryAuth ? `credentials from secret ${registryAuth}` : "no credentials"})` : "none (images must be on the nodes)"]);
  }
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

/** "failing: cannot reach ... (checked 2024-... , 3m ago)", or that it was never tested. */
function statusText(status: EnvironmentJson["status"]): string {
  const state = paintStatus(status.state);
  const said = status.detail ? `${state}: ${status.detail}` : state;
  return status.checkedAt ? `${said} (checked ${formatTime(status.checkedAt)}, ${ago(status.checkedAt)})` : status.state === "unknown" ? `${said} (never tested; gantry env test)` : said;
}

const STATUS_STYLE: Record<string, Style> = { ok: "green", failing: "red", unknown: "dim" };

function paintStatus(state: string): string {
  const style = STATUS_STYLE[state];
  return style ? paint(style, state) : state;
}

const DEPLOYMENT_STATE_STYLE: Record<string, Style> = { running: "cyan", succeeded: "green", failed: "red", rolled_back: "yellow" };

function paintDeploymentState(state: string): string {
  const style = DEPLOYMENT_STATE_STYLE[state];
  return style ? paint(style, state) : state;
}
