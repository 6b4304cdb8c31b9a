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

export const envNameSchema = v.pipe(
  v.string(),
  v.regex(ENV_NAME_PATTERN, "must be a valid environment variable name"),
  v.check((name) => !name.toUpperCase().startsWith(RESERVED_ENV_PREFIX), "GANTRY_* names are reserved"),
);

/** Serial numbers as text — run numbers and subscription ids: 1, 2, 3... (no sign, no leading zero, at most 16 digits). */
export const SERIAL_PATTERN = /^[1-9]\d{0,15}$/;

/** A run number written in a path, a query or a command line, read as a number. */
export const runNumberSchema = v.pipe(v.string(), v.regex(SERIAL_PATTERN, "must be a run number (1, 2, 3...)"), v.transform(Number));
