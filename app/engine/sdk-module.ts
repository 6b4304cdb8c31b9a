// Makes `import ... from "gantry"` and `"valibot"` resolve to the host's copies inside this
// process, so pipeline bundles (which keep both external) work from source and from the
// compiled binary, and a pipeline folder needs no node_modules to declare typed inputs.
import * as sdk from "../sdk/index.ts";

const compiled = Bun.isStandaloneExecutable;

/**
 * valibot is loaded only when a bundle imports it (~3 ms a task runner would pay for
 * nothing otherwise), from its resolved file: a dynamic import("valibot") would come back
 * to this plugin. The compiled binary has it loaded already: its import starts as this module
 * loads, before the plugin exists (no top-level await: the runner is also built as CommonJS
 * bytecode, runner-command.ts).
 */
const compiledValibot = compiled ? (import("valibot") as Promise<Record<string, unknown>>) : undefined;
const loadValibot: () => Promise<Record<string, unknown>> = compiledValibot
  ? () => compiledValibot
  : () => import(Bun.resolveSync("valibot", import.meta.dir));

let registered = false;

export function registerSdkModule(): void {
  if (registered) return;
  registered = true;
  Bun.plugin({
    name: "gantry-sdk",
    setup(build) {
      build.module("gantry", () => ({ exports: { ...sdk }, loader: "object" }));
      build.module("valibot", async () => ({ exports: { ...(await loadValibot()) }, loader: "object" }));
    },
  });
}
