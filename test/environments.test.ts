// /api/v1/environments on a real server: create, read, change and delete environments, every
// problem of a body named, secrets checked by name and never shown, permissions by environment
// key, what runs in an environment now and its history, a connection test against an engine
// that answers nothing (no swarm needed: this file never touches the machine's swarm) and the
// status it leaves, a namespace's own environments beside the shared ones (`?namespace=`), and
// the registry an environment's deploys push to with the secret holding its credentials.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { finishDeployment, insertDeployment } from "../app/db/repos/deployments.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";

setDefaultTimeout(30_000);

/** An engine address where nothing listens (the discard port). */
const NOWHERE = "tcp://127.0.0.1:9";
const SECRET_VALUE = "s3cret-value-never-shown";

let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startTestGantry();
  expect((await gantry.api("/secrets/DB_PASSWORD", { method: "PUT", body: JSON.stringify({ value: SECRET_VALUE }) })).status).toBe(201);
});
afterAll(() => gantry?.stop());

const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const send = (method: string, path: string, body: unknown) => api(path, { method, body: JSON.stringify(body) });

interface EnvironmentJson {
  name: string;
  namespace: string | null;
  provider: string;
  config: { dockerHost?: string; registry?: string; registryAuth?: string };
  status: { state: "ok" | "failing" | "unknown"; detail?: string; checkedAt?: string };
  secrets: string[];
  description?: string;
  createdAt: string;
  updatedAt: string;
}

async function errorOf(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(response.status, body.error?.message).toBe(status);
  expect(body.error.code).toBe(code);
  return body.error.message;
}

