// Talks to an npm registry (registry.npmjs.org, or a mirror or stub set by npm_registry): a
// package's packument, a search for Gantry extensions, and a tarball downloaded with a size
// cap and checked against the registry's sha512 integrity before anything is unpacked.
import * as v from "valibot";
import { NotFoundError, UpstreamError, ValidationError, messageOf } from "../domain/errors.ts";

/** The keyword every Gantry extension package carries; packages without it are refused. */
export const EXTENSION_KEYWORD = "gantry-extension";
/** A packed extension larger than this is refused (a bundled extension is a few hundred KB). */
export const MAX_TARBALL_BYTES = 20 * 1024 * 1024;
/** How long one request (or one search, with its fallback) may take. */
const TIMEOUT_MS = 15_000;
/** A search's answer is reused this long: the extensions page asks on every visit. */
const SEARCH_CACHE_MS = 60_000;
/**
 * A failed search is remembered this long only: the registry may be back in a moment. So is
 * a search a short wait gave up on, for callers who wait as briefly (the page's next visits).
 */
const FAILED_SEARCH_CACHE_MS = 10_000;
/** Searches remembered at most (queries come from users). */
const SEARCH_CACHE_ENTRIES = 50;

/** npm's package-name rules: lower case, an optional @scope/, at most 214 characters. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
/** An exact version (semver) or a dist-tag such as "latest" or "next". */
const VERSION_OR_TAG = /^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$/;
/** One exact (semver) version: what is installed and pinned (a range or a dist-tag would move on its own). */
const EXACT_VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export const packageNameSchema = v.pipe(v.string(), v.maxLength(214, "must be at most 214 characters"), v.regex(PACKAGE_NAME, "must be an npm package name (lower case, optionally @scope/name)"));
export const versionSchema = v.pipe(v.string(), v.regex(VERSION_OR_TAG, 'must be a version like "1.2.3" or a dist-tag like "latest"'));
/** An installed version, as a manifest must name it and gantry.toml's [extension_versions] pins it. */
export const exactVersionSchema = v.pipe(v.string("must be a version string"), v.regex(EXACT_VERSION, 'must be an exact version like "1.2.3" (a pin: no range, no dist-tag)'));

/** "name", "name@1.2.0", "@scope/name@next" → name and version (or tag). */
export function parsePackageSpec(spec: string): { name: string; version?: string } {
  const at = spec.lastIndexOf("@");
  const [name, version] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, undefined];
  const named = v.safeParse(packageNameSchema, name);
  if (!named.success) throw new ValidationError(`package "${name}": ${named.issues[0].message}`);
  if (version === undefined) return { name };
  const versioned = v.safeParse(versionSchema, version);
  if (!versioned.success) throw new ValidationError(`version "${version}": ${versioned.issues[0].message}`);
  return { name, version };
}

const manifestSchema = v.object({
  name: v.string(),
  // What gets installed is pinned at this version: one the config loader would refuse must not get that far.
  version: exactVersionSchema,
  description: v.optional(v.string()),
  keywords: v.optional(v.array(v.unknown())),
  main: v.optional(v.string()),
  dependencies: v.optional(v.record(v.string(), v.unknown())),
  gantry: v.optional(v.object({ id: v.optional(v.string()) })),
  dist: v.object({ tarball: v.string(), integrity: v.optional(v.string()) }),
});
export type PackageManifest = v.InferOutput<typeof manifestSchema>;

const packumentSchema = v.object({
  name: v.string(),
  "dist-tags": v.optional(v.record(v.string(), v.string())),
  versions: v.record(v.string(), v.unknown()),
});

const searchSchema = v.object({
  objects: v.array(
    v.object({
      package: v.object({
        name: v.string(),
        version: v.optional(v.string()),
        "dist-tags": v.optional(v.record(v.string(), v.string())),
        description: v.optional(v.string()),
        keywords: v.optional(v.array(v.unknown())),
      }),
    }),
  ),
});

export interface AvailablePackage {
  name: string;
  version: string;
  description?: string;
}

export interface NpmRegistryOptions {
  /** How long one request, or one search with its fallback, may take (15 s). */
  timeoutMs?: number;
}

