// The modules a pipeline's tests import, in one place: "gantry" (the SDK), "gantry/testing"
// (the kit) and "valibot" (typed inputs). `gantry test` hands them to `bun test` under those
// names, so a pipelines folder needs no node_modules; the single binary carries this module
// built into one file (scripts/build-binary.ts), the source tree imports it as it is.
export * as sdk from "../sdk/index.ts";
export * as testing from "./index.ts";
export * as valibot from "valibot";
