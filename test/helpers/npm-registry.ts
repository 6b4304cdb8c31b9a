// An npm registry for tests: verdaccio (the devDependency) on 127.0.0.1:<free port>, its storage
// in a temp folder and anonymous publish allowed; and extension packages packed with `npm pack`
// from a temp folder and published to it with `npm publish` (never to the real registry).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT, tempDir, writeFile } from "./temp.ts";
import { freePort } from "./ports.ts";

export interface NpmRegistryStub {
  url: string;
  /** Publishes a packed tarball (.tgz) to the stub. */
  publish(tarball: string): void;
  stop(): Promise<void>;
}

/** verdaccio on a free port, with nothing but what the test publishes (no uplink to npmjs.org). */
export async function startVerdaccio(): Promise<NpmRegistryStub> {
  const dir = tempDir("gantry-verdaccio-");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = writeFile(
    join(dir, "config.yaml"),
    [
      `storage: ${join(dir, "storage")}`,
      "auth:",
      "  htpasswd:",
      `    file: ${join(dir, "htpasswd")}`,
      "    max_users: -1",
      "uplinks: {}",
      "packages:",
      "  '**':",
      "    access: $anonymous",
      "    publish: $anonymous",
      "    unpublish: $anonymous",
      "log: { type: stdout, format: pretty, level: error }",
      "",
    ].join("\n"),
  );
  const proc = Bun.spawn(["node", join(REPO_ROOT, "node_modules/verdaccio/bin/verdaccio"), "--config", config, "--listen", `127.0.0.1:${port}`], {
    cwd: dir,
    stdout: "ignore",
    stderr: "ignore",
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await fetch(`${url}/-/ping`).then((response) => response.ok, () => false);
    if (up) break;
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill();
      throw new Error(`verdaccio did not start on ${url}`);
    }
    await Bun.sleep(200);
  }
  return {
    url,
    publish(tarball) {
      // verdaccio lets anyone publish here; npm still wants some token for the registry.
      const result = spawnSync("npm", ["publish", tarball, "--registry", url, `--//127.0.0.1:${port}/:_authToken=anonymous`, "--ignore-scripts"], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, npm_config_cache: join(dir, "npm-cache") },
      });
      if (result.status !== 0) throw new Error(`npm publish ${tarball} failed: ${result.stderr}`);
    },
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** Writes a package folder (package.json plus files) and packs it with `npm pack`; the path of the .tgz. */
export function packPackage(packageJson: Record<string, unknown>, files: Record<string, string>): string {
  const dir = tempDir("gantry-npm-package-");
  writeFile(join(dir, "package.json"), `${JSON.stringify(packageJson, null, 2)}\n`);
  for (const [name, content] of Object.entries(files)) writeFile(join(dir, name), content);
  const out = tempDir("gantry-npm-pack-");
  const result = spawnSync("npm", ["pack", "--pack-destination", out, "--ignore-scripts", "--json"], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, npm_config_cache: join(out, "npm-cache") },
  });
  if (result.status !== 0) throw new Error(`npm pack failed: ${result.stderr}`);
  const [packed] = JSON.parse(result.stdout) as { filename: string }[];
  return join(out, packed!.filename);
}
