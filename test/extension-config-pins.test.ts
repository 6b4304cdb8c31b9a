// Installed extensions pinned in gantry.toml, on real servers and verdaccio on 127.0.0.1:
// install, upgrade and uninstall edit only the [extension_versions] table (comments and every
// other line kept); a file they cannot edit leaves the pin in installed.json, and the answer
// says so; an upgrade whose new version does not start leaves the old one running and pinned;
// at start, what the table pins is installed, a pin that cannot be is logged, and an installed
// extension the table no longer pins is kept; a server stopped while it installs a pin stops
// that install too.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha512Integrity } from "../app/extension-host/npm-registry.ts";
import { runCli } from "./helpers/cli.ts";
import { startGantryProcess, startTestGantry, waitFor, type GantryProcess, type TestGantry } from "./helpers/gantry.ts";
import { packPackage, startVerdaccio, type NpmRegistryStub } from "./helpers/npm-registry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(90_000);

/** An extension whose hook tells its version; `broken` throws as its module loads. */
const pinnedPackage = (version: string, broken = false) =>
  packPackage(
    { name: "gantry-ext-pinned", version, description: "Tells its version", keywords: ["gantry-extension"], type: "module", gantry: { id: "pinned" } },
    {
      "index.js": `import { defineExtension } from "gantry";
${broken ? 'throw new Error("broken on purpose");\n' : ""}export default defineExtension({
  id: "pinned",
  start(api) { api.log("pinned ${version} up"); },
  onHook() { return { status: 200, body: { version: "${version}" } }; },
});
`,
    },
  );

/** A person's gantry.toml: comments, odd spacing and other tables, all to be kept as they are. */
const CONFIG = `# Gantry on the build box
prune_keep_last = 7   # keep a week of workspaces

# Told to the extension as its config.
[extensions.pinned]
greeting = "hello"  # unused, but kept
`;

const APPENDED_TABLE = `
# Extensions installed from the npm registry, pinned (gantry extension install|upgrade|uninstall edit this table).
[extension_versions]
`;

let registry: NpmRegistryStub;

interface InstallAnswer {
  id: string;
  installed: { version: string };
  state: string;
  pin: { file: string; problem?: string };
}

/** The version the extension's hook tells, or its status when it does not answer. */
async function hookVersion(hooksUrl: string): Promise<string> {
  const response = await fetch(`${hooksUrl}/hooks/pinned`, { method: "POST", body: "{}" });
  if (response.status !== 200) return `status ${response.status}`;
  return ((await response.json()) as { version: string }).version;
}

const installedJson = (dataDir: string) =>
  (JSON.parse(readFileSync(join(dataDir, "extensions", "installed.json"), "utf8")) as { extensions: Record<string, { version: string }> }).extensions;

beforeAll(async () => {
  registry = await startVerdaccio();
  for (const version of ["1.0.0", "1.1.0"]) registry.publish(pinnedPackage(version));
  registry.publish(pinnedPackage("1.2.0", true));
});
afterAll(() => registry?.stop());

