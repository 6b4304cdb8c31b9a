// A source folder with a package.json gets its packages installed before its files are bundled,
// so pipelines can import helper packages. `bun install --frozen-lockfile --ignore-scripts` runs
// in the sandbox (the network, a copy of the folder, nothing else; no package's scripts), once
// per content of what an install reads (package.json, lockfiles, .npmrc, bunfig.toml, `file:`
// folders: every file but the top-level scripts): kept by that hash for the source's later commits.
import { chmodSync, cpSync, existsSync, readdirSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sandboxRefusal, type RunSandbox } from "../executors/run-sandbox.ts";
import { makeReadable } from "./source-tree.ts";
import { runSandboxed } from "../pipelines/sandboxed-process.ts";

const INSTALL_TIMEOUT_MS = 5 * 60_000;
const DONE_MARKER = ".gantry-installed";

export type DependenciesResult =
  /** `nodeModules`: the installed folder (absent when the folder has no package.json). */
  | { ok: true; nodeModules?: string; hash?: string }
  | { ok: false; message: string };

/**
 * The hash an install is kept under: Bun's version and every file of the folder (path and git
 * blob id) but its top-level scripts, which an install never reads (pipelines and helpers).
 */
export function dependenciesHash(files: ReadonlyMap<string, string>): string | undefined {
  if (!files.has("package.json")) return undefined;
  const hasher = new Bun.CryptoHasher("sha256").update(Bun.version);
  for (const [path, oid] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    if (!path.includes("/") && /\.[mc]?[tj]sx?$/.test(path)) continue;
    hasher.update(`\0${path}\0${oid}`);
  }
  return hasher.digest("hex");
}

/**
 * Installs the folder's packages into `<cacheDir>/<hash>` unless already there, and links
 * `<folder>/node_modules` to them. An install failure carries the installer's own words.
 */
export async function installDependencies(folder: string, files: ReadonlyMap<string, string>, cacheDir: string, sandbox: RunSandbox): Promise<DependenciesResult> {
  const hash = dependenciesHash(files);
  if (!hash) return { ok: true };
  const target = join(cacheDir, hash);
  if (!existsSync(join(target, DONE_MARKER))) {
    if (sandbox.status.state === "unavailable") return { ok: false, message: sandboxRefusal(sandbox.status.reason) };
    mkdirSync(cacheDir, { recursive: true });
    chmodSync(cacheDir, 0o711);
    const staging = `${target}.${process.pid}.${Date.now()}.tmp`;
    // A copy of the folder: `file:` dependencies inside it resolve, and the tree stays as committed.
    cpSync(folder, staging, { recursive: true, dereference: false });
    rmSync(join(staging, "node_modules"), { recursive: true, force: true });
    try {
      // The install runs as the sandbox user, which must own the copy (bun opens package.json read-write).
      if (sandbox.status.state === "on") {
        await sandbox.own(staging, cacheDir);
        await sandbox.reclaim(staging);
      }
      const failure = await runInstall(staging, sandbox);
      if (failure) return { ok: false, message: `bun install --frozen-lockfile failed: ${failure}` };
      writeFileSync(join(staging, DONE_MARKER), new Date().toISOString());
      rmSync(target, { recursive: true, force: true });
      renameSync(staging, target);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  // Only the packages of the folder as it is now stay: an older install is not needed again.
  for (const entry of readdirSync(cacheDir)) {
    if (entry !== hash && !entry.endsWith(".tmp")) rmSync(join(cacheDir, entry), { recursive: true, force: true });
  }
  const nodeModules = join(target, "node_modules");
  rmSync(join(folder, "node_modules"), { recursive: true, force: true });
  if (existsSync(nodeModules)) {
    cpSync(nodeModules, join(folder, "node_modules"), { recursive: true, verbatimSymlinks: true });
    makeReadable(join(folder, "node_modules"));
  }
  return { ok: true, nodeModules, hash };
}

/** Runs the install in `dir`; returns what went wrong, or undefined. */
async function runInstall(dir: string, sandbox: RunSandbox): Promise<string | undefined> {
  const argv = [process.execPath, "install", "--frozen-lockfile", "--ignore-scripts", "--no-progress", "--no-summary"];
  // Inside the compiled binary, the binary acts as Bun when told so.
  const env: Record<string, string> = { BUN_BE_BUN: "1", NO_COLOR: "1", BUN_INSTALL_CACHE_DIR: "/tmp/bun-cache" };
  if (sandbox.status.state === "off") {
    const child = Bun.spawn(argv, { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...env, BUN_INSTALL_CACHE_DIR: join(dir, ".bun-cache") }, stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => child.kill("SIGKILL"), INSTALL_TIMEOUT_MS);
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    clearTimeout(timer);
    rmSync(join(dir, ".bun-cache"), { recursive: true, force: true });
    return code === 0 ? undefined : lastWords(`${stderr}\n${stdout}`) || `exit code ${code}`;
  }
  const outcome = await runSandboxed(sandbox, argv, {
    cwd: dir,
    readOnly: [],
    writable: [dir],
    timeoutMs: INSTALL_TIMEOUT_MS,
    maxOutputBytes: 1024 * 1024,
    env,
  });
  if (outcome.timedOut) return `took longer than ${INSTALL_TIMEOUT_MS / 60_000} minutes`;
  if (outcome.code === 0) return undefined;
  return lastWords(`${outcome.said}\n${outcome.report}`) || `exit code ${outcome.code}`;
}

function lastWords(text: string): string {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-4)
    .join(" ")
    .slice(0, 1_000);
}
