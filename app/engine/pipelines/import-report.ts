// What the sandboxed import sends back: the file's default export as plain data, or why it
// could not be imported. Only data crosses; the server validates it as it would the export.

/** Stands for a function (a run() task's body) in the plain-data form. */
export const FUNCTION_MARKER = "__gantry_function";

export type ImportReport = { ok: true; definition: unknown } | { ok: false; message: string };

/** Deeper than any pipeline definition: a report nested past it was made to hurt the server. */
const MAX_DEFINITION_DEPTH = 64;

class DefinitionTooDeepError extends Error {
  override name = "DefinitionTooDeepError";
}

/** The plain-data form back into something the spec schema checks: functions become stand-ins. */
export function reviveDefinition(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEFINITION_DEPTH) throw new DefinitionTooDeepError(`the default export is nested deeper than ${MAX_DEFINITION_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((item) => reviveDefinition(item, depth + 1));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1 && entries[0]![0] === FUNCTION_MARKER && entries[0]![1] === true) return standIn;
  return Object.fromEntries(entries.map(([key, item]) => [key, reviveDefinition(item, depth + 1)]));
}

/** The server never calls a run() task's function: the sandboxed runner imports the bundle itself. */
function standIn(): never {
  throw new Error("a pipeline function is only called in its task's sandbox");
}
