// A real registry for tests: Debian's docker-registry on 127.0.0.1:<free port>, its storage
// in a temp folder, optionally behind htpasswd auth; stopped by its own process.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { tempDir, writeFile } from "./temp.ts";
import { freePort } from "./ports.ts";

export interface Registry {
  address: string;
  /** GET on the registry's HTTP API. */
  get(path: string, login?: string): Promise<Response>;
  stop(): Promise<void>;
}

/** Debian's docker-registry on 127.0.0.1:<free port>, its storage in a temp folder; with htpasswd auth when a login is given. */
export async function startRegistry(login?: string): Promise<Registry> {
  const dir = tempDir("gantry-registry-");
  const port = await freePort();
  let auth = "";
  if (login) {
    const [user, password] = login.split(":") as [string, string];
    const made = spawnSync("htpasswd", ["-Bbn", user, password], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`htpasswd failed: ${made.stderr}`);
    writeFile(join(dir, "htpasswd"), made.stdout);
    auth = `auth:\n  htpasswd:\n    realm: gantry-test\n    path: ${join(dir, "htpasswd")}\n`;
  }
  const config = writeFile(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const proc = Bun.spawn(["docker-registry", "serve", config], { stdout: "ignore", stderr: "pipe" });
  const address = `127.0.0.1:${port}`;
  const get = (path: string, credentials?: string) =>
    fetch(`http://${address}${path}`, credentials ? { headers: { authorization: `Basic ${Buffer.from(credentials).toString("base64")}` } } : {});
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answer = await get("/v2/").catch(() => undefined);
    if (answer && (answer.status === 200 || answer.status === 401)) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill();
      throw new Error(`docker-registry did not start on ${address}: ${await new Response(proc.stderr as ReadableStream).text()}`);
    }
    await Bun.sleep(50);
  }
  return {
    address,
    get,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

