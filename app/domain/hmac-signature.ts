// Checks and makes `sha256=<hex>` HMAC-SHA256 signatures of raw request bodies (generic
// webhooks, GitHub's X-Hub-Signature-256, the notify extension's POSTs). Pure; Bun's globals
// only, no node: imports, because the SDK re-exports it and every run() task loads the SDK.

// Lowercase only: that is what GitHub (and signBody) send, and accepting one exact spelling
// leaves no second form of the same signature for a replay or a log filter to miss.
const SIGNATURE_PATTERN = /^sha256=[0-9a-f]{64}$/;

/**
 * Whether `header` is `sha256=<64 lowercase hex digits>` and is the HMAC-SHA256 of exactly these body
 * bytes with `secret`. Any other shape or length is `false`, never an exception. The digests
 * are compared in constant time. Check the raw bytes before parsing anything.
 *
 * @example
 * ```ts
 * import { verifySignature } from "gantry";
 *
 * if (!verifySignature(secret, request.body, request.headers["x-hub-signature-256"])) {
 *   return { status: 401, body: { error: { code: "unauthorized", message: "bad signature" } } };
 * }
 * ```
 */
export function verifySignature(secret: string, body: Uint8Array, header: string | undefined): boolean {
  if (typeof header !== "string" || !SIGNATURE_PATTERN.test(header)) return false;
  const expected = new Bun.CryptoHasher("sha256", secret).update(body).digest();
  const given = Buffer.from(header.slice("sha256=".length), "hex");
  // Both are 32 bytes by now (the pattern fixed the length); timingSafeEqual insists on it.
  return given.byteLength === expected.byteLength && crypto.timingSafeEqual(given, expected);
}

/**
 * The header value for `body` signed with `secret`: `sha256=<hex>`, what verifySignature
 * accepts. Sign the exact bytes (or string) you send.
 *
 * @example
 * ```ts
 * import { signBody } from "gantry";
 *
 * const body = JSON.stringify({ event: "run.failed" });
 * await fetch(url, { method: "POST", body, headers: { "x-gantry-signature-256": signBody(key, body) } });
 * ```
 */
export function signBody(secret: string, body: Uint8Array | string): string {
  return `sha256=${new Bun.CryptoHasher("sha256", secret).update(body).digest("hex")}`;
}
