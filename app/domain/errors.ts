// Typed domain errors. The HTTP layer maps each `code` to a status in one place.

/** The codes of domain errors (each maps to one HTTP status in http/errors.ts). */
export const ERROR_CODES = [
  "not_found",
  "conflict",
  "invalid",
  "unauthorized",
  "forbidden",
  "unavailable",
  "too_large",
  "rate_limited",
  /** Something Gantry depends on answered wrongly or not at all (a source's git remote). */
  "upstream_failed",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class GantryError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends GantryError {
  constructor(message: string) {
    super("not_found", message);
  }
}

export class ConflictError extends GantryError {
  constructor(message: string) {
    super("conflict", message);
  }
}

/** A hook delivery that already started a run: nothing new was started. */
export class DuplicateDeliveryError extends ConflictError {
  constructor(
    readonly deliveryId: string,
    readonly runId: number,
  ) {
    super(`delivery ${deliveryId} already started run ${runId}`);
  }
}

export class ValidationError extends GantryError {
  constructor(message: string) {
    super("invalid", message);
  }
}

export class UnauthorizedError extends GantryError {
  constructor(message = "missing or invalid bearer token") {
    super("unauthorized", message);
  }
}

export class ForbiddenError extends GantryError {
  constructor(message: string) {
    super("forbidden", message);
  }
}

export class RateLimitedError extends GantryError {
  constructor(
    message: string,
    /** Seconds until a new attempt may succeed. */
    readonly retryAfterSeconds: number,
  ) {
    super("rate_limited", message);
  }
}

export class TooLargeError extends GantryError {
  constructor(message: string) {
    super("too_large", message);
  }
}

/** A run's inputs do not fit its pipeline's schemas: every problem, by input name. */
export class InvalidInputsError extends ValidationError {
  constructor(readonly problems: readonly { input: string; message: string }[]) {
    super(`invalid inputs: ${problems.map((problem) => `${problem.input}: ${problem.message}`).join("; ")}`);
  }
}

/** The message of whatever was thrown (an Error's, or its text). */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A remote Gantry works with (a source's git repository) failed; the message says how. */
export class UpstreamError extends GantryError {
  constructor(message: string) {
    super("upstream_failed", message);
  }
}
