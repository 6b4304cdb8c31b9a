// Path and query schemas shared by the API routers and the web pages.
import * as v from "valibot";
import { idSchema, runNumberSchema } from "../domain/ids.ts";
import { LOG_FILTERS } from "../domain/log-query.ts";

export const pipelineParams = v.object({ ns: idSchema, id: idSchema });

export const runParams = v.object({ ns: idSchema, id: idSchema, run: runNumberSchema });

export const limitQuery = (fallback: number, max: number) =>
  v.optional(
    v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(1), v.maxValue(max)),
    String(fallback),
  );

export const taskParams = v.object({ ...runParams.entries, task: idSchema });

/** A log search's query (web and API): the text, the filter, and one task (empty: every task). */
export const logSearchEntries = {
  q: v.optional(v.pipe(v.string(), v.maxLength(200, "must be at most 200 characters")), ""),
  only: v.optional(v.picklist(LOG_FILTERS, 'must be "all", "stderr" or "errors"'), "all"),
  task: v.pipe(
    v.optional(v.union([v.literal(""), idSchema], "must be a task id (a-z, 0-9 and -)"), ""),
    v.transform((task) => (task === "" ? undefined : task)),
  ),
};

/** A line number in a log (1, 2, 3...). */
export const lineNumberQuery = v.pipe(v.string(), v.regex(/^[1-9]\d{0,8}$/, "must be a line number (1, 2, 3...)"), v.transform(Number));
