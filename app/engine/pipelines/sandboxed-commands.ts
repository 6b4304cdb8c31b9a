// How to start the sandboxed helpers of the loader, the build and the import of a pipeline
// file (from source each is its own file; inside the compiled binary the binary re-executes
// itself with a hidden command). Tiny: main.ts imports it.
export const BUILD_PIPELINE_COMMAND = "__build-pipeline";
export const IMPORT_PIPELINE_COMMAND = "__import-pipeline";

export function buildCommand(file: string): string[] {
  if (Bun.isStandaloneExecutable) return [process.execPath, BUILD_PIPELINE_COMMAND, file];
  return [process.execPath, new URL("./pipeline-build-main.ts", import.meta.url).pathname, file];
}

export function importCommand(bundlePath: string): string[] {
  if (Bun.isStandaloneExecutable) return [process.execPath, IMPORT_PIPELINE_COMMAND, bundlePath];
  return [process.execPath, new URL("./pipeline-import-main.ts", import.meta.url).pathname, bundlePath];
}
