// Path and query schemas shared by the API routers and the web pages.
import * as v from "valibot";
import { idSchema } from "../domain/ids.ts";

export const pipelineParams = v.object({ ns: idSchema, id: idSchema });

export const runNumber = v.pipe(
  v.string(),
  v.regex(/^[1-9]\d{0,15}$/, "must be a run number (1, 2, 3...)"),
  v.transform(Number),
);

export const runParams = v.object({ ns: idSchema, id: idSchema, run: runNumber });

export const limitQuery = (fallback: number, max: number) =>
  v.optional(
    v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(1), v.maxValue(max)),
    String(fallback),
  );
