// Entry of the sandboxed process that imports one pipeline bundle and prints its default
// export as plain data (functions marked, not sent) as the last line of stdout. A file's
// top-level code runs here, never in the server, and the server validates what it gets.
import { importBundle } from "../bundle-import.ts";
import { FUNCTION_MARKER, type ImportReport } from "./import-report.ts";
import { withDescribedInputs } from "../../domain/describe-inputs.ts";

export async function importPipeline(bundlePath: string): Promise<number> {
  // What the file itself prints goes to stderr, so the report is the only line on stdout.
  console.log = console.error;
  console.info = console.error;
  let report: ImportReport;
  try {
    const module = await importBundle(bundlePath);
    // Input schemas hold functions: described here, where they live, as JSON Schema.
    const definition = module.default === undefined ? undefined : JSON.parse(JSON.stringify(withDescribedInputs(module.default), markFunctions) ?? "null");
    report = { ok: true, definition };
  } catch (error) {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    report = { ok: false, message: `the file threw while loading: ${text}` };
  }
  process.stdout.write(`\n${JSON.stringify(report)}\n`);
  return 0;
}

function markFunctions(_key: string, value: unknown): unknown {
  return typeof value === "function" ? { [FUNCTION_MARKER]: true } : value;
}

if (import.meta.main) {
  const bundle = process.argv[2];
  if (!bundle) {
    process.stderr.write("usage: pipeline-import-main <bundle>\n");
    process.exit(2);
  }
  process.exit(await importPipeline(bundle));
}
