// The unprivileged user sandboxed pipeline code runs as. A server running as root finds
// (or creates) a system user of its own; any other server runs sandboxes as itself, confined
// by user namespaces alone.
import { readFileSync } from "node:fs";

export const SANDBOX_USER_NAME = "gantry-sandbox";
/** Debian's nobody/nogroup: the fallback when no user of our own can be made. */
const NOBODY = { uid: 65534, gid: 65534 };

export interface SandboxUser {
  name: string;
  uid: number;
  gid: number;
}

/** The user to drop to, or undefined when the server is not root (it cannot switch users). */
export function resolveSandboxUser(): SandboxUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const existing = findUser(SANDBOX_USER_NAME);
  if (existing) return existing;
  // A system user with no home and no shell: nothing can log in as it.
  const made = Bun.spawnSync(
    ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group", SANDBOX_USER_NAME],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (made.exitCode === 0) {
    const created = findUser(SANDBOX_USER_NAME);
    if (created) return created;
  }
  return { name: "nobody", ...NOBODY };
}

function findUser(name: string): SandboxUser | undefined {
  let passwd: string;
  try {
    passwd = readFileSync("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  for (const line of passwd.split("\n")) {
    const [user, , uid, gid] = line.split(":");
    if (user === name && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}
