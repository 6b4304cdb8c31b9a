// Extensions from an npm registry, end to end: packages packed with `npm pack` and published to
// verdaccio on 127.0.0.1 (never to npmjs.org); the CLI installs one through a real server, which
// checks the keyword and the sha512 integrity, unpacks it into the data dir, pins it and starts
// it (its hook answers); upgrade, uninstall and the registry's search. A tampered tarball (a
// fake registry that serves other bytes than it vouches for) is refused, nothing installed;
// an unreachable registry is said to be so. The registry client's deadlines and checks, and
// the data dir an upgrade cut short by a crash leaves, put right at the next start.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createNpmRegistry, sha512Integrity } from "../app/extension-host/npm-registry.ts";
import { TAR_END, tarHeader, tarPadding, type TarHeader } from "../app/stores/tar.ts";
import { runCli } from "./helpers/cli.ts";
import { startTestGantry, waitFor, type TestGantry } from "./helpers/gantry.ts";
import { packPackage, startVerdaccio, type NpmRegistryStub } from "./helpers/npm-registry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(90_000);

/** A tiny extension whose hook tells its version. */
const extensionSource = (id: string, version: string) => `
import { defineExtension } from "gantry";
export default defineExtension({
  id: "${id}",
  start(api) { api.log("${id} ${version} up"); },
  onHook(request) { return { status: 200, body: { id: "${id}", version: "${version}", path: request.path } }; },
});
`;

const helloPackage = (version: string, extra: Record<string, unknown> = {}) =>
  packPackage(
    { name: "gantry-ext-hello", version, description: "Says hello", keywords: ["gantry-extension"], main: "index.js", type: "module", gantry: { id: "hello" }, ...extra },
    { "index.js": extensionSource("hello", version), "README.md": "# hello\n" },
  );

/** An extension whose config schema wants a token: without [extensions.needy] it loads "unconfigured". */
const needyPackage = (version: string) =>
  packPackage(
    { name: "gantry-ext-needy", version, keywords: ["gantry-extension"], type: "module", gantry: { id: "needy" } },
    {
      "index.js": `import { defineExtension } from "gantry";
import * as v from "valibot";
export default defineExtension({ id: "needy", config: v.object({ token: v.string() }), onHook() { return { status: 200, body: {} }; } });
`,
    },
  );

let registry: NpmRegistryStub;
let gantry: TestGantry;
const cli = (args: string[]) => runCli(args, { server: { url: gantry.url, token: gantry.token } });

interface ExtensionJson {
  id: string;
  source: string;
  state: string;
  installed?: { package: string; version: string; integrity: string };
  log: string[];
}

async function extension(id: string): Promise<ExtensionJson | undefined> {
  const response = await gantry.api(`/extensions/${id}`);
  if (response.status === 404) return undefined;
  return ((await response.json()) as { extension: ExtensionJson }).extension;
}

beforeAll(async () => {
  registry = await startVerdaccio();
  registry.publish(helloPackage("1.0.0"));
  for (const version of ["1.0.0", "1.1.0"]) registry.publish(needyPackage(version));
  registry.publish(
    packPackage({ name: "not-an-extension", version: "1.0.0", description: "just a library", keywords: ["gantry"] }, { "index.js": "export const x = 1;\n" }),
  );
  registry.publish(
    packPackage(
      { name: "gantry-ext-deps", version: "1.0.0", keywords: ["gantry-extension"], dependencies: { "left-pad": "^1.3.0" } },
      { "index.js": extensionSource("gantry-ext-deps", "1.0.0") },
    ),
  );
  // Asks for the id of a built-in extension (extensions/webhook).
  registry.publish(
    packPackage({ name: "@acme/webhook-clone", version: "1.0.0", keywords: ["gantry-extension"], gantry: { id: "webhook" } }, { "index.js": extensionSource("webhook", "1.0.0") }),
  );
  gantry = await startTestGantry({ env: { GANTRY_NPM_REGISTRY: registry.url } });
});
afterAll(async () => {
  await gantry?.stop();
  await registry?.stop();
});

