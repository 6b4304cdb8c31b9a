// loadConfig: defaults, gantry.toml, the environment over the file, and errors that name
// the key; and the config test servers start with.
import { describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../app/config.ts";
import { testConfigOptions } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

/** A working directory with an optional gantry.toml. */
function workdir(toml?: string): string {
  const dir = tempDir("gantry-config-");
  if (toml !== undefined) writeFile(join(dir, "gantry.toml"), toml);
  return dir;
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("uses the documented defaults with no env and no file", () => {
    const cwd = workdir();
    const config = loadConfig({ env: {}, cwd });
    expect(config.port).toBe(8080);
    expect(config.host).toBe("127.0.0.1");
    expect(config.hooksPort).toBe(8081);
    expect(config.dataDir).toBe(join(cwd, "data"));
    expect(config.pipelinesDir).toBe(join(cwd, "pipelines"));
    expect(config.extensionsDir).toBe(join(cwd, "extensions"));
    expect(config.dbUrl).toBe(`file:${join(cwd, "data", "gantry.db")}`);
    expect(config.secretKey).toBeUndefined();
    expect(config.killGraceMs).toBe(10_000);
  });

  it("reads gantry.toml, with durations and relative paths resolved", () => {
    const cwd = workdir('port = 9000\nhost = "0.0.0.0"\ndata_dir = "state"\nkill_grace = "3s"\nlog_max_bytes = 4096\n');
    const config = loadConfig({ env: {}, cwd });
    expect(config.port).toBe(9000);
    expect(config.host).toBe("0.0.0.0");
    expect(config.dataDir).toBe(join(cwd, "state"));
    expect(config.dbUrl).toBe(`file:${join(cwd, "state", "gantry.db")}`);
    expect(config.killGraceMs).toBe(3000);
    expect(config.logMaxBytes).toBe(4096);
  });

  it("lets the environment win over gantry.toml", () => {
    const cwd = workdir('port = 9000\ndata_dir = "from-file"\nkill_grace = "3s"\n');
    const config = loadConfig({ env: { GANTRY_PORT: "9100", GANTRY_DATA_DIR: "/srv/gantry", GANTRY_KILL_GRACE: "250ms" }, cwd });
    expect(config.port).toBe(9100);
    expect(config.dataDir).toBe("/srv/gantry");
    expect(config.killGraceMs).toBe(250);
  });

  it("ignores an empty environment value and falls back to the file", () => {
    const cwd = workdir("port = 9000\n");
    expect(loadConfig({ env: { GANTRY_PORT: "" }, cwd }).port).toBe(9000);
  });

  it("honours GANTRY_DB_URL and GANTRY_CONFIG", () => {
    const cwd = workdir();
    const other = writeFile(join(cwd, "etc", "other.toml"), "hooks_port = 7001\n");
    const config = loadConfig({ env: { GANTRY_DB_URL: "libsql://db.example", GANTRY_CONFIG: other }, cwd });
    expect(config.dbUrl).toBe("libsql://db.example");
    expect(config.hooksPort).toBe(7001);
  });

  it("names the environment variable of a bad value", () => {
    const error = configError(() => loadConfig({ env: { GANTRY_PORT: "eighty" }, cwd: workdir() }));
    expect(error.message).toContain("GANTRY_PORT");
    expect(error.message).toContain("eighty");
  });

  it("runs container tasks on Docker unless told swarm, and says what else it takes", () => {
    expect(loadConfig({ env: {}, cwd: workdir() }).executor).toBe("docker");
    expect(loadConfig({ env: {}, cwd: workdir('executor = "swarm"\n') }).executor).toBe("swarm");
    const error = configError(() => loadConfig({ env: { GANTRY_EXECUTOR: "kubernetes" }, cwd: workdir() }));
    expect(error.message).toBe('GANTRY_EXECUTOR: must be "docker" or "swarm" (swarm runs container and run() tasks as Swarm services; the engine must be a swarm manager) (got "kubernetes")');
  });

  it("runs run() services of this version's runner image on the host network, reaching the public URL, unless told otherwise", () => {
    expect(loadConfig({ env: {}, cwd: workdir() })).toMatchObject({ runnerImage: undefined, runnerApiUrl: undefined, runnerNetwork: "host" });
    const set = loadConfig({ env: { GANTRY_RUNNER_API_URL: "http://10.0.0.5:8080/" }, cwd: workdir('runner_image = "registry.local/gantry-runner:1"\nrunner_network = "gantry"\n') });
    expect(set).toMatchObject({ runnerImage: "registry.local/gantry-runner:1", runnerApiUrl: "http://10.0.0.5:8080/", runnerNetwork: "gantry" });
    expect(configError(() => loadConfig({ env: { GANTRY_RUNNER_NETWORK: "none" }, cwd: workdir() })).message).toBe('GANTRY_RUNNER_NETWORK: cannot be "none": a runner fetches its bundle from the API (got "none")');
    expect(configError(() => loadConfig({ env: { GANTRY_RUNNER_API_URL: "ftp://x" }, cwd: workdir() })).message).toContain("GANTRY_RUNNER_API_URL: must be an http(s) URL");
  });

  it("names the environment variable of an out-of-range port", () => {
    expect(configError(() => loadConfig({ env: { GANTRY_HOOKS_PORT: "70000" }, cwd: workdir() })).message).toContain("GANTRY_HOOKS_PORT");
  });

  it("names the gantry.toml key and file of a bad value", () => {
    const cwd = workdir('kill_grace = "soon"\n');
    const error = configError(() => loadConfig({ env: {}, cwd }));
    expect(error.message).toContain("kill_grace");
    expect(error.message).toContain(join(cwd, "gantry.toml"));
    expect(error.message).not.toContain("GANTRY_KILL_GRACE");
  });

  it("blames the environment, not the file, when the env value is the bad one", () => {
    const cwd = workdir("max_parallel_tasks = 8\n");
    const error = configError(() => loadConfig({ env: { GANTRY_MAX_PARALLEL_TASKS: "0" }, cwd }));
    expect(error.message).toContain("GANTRY_MAX_PARALLEL_TASKS");
  });

  it("rejects an unknown key in gantry.toml", () => {
    const cwd = workdir("prot = 9000\n");
    const error = configError(() => loadConfig({ env: {}, cwd }));
    expect(error.message).toContain('unknown setting "prot"');
  });

  it("rejects a gantry.toml that is not TOML", () => {
    const cwd = workdir("port = = 1\n");
    expect(configError(() => loadConfig({ env: {}, cwd })).message).toContain("not valid TOML");
  });

  it("fails when an explicitly named config file is missing", () => {
    const cwd = workdir();
    expect(configError(() => loadConfig({ env: { GANTRY_CONFIG: "missing.toml" }, cwd })).message).toContain("does not exist");
  });
});

