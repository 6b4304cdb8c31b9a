// Makes `import ... from "gantry"` resolve to the SDK inside this process, so pipeline
// bundles (which keep "gantry" external) work from source and from the compiled binary.
import * as sdk from "../sdk/index.ts";

let registered = false;

export function registerSdkModule(): void {
  if (registered) return;
  registered = true;
  Bun.plugin({
    name: "gantry-sdk",
    setup(build) {
      build.module("gantry", () => ({ exports: { ...sdk }, loader: "object" }));
    },
  });
}