describe("gantry extension install|upgrade|uninstall against an npm registry (verdaccio)", () => {
  it("lists the registry's extensions, only those with the keyword", async () => {
    const listed = await cli(["extension", "available"]);
    expect(listed.stderr).toBe("");
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain("gantry-ext-hello");
    expect(listed.stdout).toContain("Says hello");
    expect(listed.stdout).not.toContain("not-an-extension");
  });

  it("installs a package: integrity checked, pinned in the data dir, started without a restart, its hook answers", async () => {
    const installed = await cli(["extension", "install", "gantry-ext-hello@1.0.0"]);
    expect(installed.stderr).toBe("");
    expect(installed.stdout).toContain("installed gantry-ext-hello@1.0.0 as extension hello");
    expect(installed.stdout).toContain("extension hello is running");
    expect(installed.exitCode).toBe(0);

    const hello = await extension("hello");
    expect(hello?.state).toBe("running");
    expect(hello?.source).toBe("registry");
    expect(hello?.installed).toMatchObject({ package: "gantry-ext-hello", version: "1.0.0" });
    expect(hello?.installed?.integrity).toStartWith("sha512-");
    expect(hello?.log.join("\n")).toContain("hello 1.0.0 up");

    const pins = JSON.parse(readFileSync(join(gantry.dataDir, "extensions", "installed.json"), "utf8")) as { extensions: Record<string, { package: string; version: string; integrity: string }> };
    expect(pins.extensions.hello).toMatchObject({ package: "gantry-ext-hello", version: "1.0.0", integrity: hello!.installed!.integrity });
    expect(existsSync(join(gantry.dataDir, "extensions", "hello", "index.js"))).toBe(true);

    const hook = await fetch(`${gantry.hooksUrl}/hooks/hello/ping`, { method: "POST", body: "{}" });
    expect(hook.status).toBe(200);
    expect(await hook.json()).toMatchObject({ id: "hello", version: "1.0.0" });

    const ls = await cli(["extension", "ls"]);
    expect(ls.stdout).toMatch(/hello\s+gantry-ext-hello@1\.0\.0\s+running/);
    expect(ls.stdout).toMatch(/webhook\s+built-in/);

    const again = await cli(["extension", "install", "gantry-ext-hello"]);
    expect(again.exitCode).not.toBe(0);
    expect(again.stderr).toContain("gantry-ext-hello is already installed (1.0.0) as extension hello; use gantry extension upgrade hello");
  });

  it("marks installed packages in the registry's list", async () => {
    const response = await gantry.api("/extensions/available?q=hello");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { registry: string; packages: { name: string; installed?: { id: string; version: string } }[] };
    expect(body.registry).toBe(registry.url);
    expect(body.packages.find((pkg) => pkg.name === "gantry-ext-hello")?.installed).toEqual({ id: "hello", version: "1.0.0" });
  });

  it("refuses a package without the gantry-extension keyword, one with dependencies, and one taking a built-in's id", async () => {
    const plain = await cli(["extension", "install", "not-an-extension"]);
    expect(plain.exitCode).not.toBe(0);
    expect(plain.stderr).toContain('not-an-extension@1.0.0 is not a Gantry extension: its package.json has no "gantry-extension" keyword');
    const withDeps = await cli(["extension", "install", "gantry-ext-deps"]);
    expect(withDeps.stderr).toContain("has runtime dependencies (left-pad)");
    const clash = await gantry.api("/extensions/install", { method: "POST", body: JSON.stringify({ package: "@acme/webhook-clone" }) });
    expect(clash.status).toBe(409);
    expect(((await clash.json()) as { error: { message: string } }).error.message).toContain('the extension id "webhook" is taken by a built-in extension');
    const missing = await cli(["extension", "install", "gantry-ext-nowhere"]);
    expect(missing.stderr).toContain("has no package gantry-ext-nowhere");
    for (const id of ["not-an-extension", "gantry-ext-deps"]) expect(await extension(id)).toBeUndefined();
    expect(existsSync(join(gantry.dataDir, "extensions", "gantry-ext-deps"))).toBe(false);
    // The built-in is untouched.
    expect((await extension("webhook"))?.source).toBe("built-in");
  });

  it("upgrades to a new version: the new code runs and the pin moves", async () => {
    registry.publish(helloPackage("1.1.0"));
    const upgraded = await cli(["extension", "upgrade", "hello"]);
    expect(upgraded.stderr).toBe("");
    expect(upgraded.stdout).toContain("upgraded extension hello: gantry-ext-hello 1.0.0 -> 1.1.0");
    expect(upgraded.exitCode).toBe(0);
    const hook = await fetch(`${gantry.hooksUrl}/hooks/hello`, { method: "POST", body: "{}" });
    expect(await hook.json()).toMatchObject({ version: "1.1.0" });
    expect((await extension("hello"))?.installed?.version).toBe("1.1.0");
    const same = await cli(["extension", "upgrade", "hello"]);
    expect(same.stdout).toContain("extension hello is already at gantry-ext-hello@1.1.0");
    // Back to a pinned older version on request.
    const down = await cli(["extension", "upgrade", "hello", "1.0.0"]);
    expect(down.stdout).toContain("1.1.0 -> 1.0.0");
    expect(await (await fetch(`${gantry.hooksUrl}/hooks/hello`, { method: "POST", body: "{}" })).json()).toMatchObject({ version: "1.0.0" });
  });

  it("uninstalls an installed extension, never a built-in one", async () => {
    const builtIn = await cli(["extension", "uninstall", "webhook"]);
    expect(builtIn.exitCode).not.toBe(0);
    expect(builtIn.stderr).toContain("extension webhook is built in");
    const removed = await cli(["extension", "uninstall", "hello"]);
    expect(removed.stderr).toBe("");
    expect(removed.stdout).toContain("uninstalled extension hello (gantry-ext-hello@1.0.0)");
    expect(await extension("hello")).toBeUndefined();
    expect(existsSync(join(gantry.dataDir, "extensions", "hello"))).toBe(false);
    expect((await fetch(`${gantry.hooksUrl}/hooks/hello`, { method: "POST", body: "{}" })).status).toBe(404);
    expect((await cli(["extension", "uninstall", "hello"])).stderr).toContain("no installed extension hello");
  });

  it("counts an extension that waits for its [extensions.<id>] table as installed: exit 0, and says what it needs", async () => {
    const installed = await cli(["extension", "install", "gantry-ext-needy@1.0.0"]);
    expect(installed.stderr).toBe("");
    expect(installed.stdout).toContain("extension needy is installed and unconfigured: it needs its [extensions.needy] table in the server's gantry.toml to run");
    expect(installed.exitCode).toBe(0);
    const upgraded = await cli(["extension", "upgrade", "needy", "1.1.0"]);
    expect(upgraded.stderr).toBe("");
    expect(upgraded.stdout).toContain("upgraded extension needy: gantry-ext-needy 1.0.0 -> 1.1.0");
    expect(upgraded.stdout).toContain("needs its [extensions.needy] table");
    expect(upgraded.exitCode).toBe(0);
    const needy = await extension("needy");
    expect(needy?.state).toBe("unconfigured");
    expect(needy?.log.join("\n")).toContain("token");
    expect((await cli(["extension", "uninstall", "needy"])).exitCode).toBe(0);
  });

  it("names the permissions install, upgrade and uninstall need in the OpenAPI document", async () => {
    const { paths } = (await (await gantry.api("/openapi.json")).json()) as { paths: Record<string, Record<string, { summary: string }>> };
    for (const summary of [paths["/extensions/install"]!.post!.summary, paths["/extensions/{id}/upgrade"]!.post!.summary, paths["/extensions/{id}"]!.delete!.summary]) {
      expect(summary).toContain("extensions:write and system:write");
    }
  });

  it("starts installed extensions again after a server restart", async () => {
    expect((await cli(["extension", "install", "gantry-ext-hello"])).exitCode).toBe(0);
    await gantry.stop();
    gantry = await startTestGantry({ dataDir: gantry.dataDir, env: { GANTRY_NPM_REGISTRY: registry.url } });
    const hello = await waitFor(async () => {
      const found = await extension("hello");
      return found?.state === "running" ? found : undefined;
    });
    expect(hello.installed?.version).toBe("1.1.0");
  });
});

