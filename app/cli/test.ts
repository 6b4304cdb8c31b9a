// `gantry test [path]...`: runs the *.test.ts files beside pipeline files (the pipelines folder
// by default) with bun test, "gantry", "gantry/testing" and "valibot" resolving to this
// Gantry's own copies: from source and from the single binary, with no node_modules near the
// pipelines. Arguments after `--` go to bun test (-t <name>, --bail...).
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Glob } from "bun";
import { guard } from "./command.ts";
import { UsageError } from "./errors.ts";

const USAGE = "usage: gantry test [path]... [-- bun test options]";
const TEST_FILES = new Glob("**/*.{test,spec}.{ts,tsx,mts,js,mjs}");

/** The kit built into one file: set by scripts/build-binary.ts (`define`) in the single binary, absent from source. */
declare const GANTRY_TEST_KIT: string | undefined;

/** The test files under each path (a file is taken as it is), node_modules and dot folders left out. */
export function findTestFiles(paths: string[]): string[] {
  const files = new Set<string>();
  for (const path of paths) {
    const absolute = resolve(path);
    let stats;
    try {
      stats = statSync(absolute);
    } catch {
      throw new UsageError(`${path} does not exist`);
    }
    if (stats.isFile()) {
      files.add(absolute);
      continue;
    }
    for (const file of TEST_FILES.scanSync({ cwd: absolute, dot: false })) {
      if (!file.split("/").includes("node_modules")) files.add(join(absolute, file));
    }
  }
  return [...files].sort();
}

/** The preload that makes the kit's modules answer to their names, importing them from `kit`. */
function preloadSource(kit: string): string {
  return `// Written by gantry test: "gantry", "gantry/testing" and "valibot" are this Gantry's own.
import { plugin } from "bun";
const kit = await import(${JSON.stringify(kit)});
plugin({
  name: "gantry-test",
  setup(build) {
    build.module("gantry", () => ({ exports: { ...kit.sdk }, loader: "object" }));
    build.module("gantry/testing", () => ({ exports: { ...kit.testing }, loader: "object" }));
    build.module("valibot", () => ({ exports: { ...kit.valibot }, loader: "object" }));
  },
});
`;
}

export function testCommand(args: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const split = args.indexOf("--");
    const own = split === -1 ? args : args.slice(0, split);
    const passed = split === -1 ? [] : args.slice(split + 1);
    if (own.includes("--help") || own.includes("-h")) {
      console.log(`${USAGE}\n\nRuns the *.test.ts files under each path (default: GANTRY_PIPELINES_DIR or ./pipelines) with bun test.`);
      return 0;
    }
    const unknown = own.find((arg) => arg.startsWith("-"));
    if (unknown) throw new UsageError(`unknown option ${unknown} (options for bun test go after --)`);
    const paths = own.length > 0 ? own : [process.env.GANTRY_PIPELINES_DIR ?? "pipelines"];
    const files = findTestFiles(paths);
    if (files.length === 0) throw new UsageError(`no test files (*.test.ts) under ${paths.join(", ")}`);
    const scratch = mkdtempSync(join(tmpdir(), "gantry-test-"));
    try {
      const compiled = typeof GANTRY_TEST_KIT === "string";
      let kit = join(import.meta.dir, "..", "testing", "kit-modules.ts");
      if (compiled) {
        kit = join(scratch, "gantry-kit.js");
        await Bun.write(kit, GANTRY_TEST_KIT);
      }
      const preload = join(scratch, "preload.ts");
      await Bun.write(preload, preloadSource(kit));
      const child = Bun.spawn([process.execPath, "test", "--preload", preload, ...passed, ...files], {
        stdio: ["inherit", "inherit", "inherit"],
        // The single binary is Bun itself when asked to be.
        env: { ...process.env, ...(compiled && { BUN_BE_BUN: "1" }) },
      });
      return await child.exited;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
}
