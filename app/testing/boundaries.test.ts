// The testing kit and the SDK stay in the SDK's world: following their imports from their
// entry files reaches only the pure modules (domain/), the SDK and the kit, and packages;
// never the engine, the stores, the database or the HTTP layer. So a pipeline's tests load
// nothing of a server, and the kit decides with the very rules the engine decides with.
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const APP = join(import.meta.dir, "..");
const ALLOWED = ["domain/", "sdk/", "testing/"];

/** Every file of the app reached from `entry` by relative imports (packages left out). */
function reached(entry: string): string[] {
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const { path } of transpiler.scanImports(readFileSync(file, "utf8"))) {
      if (path.startsWith(".")) visit(resolve(dirname(file), path));
    }
  };
  visit(entry);
  return [...seen].map((file) => relative(APP, file));
}

describe("import boundaries", () => {
  for (const entry of ["testing/index.ts", "testing/kit-modules.ts", "sdk/index.ts"]) {
    it(`${entry} reaches only domain/, sdk/ and testing/`, () => {
      const files = reached(join(APP, entry));
      expect(files.length).toBeGreaterThan(3);
      expect(files.filter((file) => !ALLOWED.some((folder) => file.startsWith(folder)))).toEqual([]);
    });
  }
});