/** A .tgz written entry by entry, for tarballs npm pack would never make. */
function hostileTarball(entries: (Omit<TarHeader, "size" | "mode" | "mtime"> & { content?: string })[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const content = new TextEncoder().encode(entry.content ?? "");
    parts.push(tarHeader({ ...entry, size: content.length, mode: 0o644, mtime: new Date(0) }), content, tarPadding(content.length));
  }
  parts.push(TAR_END);
  return Bun.gzipSync(Buffer.concat(parts));
}

const PACKAGE_JSON = (name: string) => JSON.stringify({ name, version: "1.0.0", keywords: ["gantry-extension"] });

describe("a registry that lies or is gone", () => {
  let fake: ReturnType<typeof Bun.serve>;
  let other: TestGantry;

  beforeAll(async () => {
    const real = readFileSync(helloPackage("2.0.0"));
    const tampered = readFileSync(
      packPackage({ name: "gantry-ext-hello", version: "2.0.0", keywords: ["gantry-extension"], type: "module", gantry: { id: "hello" } }, { "index.js": extensionSource("hello", "evil") }),
    );
    // Tarballs that would write outside the extension's folder, or plant a link: their integrity is right.
    const hostile: Record<string, Uint8Array> = {
      "gantry-ext-escape": hostileTarball([
        { path: "package/package.json", type: "file", content: PACKAGE_JSON("gantry-ext-escape") },
        { path: "package/index.js", type: "file", content: "export default {};" },
        { path: "package/../../escaped.js", type: "file", content: "owned" },
      ]),
      "gantry-ext-link": hostileTarball([
        { path: "package/package.json", type: "file", content: PACKAGE_JSON("gantry-ext-link") },
        { path: "package/index.js", type: "symlink", linkTarget: "/etc/passwd" },
      ]),
      // Entries the file system refuses: a file beneath a file, a path longer than Linux's 4096 bytes.
      "gantry-ext-clash": hostileTarball([
        { path: "package/package.json", type: "file", content: PACKAGE_JSON("gantry-ext-clash") },
        { path: "package/lib", type: "file", content: "a file" },
        { path: "package/lib/index.js", type: "file", content: "export default {};" },
      ]),
      "gantry-ext-deep": hostileTarball([
        { path: "package/package.json", type: "file", content: PACKAGE_JSON("gantry-ext-deep") },
        { path: `package/${"deep/".repeat(900)}index.js`, type: "file", content: "export default {};" },
      ]),
      // Folders count toward the cap on entries as files do.
      "gantry-ext-folders": hostileTarball([
        { path: "package/package.json", type: "file", content: PACKAGE_JSON("gantry-ext-folders") },
        ...Array.from({ length: 2_000 }, (_, index) => ({ path: `package/d${index}/`, type: "directory" as const })),
      ]),
    };
    // Manifests the config loader could not pin, or of another package than the one asked for.
    const lying: Record<string, { name: string; version: string; tarball: Uint8Array }> = {};
    for (const [asked, name, version] of [
      ["gantry-ext-spaced", "gantry-ext-spaced", "1.0.0 beta"],
      ["gantry-ext-alias", "gantry-ext-other", "1.0.0"],
    ] as const) {
      const tarball = hostileTarball([
        { path: "package/package.json", type: "file", content: JSON.stringify({ name, version, keywords: ["gantry-extension"] }) },
        { path: "package/index.js", type: "file", content: "export default {};" },
      ]);
      lying[asked] = { name, version, tarball };
    }
    // Vouches for the real tarball's sha512, serves the tampered one.
    fake = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        const { pathname } = new URL(request.url);
        const base = `http://127.0.0.1:${fake.port}`;
        const name = pathname.slice(1).split("/")[0]!;
        if (hostile[name] && pathname === `/${name}`) {
          const manifest = JSON.parse(PACKAGE_JSON(name)) as Record<string, unknown>;
          return Response.json({
            name,
            "dist-tags": { latest: "1.0.0" },
            versions: { "1.0.0": { ...manifest, dist: { tarball: `${base}/${name}/-/${name}-1.0.0.tgz`, integrity: sha512Integrity(hostile[name]) } } },
          });
        }
        if (hostile[name]) return new Response(hostile[name]);
        if (lying[name] && pathname === `/${name}`) {
          const { name: named, version, tarball } = lying[name];
          return Response.json({
            name,
            "dist-tags": { latest: version },
            versions: { [version]: { name: named, version, keywords: ["gantry-extension"], dist: { tarball: `${base}/${name}/-/x.tgz`, integrity: sha512Integrity(tarball) } } },
          });
        }
        if (lying[name]) return new Response(lying[name].tarball);
        if (pathname === "/gantry-ext-hello") {
          return Response.json({
            name: "gantry-ext-hello",
            "dist-tags": { latest: "2.0.0" },
            versions: {
              "2.0.0": {
                name: "gantry-ext-hello",
                version: "2.0.0",
                keywords: ["gantry-extension"],
                gantry: { id: "hello" },
                dist: { tarball: `${base}/gantry-ext-hello/-/gantry-ext-hello-2.0.0.tgz`, integrity: sha512Integrity(real) },
              },
            },
          });
        }
        if (pathname === "/gantry-ext-hello/-/gantry-ext-hello-2.0.0.tgz") return new Response(tampered);
        return new Response("not found", { status: 404 });
      },
    });
    other = await startTestGantry({ env: { GANTRY_NPM_REGISTRY: `http://127.0.0.1:${fake.port}` } });
  });
  afterAll(async () => {
    await other?.stop();
    fake?.stop(true);
  });

  it("refuses a tarball whose sha512 is not the registry's integrity, and installs nothing", async () => {
    const result = await runCli(["extension", "install", "gantry-ext-hello"], { server: { url: other.url, token: other.token } });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain("integrity check failed for gantry-ext-hello@2.0.0: the registry says sha512-");
    expect(result.stderr).toContain("nothing was installed");
    expect((await other.api("/extensions/hello")).status).toBe(404);
    expect(existsSync(join(other.dataDir, "extensions", "hello"))).toBe(false);
    expect(existsSync(join(other.dataDir, "extensions", "installed.json"))).toBe(false);
  });

  it("refuses a tarball with a path out of the package or a symlink, and leaves nothing behind", async () => {
    const escape = await other.api("/extensions/install", { method: "POST", body: JSON.stringify({ package: "gantry-ext-escape" }) });
    expect(escape.status).toBe(400);
    expect(((await escape.json()) as { error: { message: string } }).error.message).toContain('the tarball holds an unsafe path: "package/../../escaped.js"');
    const link = await other.api("/extensions/install", { method: "POST", body: JSON.stringify({ package: "gantry-ext-link" }) });
    expect(link.status).toBe(400);
    expect(((await link.json()) as { error: { message: string } }).error.message).toContain("gantry-ext-link@1.0.0: the tarball is not a valid package (package/index.js is a symlink");
    expect(existsSync(join(other.dataDir, "escaped.js"))).toBe(false);
    expect(readdirSync(join(other.dataDir, "extensions"))).toEqual([]);
  });

  it("refuses, as the package's fault (400) naming the entry, entries the file system will not take, and more than 2000 folders", async () => {
    const refusal = async (name: string) => {
      const response = await other.api("/extensions/install", { method: "POST", body: JSON.stringify({ package: name }) });
      expect(response.status).toBe(400);
      return ((await response.json()) as { error: { message: string } }).error.message;
    };
    expect(await refusal("gantry-ext-clash")).toBe('gantry-ext-clash@1.0.0: the tarball\'s entry "package/lib/index.js" lies beneath a file an earlier entry put there');
    const deep = await refusal("gantry-ext-deep");
    expect(deep).toStartWith('gantry-ext-deep@1.0.0: the tarball\'s entry "package/deep/deep/');
    expect(deep).toEndWith(`(${`package/${"deep/".repeat(900)}index.js`.length} characters) has a path too long to unpack`);
    expect(await refusal("gantry-ext-folders")).toBe("gantry-ext-folders@1.0.0: the package holds more than 2000 files and folders");
    expect(readdirSync(join(other.dataDir, "extensions"))).toEqual([]);
  });

  it("refuses a manifest of another package, or one whose version could not be pinned, and installs nothing", async () => {
    const spaced = await other.api("/extensions/install", { method: "POST", body: JSON.stringify({ package: "gantry-ext-spaced" }) });
    expect(spaced.status).toBe(502);
    expect(((await spaced.json()) as { error: { message: string } }).error.message).toMatch(/^gantry-ext-spaced@1\.0\.0 beta on http:\/\/127\.0\.0\.1:\d+ has a malformed manifest \(version: must be an exact version like "1\.2\.3"/);
    const alias = await other.api("/extensions/install", { method: "POST", body: JSON.stringify({ package: "gantry-ext-alias" }) });
    expect(alias.status).toBe(502);
    expect(((await alias.json()) as { error: { message: string } }).error.message).toContain('has a malformed manifest (name: it names "gantry-ext-other", not gantry-ext-alias)');
    expect(readdirSync(join(other.dataDir, "extensions"))).toEqual([]);
  });

  it("says so when the registry cannot be reached", async () => {
    const port = fake.port;
    fake.stop(true);
    const result = await runCli(["extension", "available"], { server: { url: other.url, token: other.token } });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`the npm registry at http://127.0.0.1:${port} cannot be reached`);
    const response = await other.api("/extensions/available");
    expect(response.status).toBe(502);
  });
});

