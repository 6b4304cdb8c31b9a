// Makes `import ... from "gantry"` and `"valibot"` resolve to the host's copies inside this
// process, so pipeline bundles (which keep both external) work from source and from the
// compiled binary, and a pipeline folder needs no node_modules to declare typed inputs.
import * as sdk from "../sdk/index.ts";

const compiled = Bun.isStandaloneExecutable;

/**
 * valibot is loaded only when a bundle imports it (~3 ms a task runner would pay for
 * nothing otherwise), from its resolved file: a dynamic import("valibot") would come back
 * to this plugin. The compiled binary has it loaded already; taken before the plugin exists.
 */
const loadValibot: () => Promise<Record<string, unknown>> = compiled
  ? await import("valibot").then((module) => () => Promise.resolve(module as Record<string, unknown>))
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
