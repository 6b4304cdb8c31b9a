// /api/v1/openapi.json: the API described from one route table, which tests also walk.
import { Hono } from "hono";
import { ACTIONS, RESOURCES } from "../../domain/permissions.ts";
import { MIN_SECRET_LENGTH } from "../../domain/secrets.ts";
import { MAX_DECISION_COMMENT } from "../../domain/approvals.ts";
import { GANTRY_VERSION } from "../../version.ts";
import type { AppEnv } from "../env.ts";

export interface RouteDoc {
  method: "get" | "post" | "put" | "delete";
  path: string;
  summary: string;
  auth: boolean;
  body?: Record<string, unknown>;
  /** Media type of the body; JSON unless said otherwise. */
  bodyType?: string;
  query?: string[];
  success: number;
  /** The success body's schema, where described. */
  response?: Record<string, unknown>;
}

const runBody = {
  type: "object",
  properties: {
    variables: { type: "object", additionalProperties: { type: "string" } },
    inputs: {
      type: "object",
      description:
        "values of the pipeline's inputs (its `inputs` JSON Schema in GET /pipelines/{ns}/{id}); defaults apply; a 400 lists every problem as error.problems [{ input, message }]",
      additionalProperties: { type: ["string", "number", "boolean"] },
    },
    commit: { type: "string", pattern: "^[0-9a-f]{7,40}$", description: "a pipeline of a git source runs as of this synced commit (the version that commit left current); recorded as the run's commit" },
  },
};
const sourceBody = {
  type: "object",
  required: ["repo"],
  properties: {
    repo: { type: "string", description: "http(s)://, git:// or ssh:// URL (or git@host:path); no credentials in it" },
    branch: { type: "string", default: "main", description: "the only branch loaded: pull requests and other branches never change pipeline code" },
    path: { type: "string", default: ".gantry", description: "the repository's folder holding pipeline files (relative; \".\" for the top)" },
    namespace: { type: "string", description: "namespace of its pipelines; the source's name by default" },
    auth: { type: "string", description: "secret:<name>: a global secret holding a token or user:password, sent as HTTP Basic auth" },
    hookSecret: { type: "string", description: "secret:<name>: signs POST /hooks/sources/<name> (X-Gantry-Signature-256)" },
    pollInterval: { type: ["string", "number"], default: "1m", description: "how often the branch is checked (git ls-remote); 0 or \"off\": never" },
  },
};
const environmentSettings = {
  provider: { type: "string", enum: ["swarm"], description: "the deployment target's kind: a Docker Swarm" },
  config: {
    type: "object",
    properties: {
      dockerHost: { type: "string", description: "a swarm manager's Docker engine: unix:///path/to/docker.sock or tcp://host:port; the server's own engine (GANTRY_DOCKER_HOST) when absent" },
      registry: { type: "string", description: "a registry (host[:port]) each deploy pushes its image to first, from the server's engine, so every node pulls it by the registry's name" },
      registryAuth: { type: "string", description: "a global secret holding the registry's credentials (user:password or Docker's JSON auth), given to the push and to the nodes that pull" },
    },
    additionalProperties: false,
  },
  secrets: {
    type: "array",
    items: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" },
    description: "global secrets given to its deploys, each as an environment variable of the same name; each must exist (a missing one is a 400 naming it)",
  },
  description: { type: "string", maxLength: 500 },
  protection: {
    type: "object",
    properties: {
      pipelines: { type: "array", items: { type: "string" }, description: "ns/id patterns (* any characters) of the pipelines that may deploy" },
      branches: { type: "array", items: { type: "string" }, description: "patterns of the branch a GitHub push delivered (GANTRY_GITHUB_REF)" },
      approval: { type: "boolean", description: "the deploy must need an approval gate another person approved" },
      wait: { type: ["string", "number"], description: "a wait before the deploy (a duration, or milliseconds; answered in milliseconds)" },
    },
    additionalProperties: false,
  },
};
const environmentBody = { type: "object", required: ["provider"], properties: environmentSettings, additionalProperties: false };
const newEnvironmentBody = {
  type: "object",
  required: ["name", "provider"],
  properties: {
    name: { type: "string", pattern: "^[a-z0-9-]{1,64}$" },
    namespace: { type: ["string", "null"], pattern: "^[a-z0-9-]{1,64}$", description: "the namespace whose pipelines alone deploy here (its own, found before a shared one of the same name); absent or null: shared by every namespace" },
    ...environmentSettings,
  },
  additionalProperties: false,
};
const decisionBody = { type: "object", properties: { comment: { type: "string", maxLength: MAX_DECISION_COMMENT } } };
/** The pipeline as GET /pipelines/{ns}/{id} answers; `inputs` is what a run asks for. */
const pipelineResponse = {
  type: "object",
  properties: {
    pipeline: {
      type: "object",
      properties: {
        namespace: { type: "string" },
        id: { type: "string" },
        name: { type: "string" },
        version: { type: ["integer", "null"] },
        inputs: {
          type: "object",
          description:
            "the run inputs as a JSON Schema object: { type: object, properties: { <name>: { type: string|number|integer|boolean, enum?, default?, description?, minimum?, maximum?, minLength?, maxLength?, pattern?, format? } }, required: [names], additionalProperties: false }",
          properties: { type: { const: "object" }, properties: { type: "object" }, required: { type: "array", items: { type: "string" } }, additionalProperties: { const: false } },
        },
        error: { type: "object", description: "the load error of the file, if any" },
      },
    },
  },
};
const findingLevel = { type: "string", enum: ["error", "warning", "note"] };
/** GET .../runs/{run}/findings */
const findingsResponse = {
  type: "object",
  properties: {
    findings: {
      type: "array",
      items: {
        type: "object",
        properties: {
          task: { type: "string" },
          tool: { type: "string" },
          ruleId: { type: ["string", "null"] },
          level: findingLevel,
          message: { type: "string" },
          file: { type: ["string", "null"], description: "relative to the workspace" },
          line: { type: ["integer", "null"] },
          new: { type: "boolean" },
        },
      },
    },
    counts: { type: "object", properties: { error: { type: "integer" }, warning: { type: "integer" }, note: { type: "integer" } } },
    since: { type: ["integer", "null"] },
  },
};
/** GET .../runs/{run}/artifacts */
const artifactsResponse = {
  type: "object",
  properties: {
    artifacts: {
      type: "array",
      items: {
        type: "object",
        properties: {
          name: { type: "string" },
          task: { type: "string", description: "the task that stored it" },
          path: { type: "string", description: "where it was in the workspace, and where it is put back" },
          kind: { type: "string", enum: ["file", "folder"] },
          size: { type: "integer", description: "bytes of the stored tar" },
          sha256: { type: "string", description: "of the stored tar, hex" },
          createdAt: { type: "string", format: "date-time" },
        },
      },
    },
  },
};
const rerunBody = { type: "object", properties: { only: { type: "string", enum: ["all", "failed"], default: "all" } } };
const objectBody = { type: "string", format: "binary", description: "the object's bytes (size limited by GANTRY_OBJECT_MAX_BYTES)" };
const objectRoutes = (base: string, what: string): RouteDoc[] => [
  { method: "get", path: `${base}/objects`, summary: `${what} objects (key, size, sha256, dates)`, auth: true, success: 200 },
  { method: "get", path: `${base}/objects/{key}`, summary: `One of ${what.toLowerCase()} objects, as raw bytes`, auth: true, success: 200 },
  {
    method: "put",
    path: `${base}/objects/{key}`,
    summary: `Store one of ${what.toLowerCase()} objects from the raw body; 413 over the size limit`,
    auth: true,
    body: objectBody,
    bodyType: "application/octet-stream",
    success: 201,
  },
  { method: "delete", path: `${base}/objects/{key}`, summary: `Delete one of ${what.toLowerCase()} objects`, auth: true, success: 200 },
];
const secretBody = { type: "object", required: ["value"], properties: { value: { type: "string", minLength: MIN_SECRET_LENGTH } } };
const secretRoutes = (base: string, what: string): RouteDoc[] => [
  {
    method: "get",
    path: `${base}/secrets`,
    summary: `${what} secrets (names and dates, never values; warning when masking may miss parts of a value: JSON, a PEM key, several lines, short)`,
    auth: true,
    success: 200,
  },
  { method: "get", path: `${base}/secrets/{key}`, summary: `One of ${what.toLowerCase()} secrets: its metadata`, auth: true, success: 200 },
  { method: "put", path: `${base}/secrets/{key}`, summary: `Set one of ${what.toLowerCase()} secrets`, auth: true, body: secretBody, success: 201 },
  { method: "delete", path: `${base}/secrets/{key}`, summary: `Delete one of ${what.toLowerCase()} secrets`, auth: true, success: 200 },
];
const roleBody = {
  type: "object",
  required: ["permissions"],
  properties: {
    description: { type: "string" },
    permissions: {
      type: "array",
      items: {
        type: "object",
        required: ["resource", "target", "actions"],
        properties: {
          resource: { type: "string", enum: [...RESOURCES, "*"] },
          target: { type: "string", description: "regex matched in full against <namespace>/<pipeline>, \"global\" or \"*\"" },
          actions: { type: "array", items: { type: "string", enum: [...ACTIONS] } },
        },
      },
    },
  },
};
const subscriptionBody = {
  type: "object",
  required: ["extension"],
  properties: {
    extension: { type: "string", description: "an extension id (GET /extensions)" },
    params: { type: "object", description: "checked by the extension's params schema; a mismatch shows as the subscription's error" },
  },
};
const callBody = {
  type: "object",
  required: ["method", "args"],
  properties: { method: { type: "string", enum: ["startRun", "secret", "log", "getState", "setState", "event", "pushed"] }, args: { type: "array" } },
};
const tokenBody = {
  type: "object",
  required: ["name", "roles"],
  properties: {
    name: { type: "string" },
    roles: { type: "array", items: { type: "string", description: "admin, viewer or a custom role id" } },
    expiresAt: { type: "string", format: "date-time" },
  },
};

