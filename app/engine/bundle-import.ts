// How a process loads a pipeline bundle (a task runner, the sandboxed import of a pipeline
// file, the import worker): with `gantry` and `valibot` resolved to the host's copies
// (sdk-module.ts), required rather than imported.
import { registerSdkModule } from "./sdk-module.ts";

/** A pipeline bundle's module: its default export is the pipeline definition. */
export interface BundleModule {
  default?: unknown;
}

/**
 * Loads the bundle at `path` once per process. `require()` of an ES module costs a task
 * runner ~1.5 ms less CPU than `import()` (Bun's asynchronous module loader is not woken;
 * a one-task run's runner takes ~12.5 ms on a 2-core machine). A bundle that awaits at its
 * top level is refused by `require()` once its code reaches that await; `import()` then
 * goes on with the same evaluation (its code does not run twice) and waits for it.
 *
 * @example
 * const definition = (await importBundle("/tmp/pipeline.js")).default;
 */
export async function importBundle(path: string): Promise<BundleModule> {
  registerSdkModule();
  try {
    return require(path) as BundleModule;
  } catch (error) {
    if (!refusedAsAsync(error)) throw error;
    return (await import(path)) as BundleModule;
  }
}

/** Bun's refusal to require a module that awaits at its top level (it has no error code). */
const refusedAsAsync = (error: unknown) => error instanceof TypeError && /require\(\) async module/.test(error.message);
