// The secret store's key: GANTRY_SECRET_KEY (32 bytes as base64 or hex), or a key generated
// into <data>/secret-key (0600) on first start. AES-256-GCM via Web Crypto, with the secret's
// scope and name as additional data so a ciphertext cannot be moved to another secret.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFileOnce } from "./create-once.ts";

export class SecretKeyError extends Error {
  override name = "SecretKeyError";
}

export interface SecretKey {
  /** Short hash of the key, stored with each ciphertext. */
  id: string;
  crypto: CryptoKey;
  /** Where it came from, for messages. */
  source: "env" | "file";
  raw: Uint8Array<ArrayBuffer>;
}

export const SECRET_KEY_FILE = "secret-key";

/** Reads 32 key bytes from base64 (std or url) or hex text. */
export function decodeKey(text: string, source: string): Uint8Array<ArrayBuffer> {
  const trimmed = text.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (bytes.length !== 32) {
    throw new SecretKeyError(`${source}: must be 32 bytes as base64 or 64 hex characters (got ${bytes.length} bytes); generate one with: openssl rand -base64 32`);
  }
  return new Uint8Array(bytes);
}

export async function importKey(raw: Uint8Array<ArrayBuffer>, source: "env" | "file"): Promise<SecretKey> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  const id = Buffer.from(digest.subarray(0, 6)).toString("hex");
  const key = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return { id, crypto: key, source, raw };
}

/**
 * 32 key bytes from a file in the data dir, generated into it (0600, never over an existing
 * one) on first use. The secret store's key and the session signing key live this way.
 */
export function loadKeyFile(dataDir: string, name: string): Uint8Array<ArrayBuffer> {
  const file = join(dataDir, name);
  if (existsSync(file)) return decodeKey(readFileSync(file, "utf8"), file);
  const raw = crypto.getRandomValues(new Uint8Array(32));
  mkdirSync(dataDir, { recursive: true });
  // Servers starting at once on one data dir all end up with the one key that won.
  const text = `${Buffer.from(raw).toString("base64")}\n`;
  const stored = createFileOnce(file, text, 0o600);
  return stored === text ? raw : decodeKey(stored, file);
}

/** The configured key, or the data dir's key file, created (0600) when neither exists. */
export async function loadSecretKey(configured: string | undefined, dataDir: string): Promise<SecretKey> {
  if (configured) return importKey(decodeKey(configured, "GANTRY_SECRET_KEY"), "env");
  return importKey(loadKeyFile(dataDir, SECRET_KEY_FILE), "file");
}

/** Replaces the data dir's key file atomically (rotation). */
export function writeKeyFile(dataDir: string, raw: Uint8Array<ArrayBuffer>): void {
  const file = join(dataDir, SECRET_KEY_FILE);
  const partial = `${file}.new`;
  writeFileSync(partial, `${Buffer.from(raw).toString("base64")}\n`, { mode: 0o600 });
  renameSync(partial, file);
}

const additionalData = (scope: string, name: string) => new TextEncoder().encode(`gantry-secret:v1:${scope}:${name}`);

export async function encryptSecret(key: SecretKey, scope: string, name: string, value: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: additionalData(scope, name) },
    key.crypto,
    new TextEncoder().encode(value),
  );
  return Buffer.concat([iv, new Uint8Array(sealed)]).toString("base64");
}

/** Throws SecretKeyError when the key or the binding (scope, name) does not match. */
export async function decryptSecret(key: SecretKey, scope: string, name: string, ciphertext: string): Promise<string> {
  const bytes = Buffer.from(ciphertext, "base64");
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: additionalData(scope, name) },
      key.crypto,
      bytes.subarray(12),
    );
    return new TextDecoder().decode(plain);
  } catch {
    throw new SecretKeyError(`secret "${name}" (${scope}) cannot be decrypted with the current key`);
  }
}