describe("pins in gantry.toml", () => {
  let gantry: TestGantry;
  let configFile: string;
  const cli = (args: string[]) => runCli(args, { server: { url: gantry.url, token: gantry.token } });

  beforeAll(async () => {
    configFile = writeFile(join(tempDir("gantry-config-"), "gantry.toml"), CONFIG);
    gantry = await startTestGantry({ env: { GANTRY_NPM_REGISTRY: registry.url, GANTRY_CONFIG: configFile } });
  });
  afterAll(() => gantry?.stop());

  it("install appends the table with the pin, every other byte of the file kept", async () => {
    const installed = await cli(["extension", "install", "gantry-ext-pinned@1.0.0"]);
    expect(installed.stderr).toBe("");
    expect(installed.exitCode).toBe(0);
    expect(installed.stdout).toContain(`pinned in ${configFile}\n`);
    expect(readFileSync(configFile, "utf8")).toBe(`${CONFIG}${APPENDED_TABLE}"gantry-ext-pinned" = "1.0.0"\n`);
    expect(installedJson(gantry.dataDir).pinned?.version).toBe("1.0.0");
    expect(await hookVersion(gantry.hooksUrl)).toBe("1.0.0");
  });

  it("upgrade rewrites the pin's line in place, keeping its comment and a person's lines in the table", async () => {
    // Someone annotates the pin and adds a comment of their own to the table.
    const annotated = readFileSync(configFile, "utf8").replace('"gantry-ext-pinned" = "1.0.0"\n', '# ours\n"gantry-ext-pinned" = "1.0.0"   # the team\'s\n');
    writeFileSync(configFile, annotated);
    const response = await gantry.api("/extensions/pinned/upgrade", { method: "POST", body: JSON.stringify({ version: "1.1.0" }) });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as InstallAnswer;
    expect(answer).toMatchObject({ installed: { version: "1.1.0" }, state: "running", pin: { file: configFile } });
    expect(answer.pin.problem).toBeUndefined();
    expect(readFileSync(configFile, "utf8")).toBe(annotated.replace('"1.0.0"   # the team\'s', '"1.1.0"   # the team\'s'));
    expect(await hookVersion(gantry.hooksUrl)).toBe("1.1.0");
  });

  it("an upgrade whose new version does not start keeps the old one running, recorded and pinned", async () => {
    const before = readFileSync(configFile, "utf8");
    const failed = await cli(["extension", "upgrade", "pinned", "1.2.0"]);
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderr).toContain("gantry-ext-pinned@1.2.0 did not start (");
    expect(failed.stderr).toContain("broken on purpose");
    expect(failed.stderr).toContain("so extension pinned stays at 1.1.0, pinned as before (running)");
    // The old version answers, as before; nothing of the new one is left behind.
    expect(await hookVersion(gantry.hooksUrl)).toBe("1.1.0");
    const status = (await (await gantry.api("/extensions/pinned")).json()) as { extension: { state: string; installed: { version: string } } };
    expect(status.extension).toMatchObject({ state: "running", installed: { version: "1.1.0" } });
    expect(installedJson(gantry.dataDir).pinned?.version).toBe("1.1.0");
    expect(readFileSync(configFile, "utf8")).toBe(before);
    expect(readdirSync(join(gantry.dataDir, "extensions")).sort()).toEqual(["installed.json", "pinned"]);
    expect(readFileSync(join(gantry.dataDir, "extensions", "pinned", "index.js"), "utf8")).toContain('version: "1.1.0"');
  });

  it("uninstall removes the pin's line alone", async () => {
    const before = readFileSync(configFile, "utf8");
    const removed = await cli(["extension", "uninstall", "pinned"]);
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain(`unpinned in ${configFile}`);
    expect(readFileSync(configFile, "utf8")).toBe(before.replace('"gantry-ext-pinned" = "1.1.0"   # the team\'s\n', ""));
    expect(readFileSync(configFile, "utf8")).toStartWith(CONFIG);
  });

  it("keeps the pin in installed.json, and says why, when gantry.toml cannot be edited by lines", async () => {
    const inline = `extension_versions = { }\n${CONFIG}`;
    writeFileSync(configFile, inline);
    const response = await gantry.api("/extensions/install", { method: "POST", body: JSON.stringify({ package: "gantry-ext-pinned", version: "1.0.0" }) });
    expect(response.status).toBe(201);
    const answer = (await response.json()) as InstallAnswer;
    expect(answer.state).toBe("running");
    expect(answer.pin.file).toBe(join(gantry.dataDir, "extensions", "installed.json"));
    expect(answer.pin.problem).toContain('is not written as one "[extension_versions]" header');
    expect(readFileSync(configFile, "utf8")).toBe(inline);
    expect(installedJson(gantry.dataDir).pinned?.version).toBe("1.0.0");
    expect((await gantry.api("/extensions/pinned", { method: "DELETE" })).status).toBe(200);
  });
});

