// Fetch mode of the task runner: a runner with no bundle file at hand (in a swarm service)
// downloads its run's bundle from the API with the run's bundle token into a private temp
// folder, refuses one over the size cap or whose sha256 is not the one the server passed,
// and imports it from there. Loaded only in fetch mode (node: built-ins cost a local runner's start).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE_SHA256_ENV, BUNDLE_TOKEN_ENV, BUNDLE_URL_ENV } from "./command.ts";

/** The most a runner downloads: a bundle is the pipeline file with its npm imports inlined. */
export const BUNDLE_MAX_BYTES = 256 * 1024 * 1024;

/** The bundle could not be fetched or is not the one asked for; the message says why, for the task's reason. */
export class BundleFetchError extends Error {
  override name = "BundleFetchError";
}

export interface BundleSource {
  url: string;
  token: string;
  /** The bundle's sha256 (hex), when the server passed it: the download must match it. */
  sha256?: string;
}

export interface FetchBundleOptions {
  maxBytes?: number;
  /** Waits before each retry of a refused token (with a database server its row may not have reached every reader yet). */
  unauthorizedRetriesMs?: number[];
  /** Waits before each retry of a server that does not answer (or a proxy's 502/503). */
  unreachableRetriesMs?: number[];
  /** Where the private folder is made; TMPDIR (or /tmp) when absent. */
  tempDir?: string;
}

export interface FetchedBundle {
  /** The bundle file, in a folder only this user may enter. */
  path: string;
  sha256: string;
  bytes: number;
  /** Removes the folder (also done at exit). */
  remove(): void;
}

const UNAUTHORIZED_RETRIES_MS = [50, 200, 500];
const UNREACHABLE_RETRIES_MS = [250, 500, 1000, 2000];

/** Takes the bundle's URL, token and sha256 out of the environment, so pipeline code never sees them. */
export function takeBundleSource(env: Record<string, string | undefined> = process.env): BundleSource {
  const url = env[BUNDLE_URL_ENV];
  const token = env[BUNDLE_TOKEN_ENV];
  const sha256 = env[BUNDLE_SHA256_ENV];
  delete env[BUNDLE_URL_ENV];
  delete env[BUNDLE_TOKEN_ENV];
  delete env[BUNDLE_SHA256_ENV];
  if (!url) throw new BundleFetchError(`${BUNDLE_URL_ENV} is not set: a runner in fetch mode needs its bundle's URL`);
  if (!token) throw new BundleFetchError(`${BUNDLE_TOKEN_ENV} is not set: a runner in fetch mode needs the run's bundle token`);
  if (sha256 !== undefined && sha256 !== "" && !/^[0-9a-f]{64}$/.test(sha256)) throw new BundleFetchError(`${BUNDLE_SHA256_ENV} is not a sha256 (64 hex digits)`);
  return { url, token, ...(sha256 && { sha256 }) };
}

/** The API's error message of a refused request, or its status. */
async function refusal(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const message = (JSON.parse(text) as { error?: { message?: string } }).error?.message;
    if (message) return `${response.status}: ${message}`;
  } catch {
    // not the API's JSON (a proxy's page): the status says enough
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** GET with the token; a refused token or an unreachable server is retried a few times. */
async function request(source: BundleSource, options: FetchBundleOptions): Promise<Response> {
  const unauthorized = [...(options.unauthorizedRetriesMs ?? UNAUTHORIZED_RETRIES_MS)];
  const unreachable = [...(options.unreachableRetriesMs ?? UNREACHABLE_RETRIES_MS)];
  for (;;) {
    let response: Response;
    try {
      // No redirects: the token goes to the URL the server named and nowhere else.
      response = await fetch(source.url, { headers: { authorization: `Bearer ${source.token}` }, redirect: "manual" });
    } catch (error) {
      const delay = unreachable.shift();
      if (delay === undefined) throw new BundleFetchError(`the bundle could not be fetched from ${source.url}: ${(error as Error).message}`);
      await Bun.sleep(delay);
      continue;
    }
    const delay = response.status === 401 ? unauthorized.shift() : response.status === 502 || response.status === 503 ? unreachable.shift() : undefined;
    if (delay === undefined) return response;
    await response.body?.cancel();
    await Bun.sleep(delay);
  }
}

/** Downloads the bundle into a new private folder, checking its size and sha256 as it arrives. */
export async function fetchBundle(source: BundleSource, options: FetchBundleOptions = {}): Promise<FetchedBundle> {
  const maxBytes = options.maxBytes ?? BUNDLE_MAX_BYTES;
  const response = await request(source, options);
  if (!response.ok) throw new BundleFetchError(`the server refused the bundle (${source.url}): ${await refusal(response)}`);
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new BundleFetchError(`the bundle is ${declared} bytes, over the runner's limit of ${maxBytes} bytes`);
  }
  const hasher = new Bun.CryptoHasher("sha256");
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    for await (const chunk of response.body ?? []) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) throw new BundleFetchError(`the bundle is over the runner's limit of ${maxBytes} bytes`);
      hasher.update(chunk);
      chunks.push(chunk);
    }
  } catch (error) {
    await response.body?.cancel().catch(() => undefined);
    if (error instanceof BundleFetchError) throw error;
    throw new BundleFetchError(`the bundle's download broke off: ${(error as Error).message}`);
  }
  const sha256 = hasher.digest("hex");
  if (source.sha256 && sha256 !== source.sha256) {
    throw new BundleFetchError(`the bundle fetched has sha256 ${sha256}, not ${source.sha256} as the server said: refusing to run it`);
  }
  // A folder of this process alone (mkdtemp makes it 0700); the file 0600 and new (wx).
  const dir = mkdtempSync(join(options.tempDir ?? process.env.TMPDIR ?? tmpdir(), "gantry-bundle-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", remove);
  const path = join(dir, `${sha256}.js`);
  try {
    writeFileSync(path, Buffer.concat(chunks), { mode: 0o600, flag: "wx" });
  } catch (error) {
    remove();
    throw new BundleFetchError(`the bundle could not be written to ${dir}: ${(error as Error).message}`);
  }
  return { path, sha256, bytes, remove };
}
