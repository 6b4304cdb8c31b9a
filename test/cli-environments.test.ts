// `gantry env` against a real server: each command runs as a subprocess and is judged by its
// exit code, stdout and stderr. The connection test aims at an engine that answers nothing, so
// this file never depends on (or touches) the machine's swarm. A namespace's own environments
// are named with -n, beside the shared ones of the same name.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { finishDeployment, insertDeployment } from "../app/db/repos/deployments.ts";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { runCli } from "./helpers/cli.ts";

// Servers and CLI processes need more than bun test's 5 s default.
setDefaultTimeout(60_000);

const NOWHERE = "tcp://127.0.0.1:9";
const SECRET_VALUE = "cli-secret-value-never-shown";

let gantry: TestGantry;

const cli = (args: string[]) => runCli(args, { server: gantry, env: { NO_COLOR: "1" } });

beforeAll(async () => {
  gantry = await startTestGantry();
});
afterAll(() => gantry?.stop());

describe("gantry env", () => {
  it("says when there is nothing to list", async () => {
    const listed = await cli(["env", "ls"]);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout.trim()).toBe("no environments you may read");
  });

  it("needs --provider to create one, and global secrets that exist", async () => {
    const noProvider = await cli(["env", "set", "staging", "--docker-host", NOWHERE]);
    expect(noProvider.exitCode).toBe(2);
    expect(noProvider.stderr).toContain("environment staging does not exist yet: --provider is required");

    const missing = await cli(["env", "set", "staging", "--provider", "swarm", "--secret", "DB_PASSWORD"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('gantry: secrets: "DB_PASSWORD" is not a global secret; set it first');

    const badHost = await cli(["env", "set", "staging", "--provider", "swarm", "--docker-host", "http://manager:2375"]);
    expect(badHost.exitCode).toBe(2);
    expect(badHost.stderr).toContain('config.dockerHost must be "unix:///path/to/docker.sock" or "tcp://host:port"');

    const badName = await cli(["env", "get", "Staging"]);
    expect(badName.exitCode).toBe(2);
    expect(badName.stderr).toContain('"Staging" is not an environment name: must be 1-64 characters of a-z, 0-9 and -');
    expect(badName.stderr).toContain("usage: gantry env get <name>");
  });

  it("creates one with its engine, secrets and description", async () => {
    // `secret set` reads the value from stdin.
    const stored = await runCli(["secret", "set", "DB_PASSWORD"], { server: gantry, env: { NO_COLOR: "1" }, stdin: SECRET_VALUE });
    expect(stored.exitCode).toBe(0);

    const created = await cli(["env", "set", "staging", "--provider", "swarm", "--docker-host", NOWHERE, "--secret", "DB_PASSWORD", "--description", "Where changes land first"]);
    expect(created.stderr).toBe("");
    expect(created.exitCode).toBe(0);
    expect(created.stdout).toContain("created environment staging");
    expect(created.stdout).toMatch(/provider\s+swarm/);
    expect(created.stdout).toMatch(new RegExp(`docker host\\s+${NOWHERE.replace(/[.]/g, "\\.")}`));
    expect(created.stdout).toMatch(/secrets\s+DB_PASSWORD/);
    expect(created.stdout).toMatch(/description\s+Where changes land first/);
    expect(created.stdout).toContain("gantry env test staging");
    expect(created.stdout).not.toContain(SECRET_VALUE);
  });

  it("changes only the flags given", async () => {
    const changed = await cli(["env", "set", "staging", "--description", "Staging, shared"]);
    expect(changed.stderr).toBe("");
    expect(changed.exitCode).toBe(0);
    expect(changed.stdout).toContain("updated environment staging");
    expect(changed.stdout).toMatch(new RegExp(`docker host\\s+${NOWHERE.replace(/[.]/g, "\\.")}`));
    expect(changed.stdout).toMatch(/secrets\s+DB_PASSWORD/);
    expect(changed.stdout).toMatch(/description\s+Staging, shared/);

    const nothing = await cli(["env", "set", "staging"]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain("nothing to change");

    const contradiction = await cli(["env", "set", "staging", "--secret", "DB_PASSWORD", "--no-secrets"]);
    expect(contradiction.exitCode).toBe(2);
    expect(contradiction.stderr).toContain("--secret and --no-secrets contradict each other");

    const json = await cli(["env", "set", "production", "--provider", "swarm", "--json"]);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ environment: { name: "production", provider: "swarm", config: {}, secrets: [] } });
  });

  it("lists environments with their target and secrets", async () => {
    const listed = await cli(["env", "ls"]);
    expect(listed.exitCode).toBe(0);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+NAMESPACE\s+STATUS\s+PROVIDER\s+TARGET\s+SECRETS\s+DESCRIPTION$/);
    expect(lines.find((line) => line.startsWith("production "))).toMatch(/^production\s+\(shared\)\s+unknown\s+swarm\s+\(server's engine\)\s+-/);
    expect(lines.find((line) => line.startsWith("staging "))).toMatch(new RegExp(`^staging\\s+\\(shared\\)\\s+unknown\\s+swarm\\s+${NOWHERE.replace(/[.]/g, "\\.")}\\s+DB_PASSWORD\\s+Staging, shared$`));

    const json = await cli(["env", "ls", "--json"]);
    expect(json.exitCode).toBe(0);
    expect((JSON.parse(json.stdout) as { environments: { name: string }[] }).environments.map((one) => one.name)).toEqual(["production", "staging"]);
  });

  it("shows settings, what runs now and the history", async () => {
    const empty = await cli(["env", "get", "staging"]);
    expect(empty.exitCode).toBe(0);
    expect(empty.stdout).toContain("environment staging");
    expect(empty.stdout).toMatch(/namespace\s+all namespaces \(shared\)/);
    expect(empty.stdout).toMatch(/status\s+unknown \(never tested; gantry env test\)/);
    expect(empty.stdout).toMatch(/created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect(empty.stdout).toContain("nothing deployed here yet");

    // Deployments as a deploy task records them.
    const { db } = gantry.deps;
    const startedAt = new Date();
    const first = await insertDeployment(db, { environment: "staging", service: "web", image: "app:1", namespace: "default", pipelineId: "ship", runId: 4, taskId: "deploy", strategy: "rolling", startedAt });
    await finishDeployment(db, first, { state: "succeeded", previousImage: null, endedAt: new Date() });
    const second = await insertDeployment(db, { environment: "staging", service: "web", image: "app:2", namespace: "default", pipelineId: "ship", runId: 5, taskId: "deploy", strategy: "rolling", startedAt });
    await finishDeployment(db, second, { state: "rolled_back", reason: "task exited with 1", previousImage: "app:1", endedAt: new Date() });

    const shown = await cli(["env", "get", "staging"]);
    expect(shown.exitCode).toBe(0);
    const out = shown.stdout;
    expect(out).toContain("running now:");
    expect(out).toMatch(/^SERVICE\s+IMAGE\s+DEPLOYED\s+RUN\s+TASK$/m);
    expect(out).toMatch(/^web\s+app:1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(.+ ago\)\s+default\/ship #4\s+deploy$/m);
    expect(out).toContain("deployments (the last 2, newest first):");
    expect(out).toMatch(/^ID\s+SERVICE\s+IMAGE\s+STATE\s+STRATEGY\s+RUN\s+STARTED\s+NOTE$/m);
    expect(out).toMatch(new RegExp(`^${second}\\s+web\\s+app:2\\s+rolled_back\\s+rolling\\s+default/ship #5\\s+\\S+ \\S+\\s+task exited with 1$`, "m"));
    expect(out).toMatch(new RegExp(`^${first}\\s+web\\s+app:1\\s+succeeded\\s+rolling\\s+default/ship #4\\s+\\S+ \\S+\\s*$`, "m"));
    expect(out).not.toContain(SECRET_VALUE);

    const json = await cli(["env", "get", "staging", "--json"]);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ environment: { name: "staging" }, current: [{ service: "web", image: "app:1" }], deployments: [{ id: second }, { id: first }] });

    const missing = await cli(["env", "get", "nope"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("environment nope not found");
  });

  it("tests the connection: exit 1 with the problem when the engine answers nothing", async () => {
    const tested = await cli(["env", "test", "staging"]);
    expect(tested.stderr).toBe("");
    expect(tested.exitCode).toBe(1);
    expect(tested.stdout).toMatch(/^problem: cannot reach the Docker engine: .*127\.0\.0\.1:9/);

    const json = await cli(["env", "test", "staging", "--json"]);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problem: expect.stringContaining("127.0.0.1:9") });

    const missing = await cli(["env", "test", "nope"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("environment nope not found");
    expect(missing.stderr).toContain("-n <namespace>");

    // The test's answer is the environment's status now.
    const shown = await cli(["env", "get", "staging"]);
    expect(shown.stdout).toMatch(/status\s+failing: cannot reach the Docker engine: .*127\.0\.0\.1:9.* \(checked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, .+\)/);
    const listed = await cli(["env", "ls"]);
    expect(listed.stdout.split("\n").find((line) => line.startsWith("staging "))).toMatch(/^staging\s+\(shared\)\s+failing\s+swarm/);
  });

  it("clears secrets and the engine, then deletes", async () => {
    const cleared = await cli(["env", "set", "staging", "--no-secrets", "--docker-host", "none", "--description", ""]);
    expect(cleared.exitCode).toBe(0);
    expect(cleared.stdout).toMatch(/docker host\s+the server's own Docker engine/);
    expect(cleared.stdout).toMatch(/secrets\s+none/);
    expect(cleared.stdout).not.toContain("description");

    const removed = await cli(["env", "rm", "staging"]);
    expect(removed.stderr).toBe("");
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain("deleted environment staging");
    const gone = await cli(["env", "get", "staging"]);
    expect(gone.exitCode).toBe(2);
    expect(gone.stderr).toContain("environment staging not found");
    const again = await cli(["env", "rm", "staging"]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain("environment staging not found");
  });

  it("creates, shows, lists, tests and deletes a namespace's own environment with -n, beside the shared one", async () => {
    // The shared one (made again: the test above deleted it).
    expect((await cli(["env", "set", "staging", "--provider", "swarm"])).exitCode).toBe(0);
    const created = await cli(["env", "set", "staging", "-n", "team-a", "--provider", "swarm", "--docker-host", NOWHERE, "--description", "team-a's"]);
    expect(created.stderr).toBe("");
    expect(created.exitCode).toBe(0);
    expect(created.stdout).toContain("created environment team-a/staging");
    expect(created.stdout).toMatch(/namespace\s+team-a/);
    expect(created.stdout).toContain("gantry env test staging -n team-a");
    // Another namespace's, by the long flag.
    expect((await cli(["env", "set", "staging", "--namespace", "team-b", "--provider", "swarm"])).exitCode).toBe(0);

    const own = await cli(["env", "get", "staging", "-n", "team-a"]);
    expect(own.exitCode).toBe(0);
    expect(own.stdout).toContain("environment team-a/staging");
    expect(own.stdout).toMatch(/description\s+team-a's/);
    const shared = await cli(["env", "get", "staging"]);
    expect(shared.stdout).not.toContain("team-a's");

    const listed = await cli(["env", "ls"]);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines.some((line) => /^staging\s+team-a\s+unknown\s+swarm/.test(line))).toBe(true);
    expect(lines.some((line) => /^staging\s+team-b\s+unknown\s+swarm/.test(line))).toBe(true);
    // -n: what that namespace's deploys reach, its own and the shared ones.
    const reach = await cli(["env", "ls", "-n", "team-a", "--json"]);
    expect(reach.exitCode).toBe(0);
    const reached = (JSON.parse(reach.stdout) as { environments: { name: string; namespace: string | null }[] }).environments.map((one) => `${one.namespace ?? "*"}/${one.name}`);
    expect(reached).toContain("team-a/staging");
    expect(reached).toContain("*/staging");
    expect(reached).not.toContain("team-b/staging");

    const tested = await cli(["env", "test", "staging", "-n", "team-a"]);
    expect(tested.exitCode).toBe(1);
    expect(tested.stdout).toContain("127.0.0.1:9");

    const badNamespace = await cli(["env", "get", "staging", "-n", "Team_A"]);
    expect(badNamespace.exitCode).toBe(2);
    expect(badNamespace.stderr).toContain('--namespace "Team_A" is not a namespace: must be 1-64 characters of a-z, 0-9 and -');

    const removed = await cli(["env", "rm", "staging", "-n", "team-a"]);
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain("deleted environment team-a/staging");
    const gone = await cli(["env", "get", "staging", "-n", "team-a"]);
    expect(gone.exitCode).toBe(2);
    expect(gone.stderr).toContain("environment team-a/staging not found");
    expect((await cli(["env", "get", "staging"])).exitCode).toBe(0);
    expect((await cli(["env", "get", "staging", "-n", "team-b"])).exitCode).toBe(0);
  });

  it("sets a registry and the secret of its credentials, and drops them", async () => {
    const login = await runCli(["secret", "set", "REGISTRY_LOGIN"], { server: gantry, env: { NO_COLOR: "1" }, stdin: "pusher:registry-password" });
    expect(login.exitCode).toBe(0);
    const set = await cli(["env", "set", "staging", "-n", "team-b", "--registry", "127.0.0.1:5000", "--registry-auth", "REGISTRY_LOGIN"]);
    expect(set.stderr).toBe("");
    expect(set.exitCode).toBe(0);
    expect(set.stdout).toMatch(/registry\s+127\.0\.0\.1:5000 \(credentials from secret REGISTRY_LOGIN\)/);
    expect(set.stdout).not.toContain("registry-password");
    // "secret:<name>", as `gantry source` takes its secrets, means the same.
    const prefixed = await cli(["env", "set", "staging", "-n", "team-b", "--registry-auth", "secret:REGISTRY_LOGIN", "--json"]);
    expect(JSON.parse(prefixed.stdout)).toMatchObject({ environment: { namespace: "team-b", config: { registry: "127.0.0.1:5000", registryAuth: "REGISTRY_LOGIN" } } });

    const missing = await cli(["env", "set", "staging", "-n", "team-b", "--registry-auth", "NO_SUCH_LOGIN"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('config.registryAuth names "NO_SUCH_LOGIN", which is not a global secret');
    const without = await cli(["env", "set", "staging", "--registry-auth", "REGISTRY_LOGIN"]);
    expect(without.exitCode).toBe(2);
    expect(without.stderr).toContain("config.registryAuth names the credentials of config.registry, which is not set");
    const contradiction = await cli(["env", "set", "staging", "-n", "team-b", "--registry", "none", "--registry-auth", "REGISTRY_LOGIN"]);
    expect(contradiction.exitCode).toBe(2);
    expect(contradiction.stderr).toContain("--registry none drops it");

    // Dropping the registry drops its credentials with it.
    const dropped = await cli(["env", "set", "staging", "-n", "team-b", "--registry", "none"]);
    expect(dropped.exitCode).toBe(0);
    expect(dropped.stdout).toMatch(/registry\s+none \(images must be on the nodes\)/);
  });

  it("rolls back a service of a namespace's own environment with deploy rollback -n", async () => {
    // An engine that answers nothing, so the rollback is tried and fails without touching a swarm.
    expect((await cli(["env", "set", "staging", "-n", "team-b", "--docker-host", NOWHERE])).exitCode).toBe(0);
    const { db } = gantry.deps;
    for (const [image, run] of [["team-b-app:1", 1], ["team-b-app:2", 2]] as const) {
      const id = await insertDeployment(db, { environment: "team-b/staging", service: "web", image, namespace: "team-b", pipelineId: "ship", runId: run, taskId: "deploy", strategy: "rolling", startedAt: new Date() });
      await finishDeployment(db, id, { state: "succeeded", previousImage: null, endedAt: new Date() });
    }
    const failed = await cli(["deploy", "rollback", "staging", "web", "-n", "team-b"]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout).toContain("the rollback of web to team-b-app:1 failed");
    expect(failed.stdout).toContain("127.0.0.1:9");
    // The shared one of that name has nothing of web to go back to.
    const shared = await cli(["deploy", "rollback", "staging", "web"]);
    expect(shared.exitCode).toBe(2);
    const missing = await cli(["deploy", "rollback", "staging", "web", "--namespace", "team-c"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("environment team-c/staging not found");
    const bad = await cli(["deploy", "rollback", "staging", "web", "-n", "../x"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--namespace "../x" is not a namespace');
  });

  it("prints its usage and answers an unknown subcommand with exit 2", async () => {
    const help = await cli(["env", "--help"]);
    expect(help.exitCode).toBe(0);
    for (const usage of ["gantry env ls", "gantry env get <name>", "gantry env set <name>", "gantry env rm <name>", "gantry env test <name>", "[-n|--namespace NS]", "--registry-auth"]) {
      expect(help.stdout).toContain(usage);
    }
    const unknown = await cli(["env", "deploy", "staging"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown subcommand "env deploy"');
    const top = await cli(["--help"]);
    expect(top.stdout).toContain("gantry env set <name>");
  });
});
