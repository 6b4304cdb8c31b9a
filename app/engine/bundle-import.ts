// How a process loads a pipeline bundle (a task runner, the sandboxed import of a pipeline
// file, the import worker): with `gantry` and `valibot` resolved to the host's copies
// (sdk-module.ts), required rather than imported.
import { registerSdkModule } from "./sdk-module.ts";

/** A pipeline bundle's module: its default export is the pipeline definition. */
export interface BundleModule {
  default?: unknown;
}

/**
 * Loads the bundle at `path` (a second call gets the module the first loaded). `require()`
 * of an ES module costs a task runner ~1.5 ms less CPU than `import()` (Bun's asynchronous
 * module loader is not woken; a one-task run's runner takes ~8.5 ms on a 2-core machine).
 * Whatever `require()` refuses or throws, `import()` is asked: a bundle that awaits at its
 * top level (refused once its code reaches the await, or in the compiled binary one that
 * imports valibot) is evaluated on from there, not again; a bundle whose code threw throws
 * the same error again without running; one that cannot be read says so as an import does.
 *
 * @example
 * const definition = (await importBundle("/tmp/pipeline.js")).default;
 */
export async function importBundle(path: string): Promise<BundleModule> {
  registerSdkModule();
  try {
    return require(path) as BundleModule;
  } catch {
    return (await import(path)) as BundleModule;
  }
}
