// Builds dist/gantry: one self-contained executable (server, CLI, task runner, pipeline
// import Worker, migrations and the libSQL native addon inside), with `bun build --compile`.
import type { BunPlugin } from "bun";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(import.meta.dir, "..");
/** dist/gantry, or `--outfile <path>` (a test builds its own copy, so two builds never write one file). */
const outfileAt = process.argv.indexOf("--outfile");
const OUTFILE = outfileAt !== -1 && process.argv[outfileAt + 1] ? resolve(process.argv[outfileAt + 1]!) : join(ROOT, "dist", "gantry");

/**
 * Extra entrypoints beside app/main.ts. The binary keeps them at their path relative to
 * `app/` (the build's `root`), which is how app/engine/pipelines/pipeline-compiler.ts finds the Worker.
 */
const WORKER_ENTRYPOINTS = ["app/engine/pipelines/pipeline-import-worker.ts", "app/extension-host/extension-worker.ts"];

/** The prebuilt libSQL addon package for the machine the binary is built on (and runs on). */
function libsqlNativePackage(): string {
  const target = process.platform === "linux" ? `linux-${process.arch}-gnu` : `${process.platform}-${process.arch}`;
  const name = `@libsql/${target}`;
  try {
    Bun.resolveSync(name, ROOT);
  } catch {
    throw new Error(`${name} is not installed; run bun install on the machine kind the binary is for`);
  }
  return name;
}

/**
 * libsql picks its addon with `require(\`@libsql/${target}\`)` at run time, which the bundler
 * cannot follow, so the binary would look for node_modules beside it. Rewriting that call to
 * a static require makes Bun embed the .node file.
 */
function libsqlNativePlugin(nativePackage: string): BunPlugin {
  return {
    name: "libsql-static-native-addon",
    setup(build) {
      build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/](index|promise)\.js$/ }, async (args) => {
        const source = await Bun.file(args.path).text();
        const dynamic = "require(`@libsql/${target}`)";
        if (!source.includes(dynamic)) {
          // A libsql upgrade changed how it loads the addon: fail the build, not the binary at run time.
          throw new Error(`${args.path}: expected ${dynamic}; update scripts/build-binary.ts for this libsql version`);
        }
        return { contents: source.replace(dynamic, `require(${JSON.stringify(nativePackage)})`), loader: "js" };
      });
    },
  };
}

const started = performance.now();
mkdirSync(dirname(OUTFILE), { recursive: true });

// The modules pipelines' tests import ("gantry", "gantry/testing", "valibot") as one file, which
// `gantry test` writes out for `bun test` to load (cli/test.ts): the binary carries no sources.
const kit = await Bun.build({ entrypoints: [join(ROOT, "app", "testing", "kit-modules.ts")], target: "bun", format: "esm", minify: true, external: ["bun:test"], throw: false });
if (!kit.success || kit.outputs.length !== 1) {
  for (const log of kit.logs) console.error(log);
  console.error("the testing kit's build failed");
  process.exit(1);
}
const testKit = await kit.outputs[0]!.text();

const result = await Bun.build({
  entrypoints: [join(ROOT, "app", "main.ts"), ...WORKER_ENTRYPOINTS.map((entry) => join(ROOT, entry))],
  root: join(ROOT, "app"),
  target: "bun",
  // Every run() task starts the binary again (`gantry __task-runner`), and the whole bundle is
  // parsed each time: precompiled bytecode cuts that start from ~25 ms to ~10 ms.
  // ESM because main.ts awaits at top level.
  format: "esm",
  bytecode: true,
  // Stack traces of the server then name our source files and lines.
  sourcemap: "linked",
  plugins: [libsqlNativePlugin(libsqlNativePackage())],
  // dockerode → ssh2 loads this optional native addon inside a try; its install script is
  // not approved (package.json allowScripts), so it has no build to embed and is left out.
  external: ["cpu-features"],
  define: { GANTRY_TEST_KIT: JSON.stringify(testKit) },
  compile: {
    outfile: OUTFILE,
    // The binary is configured by GANTRY_* and gantry.toml only: a .env or bunfig.toml that
    // happens to sit in the directory it is started from (a pipeline workspace, say) must not
    // change how it behaves.
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
  throw: false,
});

if (!result.success) {
  for (const log of result.logs) console.error(log);
  console.error("build failed");
  process.exit(1);
}
for (const log of result.logs) console.warn(log);
// The source maps are embedded in the binary too; the copies written beside it are not needed.
for (const output of result.outputs) {
  if (output.path.endsWith(".map")) rmSync(output.path, { force: true });
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
const megabytes = (statSync(OUTFILE).size / 1024 / 1024).toFixed(1);
console.log(`${relative(process.cwd(), OUTFILE) || OUTFILE}: ${megabytes} MB in ${seconds}s`);
