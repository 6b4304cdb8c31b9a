// A Bun macro: import it `with { type: "macro" }` and a call runs when the pipeline file is
// bundled, inlining the text files of a folder beside this file into the bundle. A run()
// task's sandbox sees only the run's workspace, so this is how a pipeline carries files of
// its own (the example CI's sample project) to write them there.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Folders that are made, not written: never part of what is shipped. */
const SKIPPED = new Set([".git", "node_modules", "dist"]);

/** Every file under `folder` (relative to this file's folder): path with "/" → its text. */
export function readFolder(folder: string): Record<string, string> {
  const root = join(import.meta.dir, folder);
  const files: Record<string, string> = {};
  const walk = (relative: string) => {
    // Sorted, so the bundle (and a commit made from it) is the same on every machine.
    const entries = readdirSync(join(root, relative), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory() && !SKIPPED.has(entry.name)) walk(path);
      else if (entry.isFile()) files[path] = readFileSync(join(root, path), "utf8");
    }
  };
  walk("");
  return files;
}