describe("git sources in gantry.toml", () => {
  it("reads [sources.<name>] tables with snake_case keys and fills in the defaults", () => {
    const cwd = workdir(`[sources.ops]
repo = "https://git.example.com/acme/ops.git"
auth = "secret:git-robot"
hook_secret = "secret:ops-hook"
poll_interval = "30s"

[sources.web]
repo = "git@git.example.com:acme/web.git"
path = "ci/pipelines/"
namespace = "frontend"
poll_interval = "off"
`);
    expect(loadConfig({ env: {}, cwd }).sources).toEqual({
      ops: { repo: "https://git.example.com/acme/ops.git", branch: "main", path: ".gantry", namespace: "ops", auth: "git-robot", hookSecret: "ops-hook", pollIntervalMs: 30_000 },
      web: { repo: "git@git.example.com:acme/web.git", branch: "main", path: "ci/pipelines", namespace: "frontend", pollIntervalMs: 0 },
    });
  });

  it("names the source and every problem of a bad one", () => {
    const bad = configError(() => loadConfig({ env: {}, cwd: workdir('[sources.ops]\nrepo = "file:///srv/ops"\npath = "../up"\n') }));
    expect(bad.message).toContain("[sources.ops]: repo uses file://");
    expect(bad.message).toContain('path must stay inside the repository (no "..")');
    expect(configError(() => loadConfig({ env: {}, cwd: workdir('[sources.local]\nrepo = "https://h/x.git"\n') })).message).toContain('"local" is the local pipelines folder');
    const twice = configError(() => loadConfig({ env: {}, cwd: workdir('[sources.a]\nrepo = "https://h/a.git"\nnamespace = "ops"\n[sources.b]\nrepo = "https://h/b.git"\nnamespace = "ops"\n') }));
    expect(twice.message).toContain('[sources.b]: namespace "ops" is already the namespace of [sources.a]');
    expect(configError(() => loadConfig({ env: { GANTRY_SOURCES: "{nope" }, cwd: workdir() })).message).toContain("GANTRY_SOURCES: must be JSON");
  });
});