const userRolesBody = {
  type: "object",
  required: ["roles"],
  properties: { roles: { type: "array", items: { type: "string", description: "admin, viewer or a custom role id" }, minItems: 1 } },
};

export const API_ROUTES: RouteDoc[] = [
  { method: "get", path: "/health", summary: "Server status and version, with its subsystems: database, docker, sandbox (the run() sandbox: ok, off or unavailable, with why) and, with GANTRY_EXECUTOR=swarm, swarm (ok, degraded when services run without no-new-privileges, or unavailable when the engine is no swarm manager)", auth: false, success: 200 },
  { method: "get", path: "/pipelines", summary: "List pipelines", auth: true, query: ["namespace"], success: 200 },
  { method: "get", path: "/pipelines/{ns}/{id}", summary: "One pipeline with its current version, its inputs (JSON Schema) and load error", auth: true, success: 200, response: pipelineResponse },
  { method: "get", path: "/pipelines/{ns}/{id}/versions", summary: "Versions of a pipeline, newest first; one from a git source has commit { sha, author, message, committedAt, source, url? }", auth: true, success: 200 },
  {
    method: "get",
    path: "/pipelines/{ns}/{id}/versions/{version}/diff",
    summary: "What changed in a version: { from, to, complete, files: [{ path, status (added|removed|changed), patch (unified diff), added, removed }] } against the version before it, or against=N",
    auth: true,
    query: ["against"],
    success: 200,
  },
  { method: "post", path: "/pipelines/{ns}/{id}/runs", summary: "Start a run", auth: true, body: runBody, success: 201 },
  { method: "get", path: "/pipelines/{ns}/{id}/runs", summary: "Runs, newest first", auth: true, query: ["limit", "before"], success: 200 },
  { method: "get", path: "/pipelines/{ns}/{id}/runs/{run}", summary: "One run with its task executions and their attempts; a task waiting to retry has retryAt (ISO), one being stopped at its timeout the reason \"timed out after ..., stopping\"; one (and an attempt) whose log passed GANTRY_LOG_MAX_BYTES has log: { truncated: true, droppedLines, droppedBytes, maxBytes }", auth: true, success: 200 },
  {
    method: "post",
    path: "/pipelines/{ns}/{id}/runs/{run}/tasks/{task}/approve",
    summary:
      "Approve a waiting approval gate (runs:approve; one of its approvers roles when it names some; never the run's starter unless it allows self-approval); 409 when it is not waiting or its deadline passed. Answers { run }, or { task } to a caller without runs:read",
    auth: true,
    body: decisionBody,
    success: 200,
  },
  {
    method: "post",
    path: "/pipelines/{ns}/{id}/runs/{run}/tasks/{task}/reject",
    summary: "Reject a waiting approval gate: it ends failed with reason \"rejected by <who>: <comment>\" (same rules as approve)",
    auth: true,
    body: decisionBody,
    success: 200,
  },
  { method: "get", path: "/sources", summary: "Git sources of pipelines (sources:read), the local folder first as \"local\": state (new|syncing|ok|error), head commit, lastSyncAt, error, pipelines", auth: true, success: 200 },
  { method: "get", path: "/sources/{name}", summary: "One source with its last 50 synced commits (sha, author, message, loaded: whether it changed the folder)", auth: true, success: 200 },
  { method: "put", path: "/sources/{name}", summary: "Create (201) or change (200) a source (sources:write); it syncs in the background. Sources in gantry.toml answer 409", auth: true, body: sourceBody, success: 201 },
  {
    method: "post",
    path: "/sources/{name}/sync",
    summary: "Sync now and answer when done: { source, sync: { unchanged, head, commits, loaded, versions, failures, warnings } }; 502 upstream_failed when the repository cannot be reached (its last good versions stay)",
    auth: true,
    success: 200,
  },
  { method: "delete", path: "/sources/{name}", summary: "Delete a source: its pipelines are retired (runs and versions stay readable)", auth: true, success: 204 },
  {
    method: "get",
    path: "/environments",
    summary:
      "Environments the caller may read (environments:read on the key: its name, or <namespace>/<name> for a namespace's own): name, namespace (null when shared), provider, config, secrets (names only), description, protection, status { state: ok|failing|unknown, detail, checkedAt }; ?namespace= lists what that namespace's deploys reach (its own and the shared ones)",
    auth: true,
    query: ["namespace"],
    success: 200,
  },
  { method: "post", path: "/environments", summary: "Create an environment (environments:write on its key): 201 { environment }; 409 when the name is taken (in its namespace, or among the shared ones)", auth: true, body: newEnvironmentBody, success: 201 },
  {
    method: "get",
    path: "/environments/{name}",
    query: ["namespace"],
    summary:
      "One environment, what runs there now (current: [{ service, image, deployedAt, run: { namespace, pipeline, id }, task }], each service's newest succeeded deployment) and its last 50 deployments, newest first ({ id, service, image, previousImage, state: running|succeeded|failed|rolled_back, reason, strategy, run, task, startedAt, endedAt })",
    auth: true,
    success: 200,
  },
  { method: "put", path: "/environments/{name}", query: ["namespace"], summary: "Create (201) or change (200) an environment (environments:write); its deployments stay", auth: true, body: environmentBody, success: 201 },
  {
    method: "post",
    path: "/environments/{name}/test",
    query: ["namespace"],
    summary: "Test the connection (environments:read): the provider's own check (a swarm: the engine answers and is a swarm manager). 200 { ok: true, detail } or { ok: false, problem }",
    auth: true,
    success: 200,
  },
  {
    method: "post",
    path: "/environments/{name}/services/{service}/rollback",
    query: ["namespace"],
    summary: "Redeploy a service's previous successful image (environments:write): answers when the service runs it again, with the deployment (state succeeded, or failed and why); 404 when there is no earlier successful deployment",
    auth: true,
    success: 200,
  },
  { method: "delete", path: "/environments/{name}", query: ["namespace"], summary: "Delete an environment and its deployment history; the services deployed keep running on the target", auth: true, success: 204 },
  { method: "get", path: "/approvals", summary: "Approval gates waiting now, of pipelines whose runs the caller may read, each with mayDecide (and refusal: why not)", auth: true, success: 200 },
  { method: "post", path: "/pipelines/{ns}/{id}/runs/{run}/cancel", summary: "Cancel a run: a queued one ends at once, a running one is stopped by the node driving it", auth: true, success: 202 },
  {
    method: "post",
    path: "/pipelines/{ns}/{id}/runs/{run}/rerun",
    summary: 'Re-run an ended run on its version with its variables; only "failed" reuses its successful tasks and a copy of its workspace (409 if pruned)',
    auth: true,
    body: rerunBody,
    success: 201,
  },
  {
    method: "get",
    path: "/pipelines/{ns}/{id}/runs/{run}/tasks/{task}/logs",
    summary:
      "A task's log as text/plain (attempt=N: that attempt's part); follow=1 streams it as SSE until the task ends. Past the cap a log keeps its start and each attempt's last lines, a [gantry] line marking what was dropped",
    auth: true,
    query: ["follow", "attempt"],
    success: 200,
  },
  {
    method: "get",
    path: "/pipelines/{ns}/{id}/runs/{run}/findings",
    summary:
      "What the run's scans found (their SARIF reports): findings [{ task, tool, ruleId, level, message, file, line, new }] and counts { error, warning, note }; new: not among the findings of the pipeline's last successful run before it (since: that run's number, null when none)",
    auth: true,
    success: 200,
    response: findingsResponse,
  },
  ...secretRoutes("", "The global"),
  { method: "post", path: "/secrets/rotate-key", summary: "Re-encrypt every secret under a new key", auth: true, success: 200 },
  ...secretRoutes("/pipelines/{ns}/{id}", "A pipeline's own"),
  {
    method: "get",
    path: "/pipelines/{ns}/{id}/runs/{run}/artifacts",
    summary: "The artifacts the run's tasks stored: { artifacts: [{ name, task, path, kind (file|folder), size, sha256, createdAt }] } (runs:read)",
    auth: true,
    success: 200,
    response: artifactsResponse,
  },
  {
    method: "get",
    path: "/pipelines/{ns}/{id}/runs/{run}/artifacts/{name}",
    summary:
      "One artifact as a tar (application/x-tar, attachment), checked against its sha256 before a byte is sent (x-checksum-sha256 and digest headers); a corrupted one is a 409 saying so, never its bytes (runs:read)",
    auth: true,
    success: 200,
  },
  {
    method: "get",
    path: "/pipelines/{ns}/{id}/runs/{run}/bundle",
    summary:
      "The bundle of the run's version (text/javascript), the code its run() tasks import, checked against the version's sha256 first (x-checksum-sha256; a corrupted one is a 409). For the run's own bundle token (a runner in a swarm service fetches it) or pipelines:read; 404 once pruned",
    auth: true,
    success: 200,
  },
  {
    method: "get",
    path: "/pipelines/{ns}/{id}/caches",
    summary: "The pipeline's cache entries, most recently used first: { caches: [{ key, size, sha256, run, createdAt, lastUsedAt }], totalBytes, maxBytes (GANTRY_CACHE_MAX_BYTES) } (pipelines:read)",
    auth: true,
    success: 200,
  },
  ...objectRoutes("/pipelines/{ns}/{id}", "A pipeline's"),
  ...objectRoutes("/pipelines/{ns}/{id}/runs/{run}", "A run's"),
  { method: "get", path: "/events", summary: "The event log", auth: true, query: ["after", "limit"], success: 200 },
  { method: "get", path: "/events/stream", summary: "Live events (SSE)", auth: true, query: ["after"], success: 200 },
  { method: "get", path: "/extensions", summary: "Extensions: state, restarts, error, subscriptions, last 20 log lines", auth: true, success: 200 },
  { method: "get", path: "/extensions/available", summary: "Extensions on the npm registry (GANTRY_NPM_REGISTRY) with the keyword gantry-extension: { registry, packages: [{ name, version, description }] }; q= searches; 502 when the registry cannot be reached", auth: true, query: ["q"], success: 200 },
  {
    method: "post",
    path: "/extensions/install",
    summary: "Install an extension from the npm registry (extensions:write and system:write: installed code runs with the server's rights): body { package, version? }; its sha512 integrity checked, unpacked into the data dir, pinned (gantry.toml [extension_versions] when the server has one), started. 201 { id, installed, state, error?, pin: { file, problem? } } (pin: where the pin went; problem: why not gantry.toml)",
    auth: true,
    body: { type: "object", required: ["package"], properties: { package: { type: "string" }, version: { type: "string" } } },
    success: 201,
  },
  {
    method: "post",
    path: "/extensions/{id}/upgrade",
    summary: "Upgrade an installed extension to the latest (or body { version }) version (extensions:write and system:write): the new version starts before the old one goes; one that does not start is taken out and the old one runs again (400 naming the problem). Answers as install, with previous; 409 for a built-in one",
    auth: true,
    body: { type: "object", properties: { version: { type: "string" } } },
    success: 200,
  },
  { method: "delete", path: "/extensions/{id}", summary: "Uninstall an extension installed from the registry (extensions:write and system:write; never a built-in folder: 409); it stops first. { id, uninstalled, pin: { file, problem? } }", auth: true, success: 200 },
  { method: "get", path: "/extensions/{id}", summary: "One extension with its whole recent log", auth: true, success: 200 },
  {
    method: "post",
    path: "/extensions/{id}/calls",
    summary: "A container extension's call (startRun, secret, log, getState, setState); authenticated by Bearer <GANTRY_EXTENSION_SECRET>, not a user token (docs/extension-protocol.md)",
    auth: false,
    body: callBody,
    success: 200,
  },
  { method: "get", path: "/pipelines/{ns}/{id}/subscriptions", summary: "A pipeline's subscriptions to extensions, with their errors", auth: true, success: 200 },
  {
    method: "post",
    path: "/pipelines/{ns}/{id}/subscriptions",
    summary: "Subscribe a pipeline to an extension",
    auth: true,
    body: subscriptionBody,
    success: 201,
  },
  {
    method: "delete",
    path: "/pipelines/{ns}/{id}/subscriptions/{sub}",
    summary: "Remove a subscription made through the API (409 for one from the pipeline file)",
    auth: true,
    success: 200,
  },
  {
    method: "get",
    path: "/tokens",
    summary:
      "List tokens; those the engine issued to a task carry issuedTo: { run, task, scope }, a person's own (personal) ones their userId. Tokens a sign-in made to carry a web session are left out",
    auth: true,
    success: 200,
  },
  { method: "post", path: "/tokens", summary: "Create a token; its secret is returned once (tokens:write, or a signed-in person's own personal token, which must expire)", auth: true, body: tokenBody, success: 201 },
  { method: "get", path: "/tokens/whoami", summary: "The calling token and what it may do", auth: true, success: 200 },
  { method: "delete", path: "/tokens/{id}", summary: "Revoke a token (tokens:write, or a person's own personal token)", auth: true, success: 200 },
  { method: "get", path: "/roles", summary: "Built-in and custom roles", auth: true, success: 200 },
  { method: "get", path: "/roles/{id}", summary: "One role and its permissions", auth: true, success: 200 },
  { method: "put", path: "/roles/{id}", summary: "Create or replace a custom role", auth: true, body: roleBody, success: 201 },
  { method: "delete", path: "/roles/{id}", summary: "Delete a custom role", auth: true, success: 200 },
  {
    method: "get",
    path: "/users",
    summary: "People who signed in through an identity provider: groups, mapped, granted and effective roles, last sign-in, disabled (users:read)",
    auth: true,
    success: 200,
  },
  { method: "get", path: "/users/{id}", summary: "One person", auth: true, success: 200 },
  {
    method: "post",
    path: "/users/{id}/disable",
    summary: "Disable a person: their sessions and personal tokens stop at once (users:write; not yourself, not someone who may do more than you)",
    auth: true,
    success: 200,
  },
  { method: "post", path: "/users/{id}/enable", summary: "Enable a disabled person again; they sign in anew (users:write)", auth: true, success: 200 },
  {
    method: "post",
    path: "/users/{id}/grant",
    summary: "Grant roles to a person, kept across sign-ins; live sessions get them at once. Only what the caller holds may be granted",
    auth: true,
    body: userRolesBody,
    success: 200,
  },
  {
    method: "post",
    path: "/users/{id}/revoke",
    summary: "Revoke granted roles from a person (roles from their groups change at the identity provider)",
    auth: true,
    body: userRolesBody,
    success: 200,
  },
  { method: "get", path: "/system", summary: "Whether runs are paused, and the nodes working on this database with their heartbeats", auth: true, success: 200 },
  { method: "post", path: "/system/pause", summary: "Pause: new runs are accepted and wait queued; running ones finish", auth: true, success: 200 },
  { method: "post", path: "/system/resume", summary: "Resume: queued runs start, in order", auth: true, success: 200 },
  {
    method: "get",
    path: "/system/backup",
    summary:
      "A backup as application/gzip (a tar): a consistent database snapshot, logs, objects and pipeline bundles, with a manifest and sha256 list; never the secret key (system:write)",
    auth: true,
    success: 200,
  },
  { method: "get", path: "/openapi.json", summary: "This document", auth: true, success: 200 },
];

const errorSchema = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        problems: { type: "array", description: "invalid run inputs: every problem", items: { type: "object", properties: { input: { type: "string" }, message: { type: "string" } } } },
      },
    },
  },
};

function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    const parameters = [
      ...[...route.path.matchAll(/\{(\w+)\}/g)].map((match) => ({ name: match[1], in: "path", required: true, schema: { type: "string" } })),
      ...(route.query ?? []).map((name) => ({ name, in: "query", required: false, schema: { type: "string" } })),
    ];
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      ...(route.auth ? {} : { security: [] }),
      ...(parameters.length && { parameters }),
      ...(route.body && { requestBody: { content: { [route.bodyType ?? "application/json"]: { schema: route.body } } } }),
      responses: {
        [route.success]: { description: "success", ...(route.response && { content: { "application/json": { schema: route.response } } }) },
        default: { description: "error", content: { "application/json": { schema: errorSchema } } },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Gantry API", version: GANTRY_VERSION },
    servers: [{ url: "/api/v1" }],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths,
  };
}

export const openApi = new Hono<AppEnv>().get("/", (c) => c.json(openApiDocument()));
