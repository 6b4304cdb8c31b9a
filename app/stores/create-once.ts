// Creates a file in a data dir that several processes may share, once and whole: written under
// a name of its own, then linked into place (which fails if the name is taken), so a reader
// sees no file or the complete one, never a partial write, and only one writer's text wins.
import { linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";

/**
 * Writes `text` to `file` unless it exists; answers what the file holds then: `text`, or what
 * another process put there first.
 */
export function createFileOnce(file: string, text: string, mode: number): string {
  const partial = `${file}.${process.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  writeFileSync(partial, text, { mode, flag: "wx" });
  try {
    linkSync(partial, file);
    return text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return readFileSync(file, "utf8");
  } finally {
    rmSync(partial, { force: true });
  }
}
