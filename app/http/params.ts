// Path and query schemas shared by the API routers and the web pages.
import * as v from "valibot";
import { idSchema, runNumberSchema } from "../domain/ids.ts";

export const pipelineParams = v.object({ ns: idSchema, id: idSchema });

export const runParams = v.object({ ns: idSchema, id: idSchema, run: runNumberSchema });

export const limitQuery = (fallback: number, max: number) =>
  v.optional(
    v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(1), v.maxValue(max)),
    String(fallback),
  );

export const taskParams = v.object({ ...runParams.entries, task: idSchema });
