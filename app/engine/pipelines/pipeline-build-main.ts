// Entry of the sandboxed process that bundles one pipeline file and prints the result as
// the last line of stdout. Macros and files the pipeline imports are read here, in the
// sandbox, which sees the pipelines folder and node_modules, never the data dir.
import { buildBundle } from "./bundle-build.ts";

export async function buildPipeline(file: string): Promise<number> {
  console.log = console.error;
  console.info = console.error;
  const result = await buildBundle(file);
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
  return 0;
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: pipeline-build-main <file>\n");
    process.exit(2);
  }
  process.exit(await buildPipeline(file));
}
