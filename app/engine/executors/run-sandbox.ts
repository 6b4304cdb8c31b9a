// The bubblewrap sandbox that pipeline code (run() tasks, the import of a pipeline file)
// runs in: a private mount namespace with the system read-only, only the paths a piece of
// work needs bound in, a private /tmp and pid namespace, as an unprivileged user.
import { chmod, chown, open, readdir, type FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import { existsSync, lstatSync, readlinkSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { resolveSandboxUser, type SandboxUser } from "./sandbox-user.ts";
import { hardLinkProblem } from "../../stores/workspace-dirs.ts";
import type { SandboxPath } from "../../config.ts";

export type SandboxStatus =
  /** Pipeline code runs sandboxed, as `user` (the server's own user when it is not root). */
  | { state: "on"; user?: SandboxUser }
  /** An admin turned the sandbox off (GANTRY_RUN_SANDBOX=off): pipeline code runs with the server's rights. */
  | { state: "off" }
  /** The sandbox should be on but cannot run here: run() tasks and imports are refused. */
  | { state: "unavailable"; reason: string };

export interface SandboxOptions {
  /** Working directory inside the sandbox (bound read-write or read-only below). */
  cwd: string;
  /** Host paths visible read-only at the same path inside. */
  readOnly: string[];
  /** Host paths visible read-write at the same path inside (the run's workspace). */
  writable: string[];
  /** Host folders visible at another path inside (the run's workspace at /workspace). */
  binds?: { source: string; target: string; writable: boolean }[];
  /** "none": no network namespace shared, only a private loopback. */
  network?: "none";
}

/**
 * What runs a command in a fresh sandbox: spread into Bun.spawn's options. The process starts
 * as the sandbox's user (uid and gid set as it is spawned, its supplementary groups cleared,
 * so bwrap itself runs unprivileged and builds the sandbox with user namespaces; no
 * capability survives the change from root).
 */
export interface SandboxedCommand {
  cmd: string[];
  uid?: number;
  gid?: number;
}

export interface RunSandbox {
  readonly status: SandboxStatus;
  /** The command that runs `argv` in a fresh sandbox, as the sandbox's user; only when the status is "on". */
  wrap(argv: string[], options: SandboxOptions): SandboxedCommand;
  /**
   * Hands a directory the sandbox writes (a workspace) to the sandbox user, closed to others;
   * the folders from `root` down to it only let it pass (0711), so bwrap can bind it.
   */
  own(path: string, root: string): Promise<void>;
  /**
   * Hands everything in a workspace back to the sandbox user and its group (what a container
   * wrote as root, what a re-run copied), so later tasks of either kind can change it.
   * Links are never followed. Only a root server can; for others this does nothing.
   */
  reclaim(path: string): Promise<void>;
  /** The group owning workspaces, which containers join to share them; absent when they are open to all. */
  readonly workspaceGroup?: number;
}

/** What a person reads when pipeline code is refused because the sandbox cannot run. */
export function sandboxRefusal(reason: string): string {
  return `run() tasks and pipeline imports are refused: ${reason}. Install bubblewrap (apt-get install bubblewrap), or an admin may set GANTRY_RUN_SANDBOX=off to run pipeline code unsandboxed`;
}

/** The system parts every sandbox sees read-only; merged-/usr symlinks are recreated as links. */
const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"];

const compiled = Bun.isStandaloneExecutable;
/** From source the runner is the app/ folder run by bun with the project's node_modules. */
const PROJECT_ROOT = join(import.meta.dir, "..", "..", "..");

function programPaths(): string[] {
  if (compiled) return [process.execPath];
  const paths = [process.execPath, join(PROJECT_ROOT, "app"), join(PROJECT_ROOT, "node_modules")];
  for (const file of ["package.json", "tsconfig.json"]) {
    if (existsSync(join(PROJECT_ROOT, file))) paths.push(join(PROJECT_ROOT, file));
  }
  return paths;
}

function systemMounts(): string[] {
  const args: string[] = [];
  for (const path of SYSTEM_PATHS) {
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) args.push("--symlink", readlinkSync(path), path);
    else if (stat.isDirectory()) args.push("--ro-bind", path, path);
  }
  return args;
}

/** Lets others pass through (not list) each folder from root down to path's parent. */
async function passThrough(path: string, root: string): Promise<void> {
  const rel = relative(root, dirname(path));
  if (rel.startsWith("..")) return;
  let dir = root;
  await ensureMode(dir, 0o711);
  for (const part of rel.split(sep).filter(Boolean)) {
    dir = join(dir, part);
    await ensureMode(dir, 0o711);
  }
}

// Each run's workspace is owned this way as it starts, its folders above it mostly set
// already. A chmod or chown dirties the inode even when nothing changes (its ctime), and the
// database's next fsync waits for the file system's journal to take it: only what differs is
// changed. (A stat reads the cached inode; it neither writes nor waits.)

/** chmod, unless the mode is that already. */
async function ensureMode(path: string, mode: number): Promise<void> {
  if ((statSync(path).mode & 0o7777) !== mode) await chmod(path, mode);
}

/** chown, unless it is theirs already. */
async function ensureOwner(path: string, uid: number, gid: number): Promise<void> {
  const now = statSync(path);
  if (now.uid !== uid || now.gid !== gid) await chown(path, uid, gid);
}

/**
 * chown to the user and group, and group read-write (folders set-group-id), all the way
 * down. Walked through open folders, never by path: tasks of the run may still be writing
 * the workspace, and a folder swapped for a link mid-walk must not lead root's chown out of
 * it. Links are left as they are (their owner does not matter); so is anything that is
 * neither a file nor a folder.
 */
async function reclaimTree(path: string, user: SandboxUser): Promise<void> {
  let root: FileHandle;
  try {
    root = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return;
  }
  try {
    await reclaimChildren(root, user);
  } finally {
    await root.close();
  }
}

const CHILD_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

async function reclaimChildren(dir: FileHandle, user: SandboxUser): Promise<void> {
  let names: string[];
  try {
    names = await readdir(`/proc/self/fd/${dir.fd}`);
  } catch {
    return;
  }
  for (const name of names) {
    let child: FileHandle;
    try {
      // Through the open folder: whatever its path now leads to, this is the folder listed.
      child = await open(`/proc/self/fd/${dir.fd}/${name}`, CHILD_FLAGS);
    } catch {
      // A link (ELOOP), a socket, or gone meanwhile.
      continue;
    }
    try {
      const stat = await child.stat();
      if (!stat.isDirectory() && !stat.isFile()) continue;
      // A second name of someone else's file (a hard link to /etc/shadow, where the host lets
      // anyone make one) stays theirs: only what the run made is handed over.
      if (stat.isFile() && hardLinkProblem(stat, user.uid)) continue;
      if (stat.uid !== user.uid || stat.gid !== user.gid) await child.chown(user.uid, user.gid);
      if (stat.isDirectory()) {
        if ((stat.mode & 0o2070) !== 0o2070) await child.chmod((stat.mode & 0o7777) | 0o2070);
        await reclaimChildren(child, user);
      } else if ((stat.mode & 0o060) !== 0o060) {
        await child.chmod((stat.mode & 0o7777) | 0o060);
      }
    } catch {
      // gone meanwhile
    } finally {
      await child.close();
    }
  }
}

const cache = new Map<string, RunSandbox>();

/**
 * The sandbox for this server, checked once by running the real runner program inside one:
 * a missing bwrap, disabled user namespaces or an unreadable program all show up here.
 */
export interface PrepareSandboxOptions {
  /** Host paths bound into every sandbox (GANTRY_RUN_SANDBOX_PATHS). */
  shared?: SandboxPath[];
  /** Folders the sandbox is given parts of (workspaces, bundles): the probe binds them, so a folder above them the sandbox user cannot pass shows here. */
  reach?: string[];
}

export function prepareRunSandbox(setting: "on" | "off", options: PrepareSandboxOptions = {}): RunSandbox {
  const shared = options.shared ?? [];
  const reach = options.reach ?? [];
  const cacheKey = JSON.stringify([setting, shared, reach]);
  const known = cache.get(cacheKey);
  if (known) return known;
  const sandbox = setting === "off" ? offSandbox() : probe(shared, reach);
  cache.set(cacheKey, sandbox);
  return sandbox;
}

function offSandbox(): RunSandbox {
  return {
    status: { state: "off" },
    wrap: () => {
      throw new Error("the run sandbox is off");
    },
    // Unsandboxed tasks run as the server; containers may run as any user: keep it open as before.
    own: (path) => chmod(path, 0o777),
    reclaim: async () => {},
  };
}

function probe(shared: SandboxPath[], reach: string[]): RunSandbox {
  const unavailable = (reason: string): RunSandbox => ({
    status: { state: "unavailable", reason },
    wrap: () => {
      throw new Error(sandboxRefusal(reason));
    },
    own: (path) => chmod(path, 0o700),
    reclaim: async () => {},
  });
  const bwrap = Bun.which("bwrap");
  if (!bwrap) return unavailable("bubblewrap (bwrap) is not installed");
  const user = resolveSandboxUser();
  const paths = programPaths();
  const system = systemMounts();
  const missing = shared.find((entry) => !existsSync(entry.path));
  if (missing) return unavailable(`GANTRY_RUN_SANDBOX_PATHS names ${missing.path}, which does not exist`);
  const group = user?.gid ?? process.getgid?.();
  const sandbox: RunSandbox = {
    status: { state: "on", ...(user && { user }) },
    ...(group !== undefined && { workspaceGroup: group }),
    wrap(argv, options) {
      // Started as the sandbox's user (see SandboxedCommand): bwrap itself is unprivileged.
      // (setpriv did this before; Bun's spawn does it without a second exec, ~2 ms a sandbox.)
      const args: string[] = [
        bwrap,
        "--unshare-all",
        ...(options.network === "none" ? [] : ["--share-net"]),
        // Nothing outlives the sandbox: its pid namespace dies with the task (setsid and
        // nohup children included), and the task dies with the server that started it.
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "gantry-task",
        ...system,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
      ];
      // Binds come after the private /tmp: test and default data dirs may live under /tmp.
      for (const path of [...paths, ...options.readOnly]) args.push("--ro-bind", path, path);
      for (const entry of shared) args.push(entry.writable ? "--bind" : "--ro-bind", entry.path, entry.path);
      for (const path of options.writable) args.push("--bind", path, path);
      for (const bind of options.binds ?? []) args.push(bind.writable ? "--bind" : "--ro-bind", bind.source, bind.target);
      args.push("--chdir", options.cwd, "--", ...argv);
      return { cmd: args, ...(user && { uid: user.uid, gid: user.gid }) };
    },
    async own(path, root) {
      await passThrough(path, root);
      if (user) await ensureOwner(path, user.uid, user.gid);
      // The sandbox user and containers (which join its group) write here; no one else
      // reads it. Set-group-id: what either makes belongs to the group too.
      await ensureMode(path, 0o2770);
    },
    reclaim: (path) => (user ? reclaimTree(path, user) : Promise.resolve()),
  };
  // The sandbox's user is set by Bun's spawn: a process it starts must be that user, in that
  // group alone, or nothing runs (a spawn that ignored the ids would run bwrap as root).
  if (user) {
    const ids = Bun.spawnSync({ cmd: ["/bin/sh", "-c", "id -u; id -G"], uid: user.uid, gid: user.gid, cwd: "/", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin" } });
    const said = ids.stdout.toString().trim().split("\n");
    if (ids.exitCode !== 0 || said[0] !== String(user.uid) || said[1] !== String(user.gid)) {
      return unavailable(`a process started as the sandbox user ${user.name} was not that user alone (id said: ${said.join(" / ") || ids.stderr.toString().trim() || `exit code ${ids.exitCode}`})`);
    }
  }
  const check = Bun.spawnSync({
    ...sandbox.wrap([process.execPath, "--version"], { cwd: "/", readOnly: reach, writable: [], network: "none" }),
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  if (check.exitCode !== 0) {
    const said = check.stderr.toString().trim().split("\n").slice(-1)[0] || `exit code ${check.exitCode}`;
    const unreachable = reach.find((path) => said.includes(path));
    if (unreachable && user) {
      return unavailable(`the sandbox user ${user.name} cannot reach ${unreachable}; let it pass through the folders above it (chmod o+x), or move the data dir (${said})`);
    }
    return unavailable(`bubblewrap cannot start a sandbox here (${said})`);
  }
  return sandbox;
}