describe("pins in gantry.toml at start", () => {
  const dataDir = tempDir("gantry-data-");
  const configFile = join(tempDir("gantry-config-"), "gantry.toml");
  let server: TestGantry | GantryProcess | undefined;

  /** A server as `gantry serve` runs it, its output kept, on the same data dir and gantry.toml each time. */
  const serve = async () => {
    server = await startGantryProcess({
      dataDir,
      env: { GANTRY_NPM_REGISTRY: registry.url, GANTRY_CONFIG: configFile, GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions") },
    });
    return server;
  };
  const installedVersion = async (api: (path: string) => Promise<Response>, version: string) =>
    waitFor(
      async () => {
        const response = await api("/extensions/pinned");
        if (response.status !== 200) return undefined;
        const { extension } = (await response.json()) as { extension: { state: string; installed?: { version: string } } };
        return extension.state === "running" && extension.installed?.version === version ? extension : undefined;
      },
      30_000,
      `extension pinned to run at ${version}`,
    );
  afterAll(() => server?.stop());

  it("installs what the table pins and is not installed", async () => {
    writeFileSync(configFile, `${CONFIG}\n[extension_versions]\n"gantry-ext-pinned" = "1.1.0"\n`);
    server = await startTestGantry({ dataDir, env: { GANTRY_NPM_REGISTRY: registry.url, GANTRY_CONFIG: configFile } });
    await installedVersion(server.api, "1.1.0");
    expect(await hookVersion(server.hooksUrl)).toBe("1.1.0");
    expect(installedJson(dataDir).pinned?.version).toBe("1.1.0");
    await server.stop();
  });

  it("moves an installed extension to the version the table pins, and logs a pin it cannot install while the server runs on", async () => {
    writeFileSync(configFile, `${CONFIG}\n[extension_versions]\n"gantry-ext-pinned" = "1.0.0"\n"gantry-ext-nowhere" = "1.0.0"\n`);
    const started = await serve();
    await installedVersion(started.api, "1.0.0");
    const logged = await waitFor(() => /gantry\.toml \[extension_versions\] pins gantry-ext-nowhere = "1\.0\.0", which could not be installed: [^\n]*/.exec(started.output())?.[0], 15_000, "the failed pin in the log");
    expect(logged).toContain("has no package gantry-ext-nowhere");
    expect(logged).toContain("The server runs on without it.");
    expect((await started.api("/health")).status).toBe(200);
    await started.stop();
  });

  it("keeps, and logs, an installed extension the table no longer pins", async () => {
    writeFileSync(configFile, `${CONFIG}\n[extension_versions]\n# nothing pinned\n`);
    const started = await serve();
    await installedVersion(started.api, "1.0.0");
    await waitFor(() => started.output().includes("extension pinned (gantry-ext-pinned@1.0.0) is installed but not pinned in"), 15_000, "the unpinned extension in the log");
    expect(started.output()).toContain("it is kept and runs: pin it there, or remove it with gantry extension uninstall pinned");
    expect(installedJson(dataDir).pinned?.version).toBe("1.0.0");
  });
});

describe("a server stopped while it installs what gantry.toml pins", () => {
  /** A registry whose tarball takes its time: the server is stopped while it downloads. */
  const TARBALL_DELAY_MS = 1_500;
  let slow: ReturnType<typeof Bun.serve>;
  let tarballAsked = false;

  beforeAll(() => {
    const tarball = readFileSync(pinnedPackage("1.0.0"));
    slow = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(request) {
        const { pathname } = new URL(request.url);
        const base = `http://127.0.0.1:${slow.port}`;
        if (pathname === "/gantry-ext-pinned") {
          return Response.json({
            name: "gantry-ext-pinned",
            "dist-tags": { latest: "1.0.0" },
            versions: {
              "1.0.0": {
                name: "gantry-ext-pinned",
                version: "1.0.0",
                keywords: ["gantry-extension"],
                gantry: { id: "pinned" },
                dist: { tarball: `${base}/gantry-ext-pinned/-/gantry-ext-pinned-1.0.0.tgz`, integrity: sha512Integrity(tarball) },
              },
            },
          });
        }
        if (pathname === "/gantry-ext-pinned/-/gantry-ext-pinned-1.0.0.tgz") {
          tarballAsked = true;
          await Bun.sleep(TARBALL_DELAY_MS);
          return new Response(tarball);
        }
        return new Response("not found", { status: 404 });
      },
    });
  });
  afterAll(() => slow?.stop(true));

  it("aborts the download, and nothing is installed or started after stop()", async () => {
    const dataDir = tempDir("gantry-data-");
    const configFile = writeFile(join(tempDir("gantry-config-"), "gantry.toml"), `[extension_versions]\n"gantry-ext-pinned" = "1.0.0"\n`);
    const server = await startTestGantry({ dataDir, env: { GANTRY_NPM_REGISTRY: `http://127.0.0.1:${slow.port}`, GANTRY_CONFIG: configFile } });
    await waitFor(() => tarballAsked || undefined, 10_000, "the pinned package's download");
    const stopping = performance.now();
    await server.stop();
    // The download is aborted, not waited for.
    expect(performance.now() - stopping).toBeLessThan(TARBALL_DELAY_MS);
    // An install finishing late could start nothing either: the stopped host refuses.
    await expect(server.deps.extensions.load("pinned", join(dataDir, "extensions", "pinned", "index.js"))).rejects.toThrow("extension pinned is not started: the server is stopping");
    // Past the moment the tarball arrives: the install did not go on without a server.
    await Bun.sleep(TARBALL_DELAY_MS + 500);
    const extensionsDir = join(dataDir, "extensions");
    expect(existsSync(extensionsDir) ? readdirSync(extensionsDir) : []).toEqual([]);
  });
});