describe("extension pins in gantry.toml", () => {
  it("reads [extension_versions] apart from the [extensions.<id>] config tables, and knows the file it came from", () => {
    const cwd = workdir('[extensions.hello]\ngreeting = "hi"\n\n[extension_versions]\n"gantry-ext-hello" = "1.2.3"\n"@acme/gantry-ext-deploy" = "0.3.0-beta.1"\n');
    const config = loadConfig({ env: {}, cwd });
    expect(config.extensionVersions).toEqual({ "gantry-ext-hello": "1.2.3", "@acme/gantry-ext-deploy": "0.3.0-beta.1" });
    expect(config.extensionConfigs).toEqual({ hello: { greeting: "hi" } });
    expect(config.configFile).toBe(join(cwd, "gantry.toml"));
  });

  it("has no pins and no config file without them", () => {
    const none = loadConfig({ env: {}, cwd: workdir() });
    expect(none.configFile).toBeUndefined();
    expect(none.extensionVersions).toBeUndefined();
    expect(loadConfig({ env: {}, cwd: workdir("port = 9000\n") }).extensionVersions).toBeUndefined();
  });

  it("names the package of a pin that is not an exact version, or not a package name", () => {
    const range = configError(() => loadConfig({ env: {}, cwd: workdir('[extension_versions]\n"gantry-ext-hello" = "^1.2"\n') }));
    expect(range.message).toContain('[extension_versions] "gantry-ext-hello" in ');
    expect(range.message).toContain('must be an exact version like "1.2.3"');
    const name = configError(() => loadConfig({ env: {}, cwd: workdir('[extension_versions]\n"Not A Package" = "1.0.0"\n') }));
    expect(name.message).toContain("must be an npm package name");
  });
});

describe("test servers' config", () => {
  it("reads no gantry.toml of the repository and keeps the built-in extensions", () => {
    const dataDir = tempDir("gantry-data-");
    const pipelinesDir = tempDir("gantry-pipelines-");
    const options = testConfigOptions(dataDir, pipelinesDir, { GANTRY_LOG_MAX_BYTES: "4000" });
    // gantry.toml is looked up in the working directory: the temp data dir, never the
    // repository, where a developer may keep their own.
    expect(options.cwd).toBe(dataDir);
    expect(options.cwd).not.toBe(REPO_ROOT);
    const config = loadConfig(options);
    expect(config.extensionsDir).toBe(join(REPO_ROOT, "extensions"));
    expect(existsSync(join(config.extensionsDir, "cron"))).toBe(true);
    expect(config.dataDir).toBe(dataDir);
    expect(config.pipelinesDir).toBe(pipelinesDir);
    expect(config.port).toBe(0);
    expect(config.logMaxBytes).toBe(4000);
  });
});
