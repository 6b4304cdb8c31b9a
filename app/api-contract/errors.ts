// The one error shape of the API, `{ error: { code, message } }`, with every code it uses.
import * as v from "valibot";
import { ERROR_CODES } from "../domain/errors.ts";

/**
 * Domain errors' codes, and those the HTTP layer adds: a body over its limit, another HTTP
 * error Hono raised, and an internal failure (whose message says nothing more).
 */
export const API_ERROR_CODES = [...ERROR_CODES, "payload_too_large", "http_error", "internal"] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export const errorAnswer = v.pipe(
  v.object({
    error: v.object({
      code: v.picklist(API_ERROR_CODES),
      message: v.string(),
      /** Invalid run inputs: every problem, by input. */
      problems: v.optional(v.array(v.object({ input: v.string(), message: v.string() }))),
    }),
  }),
  v.metadata({ ref: "Error" }),
);
export type ErrorJson = v.InferOutput<typeof errorAnswer>;