async function tokenWithRole(role: string, permissions: unknown[]): Promise<string> {
  expect((await send("PUT", `/roles/${role}`, { permissions })).status).toBeOneOf([200, 201]);
  const response = await send("POST", "/tokens", { name: `${role}-token`, roles: [role] });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

const as = (secret: string, method: string, path: string, body?: unknown) =>
  fetch(`${gantry.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });

describe("environments", () => {
  it("creates one, lists it, shows it with nothing deployed yet", async () => {
    const created = await send("POST", "/environments", {
      name: "staging",
      provider: "swarm",
      config: { dockerHost: NOWHERE },
      secrets: ["DB_PASSWORD"],
      description: "Where changes land first",
    });
    expect(created.status).toBe(201);
    const { environment } = (await created.json()) as { environment: EnvironmentJson };
    expect(environment).toMatchObject({
      name: "staging",
      namespace: null,
      provider: "swarm",
      config: { dockerHost: NOWHERE },
      secrets: ["DB_PASSWORD"],
      description: "Where changes land first",
      // Nothing has tested it yet, nor deployed to it.
      status: { state: "unknown" },
    });
    expect(environment.createdAt).toBe(environment.updatedAt);

    const list = (await (await api("/environments")).json()) as { environments: EnvironmentJson[] };
    expect(list.environments.map((one) => one.name)).toContain("staging");

    const shown = await api("/environments/staging");
    expect(shown.status).toBe(200);
    const text = await shown.text();
    // Secrets are named, never given.
    expect(text).not.toContain(SECRET_VALUE);
    expect(JSON.parse(text)).toMatchObject({ environment: { name: "staging", secrets: ["DB_PASSWORD"] }, current: [], deployments: [] });
  });

  it("fills in the defaults: the server's engine, no secrets", async () => {
    const created = await send("POST", "/environments", { name: "bare", provider: "swarm" });
    expect(created.status).toBe(201);
    const { environment } = (await created.json()) as { environment: EnvironmentJson };
    expect(environment).toMatchObject({ name: "bare", provider: "swarm", config: {}, secrets: [] });
    expect(environment.description).toBeUndefined();
  });

  it("refuses to create one whose name is taken, and changes nothing", async () => {
    const message = await errorOf(await send("POST", "/environments", { name: "staging", provider: "swarm" }), 409, "conflict");
    expect(message).toContain("environment staging already exists");
    const { environment } = (await (await api("/environments/staging")).json()) as { environment: EnvironmentJson };
    expect(environment.config.dockerHost).toBe(NOWHERE);
  });

  it("creates with PUT (201) and changes with PUT (200), keeping createdAt", async () => {
    const first = await send("PUT", "/environments/production", { provider: "swarm", config: { dockerHost: "unix:///var/run/docker.sock" } });
    expect(first.status).toBe(201);
    const before = ((await first.json()) as { environment: EnvironmentJson }).environment;
    await Bun.sleep(5);
    const second = await send("PUT", "/environments/production", { provider: "swarm", config: { dockerHost: NOWHERE }, description: "Live" });
    expect(second.status).toBe(200);
    const after = ((await second.json()) as { environment: EnvironmentJson }).environment;
    expect(after).toMatchObject({ name: "production", config: { dockerHost: NOWHERE }, secrets: [], description: "Live" });
    expect(after.createdAt).toBe(before.createdAt);
    expect(after.updatedAt > before.updatedAt).toBe(true);
    // A PUT replaces the settings: what it leaves out is gone.
    const third = await send("PUT", "/environments/production", { provider: "swarm" });
    expect(((await third.json()) as { environment: EnvironmentJson }).environment).toMatchObject({ config: {}, secrets: [] });
  });

  it("names every problem of a body in one message", async () => {
    const message = await errorOf(
      await send("POST", "/environments", {
        name: "Not_A_Name",
        provider: "kubernetes",
        config: { dockerHost: "http://manager:2375", region: "eu" },
        secrets: ["db.password", "GANTRY_TOKEN", "A", "A"],
        description: "two\nlines",
        protection: { branches: ["ok/*", "bad branch"], wait: "soon", colour: "red" },
      }),
      400,
      "invalid",
    );
    for (const part of [
      "name: an environment name must be 1-64 characters of a-z, 0-9 and -",
      "protection.branches: a pattern may hold only letters, digits, . _ - / and *",
      'protection takes pipelines, branches, approval and wait, not "colour"',
      "provider must be one of: swarm",
      'secrets: "db.password" cannot be given as an environment variable',
      'secrets: "GANTRY_TOKEN": GANTRY_* names are reserved',
      'secrets: "A" is named twice',
      "description must be one line",
    ]) {
      expect(message).toContain(part);
    }
    // The config is checked by the provider's own schema, so with a provider Gantry knows.
    const config = await errorOf(await send("POST", "/environments", { name: "config-check", provider: "swarm", config: { dockerHost: "http://manager:2375", region: "eu" } }), 400, "invalid");
    expect(config).toContain("unknown field config.region");
    const host = await errorOf(await send("POST", "/environments", { name: "config-check", provider: "swarm", config: { dockerHost: "http://manager:2375" } }), 400, "invalid");
    expect(host).toContain('config.dockerHost must be "unix:///path/to/docker.sock" or "tcp://host:port"');
  });

  it("asks for what is missing and checks engine URLs", async () => {
    expect(await errorOf(await send("POST", "/environments", {}), 400, "invalid")).toBe("name is required (1-64 characters of a-z, 0-9 and -); provider is required (one of: swarm)");
    expect(await errorOf(await send("PUT", "/environments/x", { config: {} }), 400, "invalid")).toContain("provider is required");
    const port = await errorOf(await send("PUT", "/environments/x", { provider: "swarm", config: { dockerHost: "tcp://manager" } }), 400, "invalid");
    expect(port).toContain("config.dockerHost must name the port");
    const relative = await errorOf(await send("PUT", "/environments/x", { provider: "swarm", config: { dockerHost: "unix://docker.sock" } }), 400, "invalid");
    expect(relative).toContain("absolute path");
    const credentials = await errorOf(await send("PUT", "/environments/x", { provider: "swarm", config: { dockerHost: "tcp://me:pw@manager:2375" } }), 400, "invalid");
    expect(credentials).toContain("must not carry credentials");
    expect(await errorOf(await send("PUT", "/environments/x", ["swarm"]), 400, "invalid")).toContain("must be an object");
    expect(await errorOf(await api("/environments/Bad_Name"), 400, "invalid")).toContain("name");
    // Nothing was created by the refused requests.
    await errorOf(await api("/environments/x"), 404, "not_found");
  });

  it("refuses secrets that are not global secrets, naming them", async () => {
    const message = await errorOf(await send("PUT", "/environments/staging", { provider: "swarm", secrets: ["DB_PASSWORD", "API_KEY", "SMTP_PASSWORD"] }), 400, "invalid");
    expect(message).toBe('secrets: "API_KEY", "SMTP_PASSWORD" are not global secrets; set them first (gantry secret set <name>)');
    const created = await errorOf(await send("POST", "/environments", { name: "qa", provider: "swarm", secrets: ["API_KEY"] }), 400, "invalid");
    expect(created).toContain('"API_KEY" is not a global secret');
    await errorOf(await api("/environments/qa"), 404, "not_found");
    // Once set, it may be named.
    expect((await send("PUT", "/secrets/API_KEY", { value: "another-long-value" })).status).toBe(201);
    const saved = await send("PUT", "/environments/staging", { provider: "swarm", config: { dockerHost: NOWHERE }, secrets: ["DB_PASSWORD", "API_KEY"] });
    expect(saved.status).toBe(200);
    const text = await saved.text();
    expect(text).not.toContain(SECRET_VALUE);
    expect(text).not.toContain("another-long-value");
    expect((JSON.parse(text) as { environment: EnvironmentJson }).environment.secrets).toEqual(["DB_PASSWORD", "API_KEY"]);
  });

  it("shows what runs now (each service's newest succeeded deployment) and the history, newest first", async () => {
    const { db } = gantry.deps;
    const at = (minute: number) => new Date(Date.UTC(2025, 0, 1, 12, minute));
    const deploy = async (service: string, image: string, state: "succeeded" | "failed" | "rolled_back" | "running", minute: number, previousImage?: string) => {
      const id = await insertDeployment(db, { environment: "staging", service, image, namespace: "default", pipelineId: "ship", runId: minute, taskId: "deploy", strategy: "rolling", startedAt: at(minute) });
      if (state !== "running") await finishDeployment(db, id, { state, ...(state !== "succeeded" && { reason: "task unhealthy" }), previousImage: previousImage ?? null, endedAt: at(minute + 1) });
      return id;
    };
    await deploy("web", "app:1", "succeeded", 1);
    await deploy("api", "api:1", "succeeded", 2);
    await deploy("web", "app:2", "succeeded", 3, "app:1");
    await deploy("web", "app:3", "rolled_back", 5, "app:2");
    const last = await deploy("api", "api:2", "running", 7, "api:1");

    const body = (await (await api("/environments/staging")).json()) as {
      current: { service: string; image: string; deployedAt: string; run: { namespace: string; pipeline: string; id: number }; task: string }[];
      deployments: { id: number; service: string; image: string; previousImage: string | null; state: string; reason?: string; strategy: string; startedAt: string; endedAt: string | null }[];
    };
    expect(body.current).toEqual([
      { service: "api", image: "api:1", deployedAt: at(3).toISOString(), run: { namespace: "default", pipeline: "ship", id: 2 }, task: "deploy" },
      { service: "web", image: "app:2", deployedAt: at(4).toISOString(), run: { namespace: "default", pipeline: "ship", id: 3 }, task: "deploy" },
    ]);
    expect(body.deployments.map((one) => `${one.service} ${one.image} ${one.state}`)).toEqual([
      "api api:2 running",
      "web app:3 rolled_back",
      "web app:2 succeeded",
      "api api:1 succeeded",
      "web app:1 succeeded",
    ]);
    expect(body.deployments[0]).toMatchObject({ id: last, previousImage: null, strategy: "rolling", endedAt: null });
    expect(body.deployments[1]).toMatchObject({ previousImage: "app:2", reason: "task unhealthy" });
    // Another environment's history is its own.
    expect(((await (await api("/environments/production")).json()) as { deployments: unknown[] }).deployments).toEqual([]);
  });

  it("tests the connection: an engine that answers nothing is ok: false with the reason", async () => {
    const started = Date.now();
    const response = await send("POST", "/environments/staging/test", {});
    expect(response.status).toBe(200);
    const outcome = (await response.json()) as { ok: boolean; problem?: string; detail?: string };
    expect(outcome.ok).toBe(false);
    expect(outcome.detail).toBeUndefined();
    expect(outcome.problem).toContain("127.0.0.1:9");
    expect(outcome.problem!.length).toBeGreaterThan(20);
    expect(Date.now() - started).toBeLessThan(10_000);
    await errorOf(await send("POST", "/environments/nowhere/test", {}), 404, "not_found");
  });

  it("deletes one with its history; deleting again is a 404", async () => {
    expect((await api("/environments/staging", { method: "DELETE" })).status).toBe(204);
    expect(await errorOf(await api("/environments/staging"), 404, "not_found")).toBe("environment staging not found");
    expect(await errorOf(await api("/environments/staging", { method: "DELETE" }), 404, "not_found")).toBe("environment staging not found");
    // Made again under the same name, it starts with no history.
    expect((await send("PUT", "/environments/staging", { provider: "swarm" })).status).toBe(201);
    expect(await (await api("/environments/staging")).json()).toMatchObject({ current: [], deployments: [] });
  });

  it("records each change as an event, by name", async () => {
    const { events } = (await (await api("/events?limit=1000")).json()) as { events: { kind: string; data: Record<string, unknown> }[] };
    const changes = events.filter((event) => event.kind.startsWith("environment.")).map((event) => `${event.kind} ${String(event.data.environment)}`);
    expect(changes).toEqual(
      expect.arrayContaining(["environment.created staging", "environment.changed staging", "environment.removed staging", "environment.created production", "environment.changed production"]),
    );
    expect(JSON.stringify(events)).not.toContain(SECRET_VALUE);
  });
});

describe("environment permissions", () => {
  it("limits a token to the environments its target matches", async () => {
    const secret = await tokenWithRole("staging-deployer", [{ resource: "environments", target: "staging", actions: ["read", "write"] }]);
    const list = (await (await as(secret, "GET", "/environments")).json()) as { environments: EnvironmentJson[] };
    expect(list.environments.map((one) => one.name)).toEqual(["staging"]);

    expect((await as(secret, "GET", "/environments/staging")).status).toBe(200);
    expect((await as(secret, "PUT", "/environments/staging", { provider: "swarm", description: "mine" })).status).toBe(200);
    expect((await as(secret, "POST", "/environments/staging/test")).status).toBe(200);

    // Another environment, existing or not, is a 403 naming the permission, before anything else is looked at.
    for (const [method, path, body] of [
      ["GET", "/environments/production", undefined],
      ["PUT", "/environments/production", { provider: "swarm" }],
      ["PUT", "/environments/production", { nonsense: true }],
      ["DELETE", "/environments/production", undefined],
      ["POST", "/environments/production/test", undefined],
      ["GET", "/environments/no-such-env", undefined],
      ["POST", "/environments", { name: "other", provider: "swarm" }],
      ["POST", "/environments", {}],
    ] as const) {
      const response = await as(secret, method, path, body);
      const message = await errorOf(response, 403, "forbidden");
      expect(message).toMatch(/lacks permission environments:(read|write) on \S+/);
    }
    expect(await errorOf(await as(secret, "GET", "/environments/production"), 403, "forbidden")).toContain("environments:read on production");
    expect(await errorOf(await as(secret, "POST", "/environments", { name: "other", provider: "swarm" }), 403, "forbidden")).toContain("environments:write on other");
    // Deleting its own is allowed; the other environments are untouched.
    expect((await as(secret, "DELETE", "/environments/staging")).status).toBe(204);
    expect((await api("/environments/production")).status).toBe(200);
  });

  it("lets a reader look and test but not change", async () => {
    expect((await send("PUT", "/environments/staging", { provider: "swarm", config: { dockerHost: NOWHERE } })).status).toBe(201);
    const secret = await tokenWithRole("env-reader", [{ resource: "environments", target: ".*", actions: ["read"] }]);
    expect((await as(secret, "GET", "/environments/staging")).status).toBe(200);
    expect((await as(secret, "POST", "/environments/staging/test")).status).toBe(200);
    expect(await errorOf(await as(secret, "PUT", "/environments/staging", { provider: "swarm" }), 403, "forbidden")).toContain("environments:write on staging");
    expect(await errorOf(await as(secret, "DELETE", "/environments/staging"), 403, "forbidden")).toContain("environments:write on staging");
  });
});

describe("environments of a namespace", () => {
  const body = async (response: Response) => ((await response.json()) as { environment: EnvironmentJson }).environment;

  it("keeps a namespace's own beside a shared one of the same name, each by its address", async () => {
    expect((await send("PUT", "/environments/qa", { provider: "swarm", config: { dockerHost: NOWHERE }, description: "shared" })).status).toBe(201);
    const own = await send("POST", "/environments", { name: "qa", namespace: "team-a", provider: "swarm", config: { dockerHost: "tcp://127.0.0.1:10" }, description: "team-a's" });
    expect(own.status).toBe(201);
    expect(await body(own)).toMatchObject({ name: "qa", namespace: "team-a", config: { dockerHost: "tcp://127.0.0.1:10" }, description: "team-a's" });
    // A second of either is taken; a third namespace's is not.
    expect(await errorOf(await send("POST", "/environments", { name: "qa", namespace: "team-a", provider: "swarm" }), 409, "conflict")).toContain("environment team-a/qa already exists");
    expect((await send("PUT", "/environments/qa?namespace=team-b", { provider: "swarm", description: "team-b's" })).status).toBe(201);

    expect(await body(await api("/environments/qa"))).toMatchObject({ namespace: null, description: "shared" });
    expect(await body(await api("/environments/qa?namespace=team-a"))).toMatchObject({ namespace: "team-a", description: "team-a's" });
    expect(await errorOf(await api("/environments/qa?namespace=team-c"), 404, "not_found")).toBe("environment team-c/qa not found");
    expect(await errorOf(await api("/environments/qa?namespace=Team_A"), 400, "invalid")).toContain("namespace");

    // Changing one leaves the other as it was.
    expect((await send("PUT", "/environments/qa?namespace=team-a", { provider: "swarm", description: "team-a's, changed" })).status).toBe(200);
    expect((await body(await api("/environments/qa"))).description).toBe("shared");
  });

  it("lists every environment, or with ?namespace= what that namespace's deploys reach", async () => {
    const all = (await (await api("/environments")).json()) as { environments: EnvironmentJson[] };
    const keys = all.environments.map((one) => (one.namespace === null ? one.name : `${one.namespace}/${one.name}`));
    expect(keys).toEqual(expect.arrayContaining(["qa", "team-a/qa", "team-b/qa", "production"]));

    const reach = (await (await api("/environments?namespace=team-a")).json()) as { environments: EnvironmentJson[] };
    const reached = reach.environments.map((one) => `${one.namespace ?? "*"}/${one.name}`);
    expect(reached).toContain("team-a/qa");
    expect(reached).toContain("*/qa");
    expect(reached).toContain("*/production");
    expect(reached).not.toContain("team-b/qa");
    expect(await errorOf(await api("/environments?namespace=../x"), 400, "invalid")).toContain("namespace");
  });

  it("lets a permission on team-a/.* manage team-a's own environments and nothing else", async () => {
    const secret = await tokenWithRole("team-a-envs", [{ resource: "environments", target: "team-a/.*", actions: ["read", "write"] }]);
    const list = (await (await as(secret, "GET", "/environments")).json()) as { environments: EnvironmentJson[] };
    expect(list.environments.map((one) => `${one.namespace}/${one.name}`)).toEqual(["team-a/qa"]);

    expect((await as(secret, "GET", "/environments/qa?namespace=team-a")).status).toBe(200);
    expect((await as(secret, "POST", "/environments", { name: "preview", namespace: "team-a", provider: "swarm" })).status).toBe(201);
    expect((await as(secret, "PUT", "/environments/preview?namespace=team-a", { provider: "swarm", description: "mine" })).status).toBe(200);
    expect((await as(secret, "POST", "/environments/preview/test?namespace=team-a")).status).toBe(200);

    // The shared one of the same name and another namespace's are refused first, by key.
    expect(await errorOf(await as(secret, "GET", "/environments/qa"), 403, "forbidden")).toContain("environments:read on qa");
    expect(await errorOf(await as(secret, "PUT", "/environments/qa", { provider: "swarm" }), 403, "forbidden")).toContain("environments:write on qa");
    expect(await errorOf(await as(secret, "DELETE", "/environments/qa?namespace=team-b"), 403, "forbidden")).toContain("environments:write on team-b/qa");
    expect(await errorOf(await as(secret, "POST", "/environments", { name: "preview", provider: "swarm" }), 403, "forbidden")).toContain("environments:write on preview");
    expect(await errorOf(await as(secret, "POST", "/environments", { name: "preview", namespace: "team-b", provider: "swarm" }), 403, "forbidden")).toContain(
      "environments:write on team-b/preview",
    );
    expect(await errorOf(await as(secret, "POST", "/environments/qa/services/web/rollback?namespace=team-b"), 403, "forbidden")).toContain("environments:write on team-b/qa");

    expect((await as(secret, "DELETE", "/environments/preview?namespace=team-a")).status).toBe(204);
    expect((await api("/environments/qa")).status).toBe(200);
    expect((await api("/environments/qa?namespace=team-b")).status).toBe(200);
  });

  it("keeps each one's deployments apart", async () => {
    const at = new Date(Date.UTC(2025, 0, 2));
    const id = await insertDeployment(gantry.deps.db, { environment: "team-a/qa", service: "web", image: "team-a-app:1", namespace: "team-a", pipelineId: "ship", runId: 1, taskId: "deploy", strategy: "rolling", startedAt: at });
    await finishDeployment(gantry.deps.db, id, { state: "succeeded", previousImage: null, endedAt: at });
    const own = (await (await api("/environments/qa?namespace=team-a")).json()) as { current: { image: string }[] };
    expect(own.current.map((one) => one.image)).toEqual(["team-a-app:1"]);
    const shared = (await (await api("/environments/qa")).json()) as { current: unknown[] };
    expect(shared.current).toEqual([]);
  });
});

describe("environment status", () => {
  it("is unknown until tested, then failing with what the test found, and when", async () => {
    expect((await send("PUT", "/environments/status-check?namespace=team-a", { provider: "swarm", config: { dockerHost: NOWHERE } })).status).toBe(201);
    const before = ((await (await api("/environments/status-check?namespace=team-a")).json()) as { environment: EnvironmentJson }).environment;
    expect(before.status).toEqual({ state: "unknown" });

    const started = Date.now();
    const tested = (await (await send("POST", "/environments/status-check/test?namespace=team-a", {})).json()) as { ok: boolean; problem: string };
    expect(tested.ok).toBe(false);

    const after = ((await (await api("/environments/status-check?namespace=team-a")).json()) as { environment: EnvironmentJson }).environment;
    expect(after.status.state).toBe("failing");
    expect(after.status.detail).toBe(tested.problem);
    expect(after.status.detail).toContain("127.0.0.1:9");
    expect(Date.parse(after.status.checkedAt!)).toBeGreaterThanOrEqual(started - 1000);
    // The list says the same; another environment of that name is untouched.
    const listed = (await (await api("/environments?namespace=team-a")).json()) as { environments: EnvironmentJson[] };
    expect(listed.environments.find((one) => one.name === "status-check")?.status.state).toBe("failing");
    expect((await send("PUT", "/environments/status-check", { provider: "swarm" })).status).toBe(201);
    expect(((await (await api("/environments/status-check")).json()) as { environment: EnvironmentJson }).environment.status).toEqual({ state: "unknown" });
    // Changing the settings keeps the last word until the next test.
    expect((await send("PUT", "/environments/status-check?namespace=team-a", { provider: "swarm", config: { dockerHost: NOWHERE }, description: "x" })).status).toBe(200);
    expect(((await (await api("/environments/status-check?namespace=team-a")).json()) as { environment: EnvironmentJson }).environment.status.state).toBe("failing");
  });
});

describe("an environment's registry", () => {
  it("takes a registry and the global secret holding its credentials, never showing the value", async () => {
    expect((await send("PUT", "/secrets/REGISTRY_LOGIN", { value: "pusher:registry-password-never-shown" })).status).toBe(201);
    const saved = await send("PUT", "/environments/pushing", { provider: "swarm", config: { dockerHost: NOWHERE, registry: "127.0.0.1:5000", registryAuth: "REGISTRY_LOGIN" } });
    expect(saved.status).toBe(201);
    const text = await saved.text();
    expect(text).not.toContain("registry-password-never-shown");
    expect((JSON.parse(text) as { environment: EnvironmentJson }).environment.config).toEqual({ dockerHost: NOWHERE, registry: "127.0.0.1:5000", registryAuth: "REGISTRY_LOGIN" });
  });

  it("refuses credentials without a registry, naming the field", async () => {
    const message = await errorOf(await send("PUT", "/environments/pushing", { provider: "swarm", config: { registryAuth: "REGISTRY_LOGIN" } }), 400, "invalid");
    expect(message).toContain("config.registryAuth");
    expect(message).toContain("config.registry");
    const created = await errorOf(await send("POST", "/environments", { name: "no-registry", provider: "swarm", config: { registryAuth: "REGISTRY_LOGIN" } }), 400, "invalid");
    expect(created).toContain("config.registryAuth");
    await errorOf(await api("/environments/no-registry"), 404, "not_found");
  });

  it("refuses credentials from a secret that does not exist, naming it", async () => {
    const message = await errorOf(await send("PUT", "/environments/pushing", { provider: "swarm", config: { registry: "127.0.0.1:5000", registryAuth: "NO_SUCH_LOGIN" } }), 400, "invalid");
    expect(message).toContain('config.registryAuth names "NO_SUCH_LOGIN", which is not a global secret');
    // Nothing changed.
    expect(((await (await api("/environments/pushing")).json()) as { environment: EnvironmentJson }).environment.config.registryAuth).toBe("REGISTRY_LOGIN");
  });

  it("takes the right to write global secrets to name the credentials, as to name any secret", async () => {
    const secret = await tokenWithRole("env-writer", [{ resource: "environments", target: ".*", actions: ["read", "write"] }]);
    const refused = await as(secret, "PUT", "/environments/pushing", { provider: "swarm", config: { registry: "127.0.0.1:5000", registryAuth: "REGISTRY_LOGIN" } });
    expect(await errorOf(refused, 403, "forbidden")).toContain("secrets:write on global");
    // Without credentials, the registry alone is fine.
    expect((await as(secret, "PUT", "/environments/pushing", { provider: "swarm", config: { registry: "127.0.0.1:5000" } })).status).toBe(200);
  });
});