export interface NpmRegistry {
  readonly url: string;
  /**
   * The manifest of one version (exact, or a dist-tag; "latest" when none is given), which
   * must name `name` and an exact version. `signal` aborts the request (a server stopping).
   */
  manifest(name: string, version?: string, signal?: AbortSignal): Promise<PackageManifest>;
  /**
   * Packages with the gantry-extension keyword, optionally matching `query`. One answer per
   * query is reused for a minute (a failure for a few seconds), and callers asking while a
   * search is under way share it. `waitMs`: how long this caller waits for it (the search
   * itself goes on, for the next caller); a caller who waited briefly in vain makes others
   * who wait briefly give up at once for a few seconds, never one who waits longer.
   */
  search(query?: string, waitMs?: number): Promise<AvailablePackage[]>;
  /** The tarball's bytes, once their sha512 matches the manifest's dist.integrity. */
  tarball(manifest: PackageManifest, signal?: AbortSignal): Promise<Uint8Array>;
}

/** The base64 sha512 of `bytes` as an SRI string: "sha512-...". */
export function sha512Integrity(bytes: Uint8Array): string {
  return `sha512-${new Bun.CryptoHasher("sha512").update(bytes).digest("base64")}`;
}

export function createNpmRegistry(url: string, options: NpmRegistryOptions = {}): NpmRegistry {
  const base = url.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const unreachable = (error: unknown) => new UpstreamError(`the npm registry at ${base} cannot be reached: ${messageOf(error)}`);
  /** The request's deadline, and the caller's signal when it has one. */
  const deadline = (signal: AbortSignal | undefined) => (signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs));

  /** `signal` ends the request and the reading of its body. */
  const get = async (address: string, signal: AbortSignal): Promise<Response> => {
    try {
      return await fetch(address, { headers: { accept: "application/json" }, redirect: "follow", signal });
    } catch (error) {
      throw unreachable(error);
    }
  };

  const json = async (response: Response, what: string, signal: AbortSignal): Promise<unknown> => {
    try {
      return await response.json();
    } catch (error) {
      // The deadline (or a stop) cut the body off: that is not a registry speaking nonsense.
      if (signal.aborted) throw unreachable(error);
      throw new UpstreamError(`the npm registry at ${base} answered ${what} with something that is not JSON`);
    }
  };

  const searchNow = async (words: string): Promise<AvailablePackage[]> => {
    // One deadline for the search and its fallback: together they take no longer than one request may.
    const signal = AbortSignal.timeout(timeoutMs);
    const find = async (text: string) => {
      const response = await get(`${base}/-/v1/search?${new URLSearchParams({ text, size: "100" })}`, signal);
      if (!response.ok) throw new UpstreamError(`the npm registry at ${base} answered ${response.status} to a search`);
      const found = v.safeParse(searchSchema, await json(response, "a search", signal));
      if (!found.success) throw new UpstreamError(`the npm registry at ${base} answered a search with a malformed document`);
      return found.output.objects.map((object) => object.package);
    };
    let packages = await find([`keywords:${EXTENSION_KEYWORD}`, words].filter(Boolean).join(" "));
    // Not every registry reads "keywords:" (verdaccio searches names and descriptions): then
    // search the words alone and keep the packages that carry the keyword.
    if (packages.length === 0) packages = await find(words);
    return packages
      .filter((pkg) => pkg.keywords?.includes(EXTENSION_KEYWORD))
      .map((pkg) => ({ name: pkg.name, version: pkg.version ?? pkg["dist-tags"]?.latest ?? "?", ...(pkg.description && { description: pkg.description }) }));
  };
  interface SearchEntry {
    until: number;
    answer: Promise<AvailablePackage[]>;
    settled: boolean;
    /** Until when callers with a short wait give up at once: one of them waited in vain. */
    gaveUpUntil?: number;
  }
  const searches = new Map<string, SearchEntry>();
  const noAnswerWithin = (waitMs: number) => new UpstreamError(`the npm registry at ${base} cannot be reached: no answer to a search within ${waitMs / 1000} s`);

  /** `entry`'s answer, or a failure once `waitMs` has passed; the search itself goes on. */
  const waitFor = (entry: SearchEntry, waitMs: number): Promise<AvailablePackage[]> => {
    if (entry.settled) return entry.answer;
    if (entry.gaveUpUntil !== undefined && performance.now() < entry.gaveUpUntil) return Promise.reject(noAnswerWithin(waitMs));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const givingUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        entry.gaveUpUntil = performance.now() + FAILED_SEARCH_CACHE_MS;
        reject(noAnswerWithin(waitMs));
      }, waitMs);
    });
    return Promise.race([entry.answer, givingUp]).finally(() => clearTimeout(timer));
  };

  return {
    url: base,
    async manifest(name, version = "latest", signal) {
      const requestSignal = deadline(signal);
      // A scoped name keeps its @ and has its slash escaped, as npm's own client asks.
      const response = await get(`${base}/${name.replace("/", "%2f")}`, requestSignal);
      if (response.status === 404) throw new NotFoundError(`the npm registry at ${base} has no package ${name}`);
      if (!response.ok) throw new UpstreamError(`the npm registry at ${base} answered ${response.status} for ${name}`);
      const packument = v.safeParse(packumentSchema, await json(response, name, requestSignal));
      if (!packument.success) throw new UpstreamError(`the npm registry at ${base} answered ${name} with a malformed document`);
      const exact = packument.output["dist-tags"]?.[version] ?? version;
      const raw = packument.output.versions[exact];
      if (raw === undefined) {
        const tags = Object.keys(packument.output["dist-tags"] ?? {});
        throw new NotFoundError(`${name} has no version or dist-tag "${version}" (tags: ${tags.join(", ") || "none"}; versions: ${Object.keys(packument.output.versions).slice(-10).join(", ")})`);
      }
      const manifest = v.safeParse(manifestSchema, raw);
      if (!manifest.success) throw new UpstreamError(`${name}@${exact} on ${base} has a malformed manifest (${v.getDotPath(manifest.issues[0]) ?? "manifest"}: ${manifest.issues[0].message})`);
      // What is installed is recorded and pinned under `name`: a manifest of another package is not it.
      if (manifest.output.name !== name) throw new UpstreamError(`${name}@${exact} on ${base} has a malformed manifest (name: it names ${JSON.stringify(manifest.output.name)}, not ${name})`);
      return manifest.output;
    },
    search(query, waitMs) {
      const words = query?.trim() ?? "";
      let entry = searches.get(words);
      if (!entry || performance.now() >= entry.until) {
        const fresh: SearchEntry = { until: performance.now() + SEARCH_CACHE_MS, answer: searchNow(words), settled: false };
        fresh.answer.then(
          () => (fresh.settled = true),
          () => {
            fresh.settled = true;
            fresh.until = Math.min(fresh.until, performance.now() + FAILED_SEARCH_CACHE_MS);
          },
        );
        searches.delete(words);
        searches.set(words, fresh);
        // A Map iterates in insertion order: the first key is the oldest search.
        if (searches.size > SEARCH_CACHE_ENTRIES) searches.delete(searches.keys().next().value!);
        entry = fresh;
      }
      return waitMs === undefined ? entry.answer : waitFor(entry, waitMs);
    },
    async tarball(manifest, signal) {
      const label = `${manifest.name}@${manifest.version}`;
      const expected = manifest.dist.integrity?.split(/\s+/).find((entry) => entry.startsWith("sha512-"));
      if (!expected) throw new ValidationError(`${label} has no sha512 dist.integrity on the registry, so its tarball cannot be checked; refusing it`);
      if (!/^https?:\/\//.test(manifest.dist.tarball)) throw new UpstreamError(`${label}: the tarball address ${manifest.dist.tarball} is not http(s)`);
      const response = await get(manifest.dist.tarball, deadline(signal));
      if (!response.ok || !response.body) throw new UpstreamError(`${label}: downloading ${manifest.dist.tarball} answered ${response.status}`);
      const chunks: Uint8Array[] = [];
      let size = 0;
      try {
        for await (const chunk of response.body) {
          size += chunk.length;
          if (size > MAX_TARBALL_BYTES) throw new ValidationError(`${label}: the tarball is larger than ${MAX_TARBALL_BYTES} bytes; refusing it`);
          chunks.push(chunk);
        }
      } catch (error) {
        if (error instanceof ValidationError) throw error;
        throw unreachable(error);
      }
      const bytes = new Uint8Array(size);
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
      const actual = sha512Integrity(bytes);
      if (actual !== expected) {
        throw new UpstreamError(`integrity check failed for ${label}: the registry says ${expected}, the tarball downloaded from ${manifest.dist.tarball} is ${actual}; nothing was installed`);
      }
      return bytes;
    },
  };
}