describe("the npm registry client's searches", () => {
  /** How long the fake takes over each search request, and the texts it was asked. */
  let delayMs = 0;
  const asked: string[] = [];
  let fake: ReturnType<typeof Bun.serve>;
  const url = () => `http://127.0.0.1:${fake.port}`;

  beforeAll(() => {
    fake = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(request) {
        const { pathname, searchParams } = new URL(request.url);
        if (pathname !== "/-/v1/search") return new Response("not found", { status: 404 });
        const text = searchParams.get("text") ?? "";
        asked.push(text);
        await Bun.sleep(delayMs);
        // As verdaccio does: "keywords:" finds nothing, so the client asks again with the words alone.
        if (text.startsWith("keywords:")) return Response.json({ objects: [] });
        return Response.json({ objects: [{ package: { name: "gantry-ext-found", version: "1.0.0", keywords: ["gantry-extension"] } }] });
      },
    });
  });
  afterAll(() => fake?.stop(true));

  it("lets a caller who waits briefly give up alone: the search goes on for one who waits longer", async () => {
    delayMs = 150;
    const registry = createNpmRegistry(url());
    await expect(registry.search("found", 50)).rejects.toThrow(`the npm registry at ${url()} cannot be reached: no answer to a search within 0.05 s`);
    // Another brief caller gives up at once rather than wait in vain again...
    const before = performance.now();
    await expect(registry.search("found", 50)).rejects.toThrow("no answer to a search within 0.05 s");
    expect(performance.now() - before).toBeLessThan(40);
    // ...while the API, which waits for the registry, gets the answer of the same search.
    expect((await registry.search("found")).map((pkg) => pkg.name)).toEqual(["gantry-ext-found"]);
    expect(asked).toEqual(["keywords:gantry-extension found", "found"]);
    // Answered, it is every caller's.
    expect((await registry.search("found", 50)).map((pkg) => pkg.name)).toEqual(["gantry-ext-found"]);
  });

  it("gives a search and its fallback one deadline together", async () => {
    delayMs = 300;
    asked.length = 0;
    const registry = createNpmRegistry(url(), { timeoutMs: 450 });
    const before = performance.now();
    await expect(registry.search("found")).rejects.toThrow(`the npm registry at ${url()} cannot be reached`);
    expect(performance.now() - before).toBeLessThan(600);
    expect(asked).toEqual(["keywords:gantry-extension found", "found"]);
  });
});

