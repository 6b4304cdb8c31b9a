// Identifier rules shared by namespaces, pipelines and tasks, and the form of run numbers.
import * as v from "valibot";

export const ID_PATTERN = /^[a-z0-9-]{1,64}$/;

export const idSchema = v.pipe(
  v.string(),
  v.regex(ID_PATTERN, "must be 1-64 characters of a-z, 0-9 and -"),
);

/** Environment variable names; `GANTRY_*` is reserved for the system. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const RESERVED_ENV_PREFIX = "GANTRY_";

/**
 * The system variable naming the run whose tasks' results a run builds on: its own id, or, for
 * a re-run of failed tasks, the run that executed the tasks it reuses (so an image a reused
 * build tagged "app:${GANTRY_ORIGIN_RUN_ID}" is found by the deploy that runs again).
 */
export const ORIGIN_RUN_VARIABLE = "GANTRY_ORIGIN_RUN_ID";

export const envNameSchema = v.pipe(
  v.string(),
  v.regex(ENV_NAME_PATTERN, "must be a valid environment variable name"),
  v.check((name) => !name.toUpperCase().startsWith(RESERVED_ENV_PREFIX), "GANTRY_* names are reserved"),
);

/** Serial numbers as text — run numbers and subscription ids: 1, 2, 3... (no sign, no leading zero, at most 16 digits). */
export const SERIAL_PATTERN = /^[1-9]\d{0,15}$/;

/** A run number written in a path, a query or a command line, read as a number. */
export const runNumberSchema = v.pipe(v.string(), v.regex(SERIAL_PATTERN, "must be a run number (1, 2, 3...)"), v.transform(Number));
