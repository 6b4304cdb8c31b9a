// How to start the sandboxed pipeline import (from source its own file; inside the compiled
// binary the binary re-executes itself with a hidden command). Tiny: main.ts imports it.
export const IMPORT_PIPELINE_COMMAND = "__import-pipeline";

export function importCommand(bundlePath: string): string[] {
  if (Bun.isStandaloneExecutable) return [process.execPath, IMPORT_PIPELINE_COMMAND, bundlePath];
  return [process.execPath, new URL("./pipeline-import-main.ts", import.meta.url).pathname, bundlePath];
}
