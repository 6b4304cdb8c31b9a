// Runs in a short-lived Worker: imports one pipeline bundle and validates its default
// export, so a broken or hostile file cannot take the server down with it.
import { importBundle } from "../bundle-import.ts";
import { toPipelineSpec, type SpecResult } from "../../domain/pipeline-spec.ts";

declare const self: Worker;

self.onmessage = async (message: MessageEvent<{ bundlePath: string }>) => {
  let result: SpecResult;
  try {
    const module = await importBundle(message.data.bundlePath);
    result = toPipelineSpec(module.default);
  } catch (error) {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    result = { ok: false, issues: [{ path: "", message: `the file threw while loading: ${text}` }] };
  }
  self.postMessage(result);
};
