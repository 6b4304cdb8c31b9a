// The rules an object key must follow, in one place: the API, the store and the CLI check
// keys with them, so a key that passes can never name a path outside the object folder.

const MAX_OBJECT_KEY_LENGTH = 256;

/** Why `key` is not a valid object key, or undefined when it is. */
export function objectKeyProblem(key: string): string | undefined {
  if (key.length === 0) return "must not be empty";
  if (key.length > MAX_OBJECT_KEY_LENGTH) return `must be at most ${MAX_OBJECT_KEY_LENGTH} characters (got ${key.length})`;
  // Checked before the character set so the message says what is wrong.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) return "must not contain control characters";
  if (!/^[A-Za-z0-9._\/-]+$/.test(key)) return "may only contain letters, digits, '.', '_', '-' and '/'";
  if (key.startsWith("/")) return "must not start with '/'";
  if (key.endsWith("/")) return "must not end with '/'";
  if (key.includes("..")) return "must not contain '..'";
  if (key.includes("//")) return "must not contain '//'";
  // URL clients collapse "/./", so such a key would reach the server as another key.
  if (key.split("/").includes(".")) return "must not have a '.' path segment";
  return undefined;
}