describe("a data dir an upgrade was cut short in", () => {
  /** A package folder as an install leaves it: package.json and its entry module. */
  const packageFolder = (path: string, id: string, version: string) => {
    writeFile(join(path, "package.json"), JSON.stringify({ name: `gantry-ext-${id}`, version, keywords: ["gantry-extension"], type: "module" }));
    writeFile(join(path, "index.js"), extensionSource(id, version));
  };
  const record = (id: string, version: string) => ({ package: `gantry-ext-${id}`, version, integrity: "sha512-x", entry: "index.js", installedAt: "2025-01-01T00:00:00.000Z" });

  it("puts the old version back where the new one never took over, keeps a recorded new one, and clears the rest", async () => {
    const dataDir = tempDir("gantry-data-");
    const dir = join(dataDir, "extensions");
    // Cut short between moving the old folder aside and moving the new one in: no restored/ at all.
    packageFolder(join(dir, `.old-restored-${crypto.randomUUID()}`), "restored", "1.0.0");
    // Cut short once the new version was in place, before installed.json recorded it.
    packageFolder(join(dir, "unrecorded"), "unrecorded", "2.0.0");
    packageFolder(join(dir, `.old-unrecorded-${crypto.randomUUID()}`), "unrecorded", "1.0.0");
    // Cut short once installed.json recorded the new version, before the old folder went.
    packageFolder(join(dir, "recorded"), "recorded", "2.0.0");
    packageFolder(join(dir, `.old-recorded-${crypto.randomUUID()}`), "recorded", "1.0.0");
    // A download unpacked and never moved in, and a half-written installed.json.
    packageFolder(join(dir, `.staging-restored-${crypto.randomUUID()}`), "restored", "3.0.0");
    writeFile(join(dir, "installed.json.tmp"), '{"extensions": {');
    writeFile(
      join(dir, "installed.json"),
      JSON.stringify({ extensions: { restored: record("restored", "1.0.0"), unrecorded: record("unrecorded", "1.0.0"), recorded: record("recorded", "2.0.0") } }),
    );

    const restarted = await startTestGantry({ dataDir });
    try {
      expect(readdirSync(dir).sort()).toEqual(["installed.json", "recorded", "restored", "unrecorded"]);
      for (const [id, version] of [
        ["restored", "1.0.0"],
        ["unrecorded", "1.0.0"],
        ["recorded", "2.0.0"],
      ] as const) {
        const hook = await fetch(`${restarted.hooksUrl}/hooks/${id}`, { method: "POST", body: "{}" });
        expect(hook.status).toBe(200);
        expect(await hook.json()).toMatchObject({ id, version });
      }
    } finally {
      await restarted.stop();
    }
  });
});
