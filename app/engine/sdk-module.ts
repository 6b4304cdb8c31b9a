// Makes `import ... from "gantry"` and `"valibot"` resolve to the host's copies inside this
// process, so pipeline bundles (which keep both external) work from source and from the
// compiled binary, and a pipeline folder needs no node_modules to declare typed inputs.
import * as sdk from "../sdk/index.ts";

const compiled = Bun.isStandaloneExecutable;

/**
 * valibot is loaded only when a bundle imports it (~3 ms a task runner would pay for
 * nothing otherwise), from its resolved file: a "valibot" specifier would come back to this
 * plugin. From source it is required, so a bundle that imports it can be required too
 * (bundle-import.ts). The compiled binary has it loaded already: its import starts as this
 * module loads, before the plugin exists (no top-level await: the runner is also built as
 * CommonJS bytecode, runner-command.ts); there such a bundle is imported.
 */
const compiledValibot = compiled ? (import("valibot") as Promise<Record<string, unknown>>) : undefined;
const valibotModule = () => ({ exports: { ...(require(Bun.resolveSync("valibot", import.meta.dir)) as Record<string, unknown>) }, loader: "object" as const });

let registered = false;

export function registerSdkModule(): void {
  if (registered) return;
  registered = true;
  Bun.plugin({
    name: "gantry-sdk",
    setup(build) {
      build.module("gantry", () => ({ exports: { ...sdk }, loader: "object" }));
      build.module("valibot", compiledValibot ? async () => ({ exports: { ...(await compiledValibot) }, loader: "object" }) : valibotModule);
    },
  });
}
