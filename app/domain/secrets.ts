// The rules a secret's name and value follow, in one place: the store enforces them, and
// the API, the web form and the CLI check them early with the same pattern and limits.

export const SECRET_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** What SECRET_NAME_PATTERN allows, in words for error messages. */
export const SECRET_NAME_RULE = "1-128 characters of A-Z a-z 0-9 _ . -";
/** Shorter values would be masked everywhere they happen to occur in logs. */
export const MIN_SECRET_LENGTH = 4;
export const MAX_SECRET_BYTES = 64 * 1024;
