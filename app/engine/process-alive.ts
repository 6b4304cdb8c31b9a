// Whether a process is alive as the kernel sees it, which is sooner than a child's exit
// reaches the event loop: a process killed a moment ago is a zombie until it is reaped.
import { existsSync, readFileSync } from "node:fs";

/** Whether a process of this pid namespace is alive: one we may not signal is, a zombie (killed, not yet reaped by its parent) is not. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    // Gone meanwhile.
    return existsSync(`/proc/${pid}`);
  }
}
