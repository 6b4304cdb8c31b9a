// Installs, upgrades and uninstalls extensions published on an npm registry: the package must
// carry the gantry-extension keyword, its tarball must match the registry's sha512 integrity,
// it is unpacked (package-unpack.ts) into <data>/extensions/<id>/, recorded in installed.json,
// pinned in gantry.toml's [extension_versions] when the server has that file, and started in
// its Worker without a server restart. An upgrade starts the new version before the old one's
// folder goes, and puts the old one back when the new one does not start (or when a crash cut
// it short: see recoverInterrupted). At start, what gantry.toml pins and is not installed at
// that version is installed.
// No install scripts run and no dependencies are fetched: a package depends on nothing but
// what the host provides ("gantry", "valibot", "croner"), or bundles the rest.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, posix } from "node:path";
import * as v from "valibot";
import { ConflictError, NotFoundError, ValidationError, messageOf } from "../domain/errors.ts";
import { ID_PATTERN } from "../domain/ids.ts";
import { configFilePin, EXTENSION_VERSIONS_TABLE, writeVersionPin } from "./config-file-pins.ts";
import { discoverExtensions, RESERVED_EXTENSION_IDS, START_WAIT_MS, type ExtensionHost, type ExtensionStatus } from "./host.ts";
import { INSTALLED_FILE, readInstalled, writeInstalled, type InstalledExtension } from "./installed-extensions.ts";
import { createNpmRegistry, EXTENSION_KEYWORD, type AvailablePackage, type NpmRegistry, type PackageManifest } from "./npm-registry.ts";
import { unpackPackage } from "./package-unpack.ts";

export type { InstalledExtension } from "./installed-extensions.ts";

/** Modules the extension host gives every extension (extension-worker.ts): the only dependencies allowed. */
const HOST_MODULES = new Set(["gantry", "valibot", "croner"]);

export interface ExtensionInstallerOptions {
  /** <data>/extensions: installed extensions' folders and installed.json. */
  dir: string;
  /** The built-in extensions folder (GANTRY_EXTENSIONS_DIR): its ids are never taken. */
  builtInDir: string;
  /** Ids of container extensions ([extensions.<id>] with an image): taken too. */
  containerIds: string[];
  registryUrl: string;
  /** The server's gantry.toml, when it has one: its [extension_versions] table gets the pins. */
  configFile: string | undefined;
  host: ExtensionHost;
  now: () => Date;
}

/** Where a change's pin was recorded, for a person to find it. */
export interface PinRecord {
  /** gantry.toml; installed.json when gantry.toml does not hold the change. */
  file: string;
  /** Why gantry.toml does not hold the change: the server has none, or it could not be edited. */
  problem?: string;
}

export interface InstallResult {
  installed: InstalledExtension;
  /** The extension's state once started (running, or why not). */
  extension?: ExtensionStatus;
  /** The version replaced by an upgrade. */
  previous?: string;
  /** An upgrade to the version already installed changes nothing (and no pin). */
  unchanged?: boolean;
  pin?: PinRecord;
}

export interface UninstallResult {
  uninstalled: InstalledExtension;
  pin: PinRecord;
}

export type AvailableExtension = AvailablePackage & { installed?: { id: string; version: string } };

/**
 * Installs and upgrades take an optional `signal` (the server stopping): it aborts the
 * registry's requests and stops the change before any folder moves; once they move, the
 * change goes through.
 */
export interface ExtensionInstaller {
  readonly registry: NpmRegistry;
  list(): InstalledExtension[];
  install(name: string, version?: string, signal?: AbortSignal): Promise<InstallResult>;
  upgrade(id: string, version?: string, signal?: AbortSignal): Promise<InstallResult>;
  uninstall(id: string): Promise<UninstallResult>;
  /** `waitMs`: how long this caller waits for the registry (a page waits less than the API). */
  available(query?: string, waitMs?: number): Promise<AvailableExtension[]>;
  /**
   * At start: installs each extension gantry.toml pins that is not installed at that version
   * (an upgrade, with its way back, when another version is). A failure is logged and the rest
   * go on. Installed extensions the table does not pin are kept, and logged. `signal` (the
   * server stopping) aborts the install under way and skips the pins after it.
   */
  applyConfigPins(versions: Record<string, string> | undefined, signal?: AbortSignal): Promise<void>;
}

/** The ids of container extensions ([extensions.<id>] with an `image`), which installs may not take. */
export function containerExtensionIds(configs: Record<string, unknown>): string[] {
  return Object.entries(configs)
    .filter(([, table]) => typeof (table as { image?: unknown } | null)?.image === "string")
    .map(([id]) => id);
}

/** The extension id a package asks for: package.json's gantry.id, else its unscoped name. */
function extensionIdOf(manifest: PackageManifest): string {
  const id = manifest.gantry?.id ?? manifest.name.replace(/^@[^/]+\//, "");
  if (!ID_PATTERN.test(id)) {
    throw new ValidationError(`${manifest.name}: "${id}" is not a valid extension id (1-64 characters of a-z, 0-9 and -); set "gantry": { "id": "..." } in its package.json`);
  }
  // "available" and "install" are paths of /api/v1/extensions, not ids an extension may take.
  if (RESERVED_EXTENSION_IDS.has(id) || id === "available" || id === "install") throw new ConflictError(`${manifest.name}: "${id}" is a reserved id`);
  return id;
}

/** The entry module relative to the package folder: `main` (a .js/.mjs/.ts file inside it) or index.js. */
function entryOf(manifest: PackageManifest): string {
  const entry = posix.normalize(manifest.main ?? "index.js").replace(/^\.\//, "");
  if (entry.startsWith("/") || entry === ".." || entry.startsWith("../") || !/\.(m?js|ts)$/.test(entry)) {
    throw new ValidationError(`${manifest.name}: "main" must be a .js, .mjs or .ts file inside the package (got ${JSON.stringify(manifest.main)})`);
  }
  return entry;
}

/** Refuses a package Gantry cannot run as is: without the keyword, or with dependencies to fetch. */
function checkManifest(manifest: PackageManifest): void {
  const label = `${manifest.name}@${manifest.version}`;
  if (!manifest.keywords?.includes(EXTENSION_KEYWORD)) {
    throw new ValidationError(`${label} is not a Gantry extension: its package.json has no "${EXTENSION_KEYWORD}" keyword`);
  }
  const foreign = Object.keys(manifest.dependencies ?? {}).filter((name) => !HOST_MODULES.has(name));
  if (foreign.length > 0) {
    throw new ValidationError(`${label} has runtime dependencies (${foreign.join(", ")}); Gantry installs no dependencies: an extension may use only ${[...HOST_MODULES].join(", ")} and must bundle the rest`);
  }
}

/**
 * Whether a version just loaded counts as started: running, or "unconfigured" (its code loaded
 * and asks for an [extensions.<id>] table: a setting to add, not a broken version).
 */
const started = (extension: ExtensionStatus) => extension.state === "running" || extension.state === "unconfigured";

/** An extension's state and error as the installer's messages give them. */
const stateText = (extension: ExtensionStatus) =>
  extension.state === "starting" ? `still starting after ${START_WAIT_MS / 1000} s` : `${extension.state}${extension.error ? `: ${extension.error}` : ""}`;

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** Where an upgrade moves the old version while the new one starts: .old-<id>-<uuid>. */
const OLD_FOLDER = new RegExp(`^\\.old-(.+)-${UUID}$`);
/** Where a package is unpacked before it takes its id's folder: .staging-<id>-<uuid>. */
const STAGING_FOLDER = new RegExp(`^\\.staging-.+-${UUID}$`);

/** The version a package folder's package.json names; undefined when it cannot be read. */
function folderVersion(folder: string): string | undefined {
  try {
    const version = (JSON.parse(readFileSync(join(folder, "package.json"), "utf8")) as { version?: unknown } | null)?.version;
    return typeof version === "string" ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts right what a crash in the middle of an install or upgrade left in `dir`, before
 * anything starts. An old version moved aside (.old-<id>-<uuid>) goes back to <id>/ when that
 * folder is missing, or holds a new version installed.json does not record yet (the upgrade
 * never finished); otherwise (the new version recorded) it goes. Staging folders and a
 * half-written installed.json.tmp go too.
 */
function recoverInterrupted(dir: string): void {
  if (!existsSync(dir)) return;
  let records: InstalledExtension[] = [];
  try {
    records = readInstalled(dir);
  } catch {
    // A damaged installed.json: nothing is loaded from it (installedEntries says why), and old folders stay for a person.
    return;
  }
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const old = OLD_FOLDER.exec(name);
    if (old) {
      const id = old[1]!;
      const folder = join(dir, id);
      const record = records.find((found) => found.id === id);
      const unrecorded = record !== undefined && folderVersion(folder) !== record.version && folderVersion(path) === record.version;
      if (ID_PATTERN.test(id) && (!existsSync(folder) || unrecorded)) {
        rmSync(folder, { recursive: true, force: true });
        renameSync(path, folder);
        console.warn(`extension ${id}: an upgrade was cut short; its previous version${record ? ` (${record.version})` : ""} is back in ${folder}`);
        continue;
      }
    } else if (!STAGING_FOLDER.test(name) && name !== `${INSTALLED_FILE}.tmp`) {
      continue;
    }
    rmSync(path, { recursive: true, force: true });
  }
}

export function createExtensionInstaller(options: ExtensionInstallerOptions): ExtensionInstaller {
  const { dir, host } = options;
  const registry = createNpmRegistry(options.registryUrl);
  const installedFile = join(dir, INSTALLED_FILE);
  recoverInterrupted(dir);
  // One change at a time: two installs of one id must not interleave their folder moves.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  const builtInIds = () => new Set([...discoverExtensions(options.builtInDir).map((found) => found.id), ...options.containerIds]);

  /**
   * Records `name`'s pin at `version` (its removal when undefined) in gantry.toml. When the
   * server has no gantry.toml, or it cannot be edited, installed.json alone holds the change:
   * the answer and the log say so, and what the next start will do about it.
   */
  const pinInConfig = (name: string, version: string | undefined): PinRecord => {
    const inJsonOnly = (problem: string): PinRecord => {
      const change = version === undefined ? `${name} is unpinned in ${installedFile} only` : `${name}@${version} is pinned in ${installedFile} only`;
      console.warn(`${change}: ${problem}`);
      return { file: installedFile, problem };
    };
    if (!options.configFile) return inJsonOnly("the server runs without a gantry.toml");
    try {
      writeVersionPin(options.configFile, name, version);
      return { file: options.configFile };
    } catch (error) {
      const left = configFilePin(options.configFile, name);
      const consequence =
        left !== undefined && left !== version
          ? `; it still pins ${name} = "${left}": ${version === undefined ? "remove" : "change"} that line, or the next start installs ${left} again`
          : "";
      return inJsonOnly(`${messageOf(error)}${consequence}`);
    }
  };

  /**
   * Downloads and checks `manifest`'s tarball and unpacks it into a staging folder beside the
   * extensions'; its path. Past this point (`signal` not aborted by then) the change goes through.
   */
  const stage = async (id: string, manifest: PackageManifest, entry: string, signal: AbortSignal | undefined): Promise<string> => {
    const label = `${manifest.name}@${manifest.version}`;
    const tarball = await registry.tarball(manifest, signal);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const staging = join(dir, `.staging-${id}-${crypto.randomUUID()}`);
    try {
      await unpackPackage(tarball, staging, label);
      const packed = v.safeParse(v.object({ name: v.string(), version: v.string() }), JSON.parse(readFileSync(join(staging, "package.json"), "utf8")));
      if (!packed.success || packed.output.name !== manifest.name || packed.output.version !== manifest.version) {
        throw new ValidationError(`${label}: the tarball's package.json does not name ${label}`);
      }
      if (!existsSync(join(staging, entry))) throw new ValidationError(`${label}: its entry module ${entry} is not in the package`);
      signal?.throwIfAborted();
      return staging;
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      if (error instanceof SyntaxError) throw new ValidationError(`${label}: its package.json is not JSON`);
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new ValidationError(`${label}: the tarball has no package.json`);
      throw error;
    }
  };

  const recordOf = (id: string, manifest: PackageManifest, entry: string): InstalledExtension => ({
    id,
    package: manifest.name,
    version: manifest.version,
    integrity: manifest.dist.integrity!.split(/\s+/).find((item) => item.startsWith("sha512-"))!,
    entry,
    installedAt: options.now().toISOString(),
  });

  /** A new id: unpacked into <dir>/<id>, recorded, started and pinned. */
  const putNew = async (id: string, manifest: PackageManifest, signal: AbortSignal | undefined): Promise<InstallResult> => {
    const entry = entryOf(manifest);
    const staging = await stage(id, manifest, entry, signal);
    const folder = join(dir, id);
    // A folder no record names (left by a crash mid-install) gives way.
    rmSync(folder, { recursive: true, force: true });
    renameSync(staging, folder);
    const installed = recordOf(id, manifest, entry);
    writeInstalled(dir, [...readInstalled(dir).filter((record) => record.id !== id), installed]);
    const extension = await host.load(id, join(folder, entry));
    return { installed, extension, pin: pinInConfig(manifest.name, manifest.version) };
  };

  /**
   * `previous` replaced by `manifest`: the new version is unpacked beside the old one and
   * started, and only once it is recorded does the old folder go. One that does not start is
   * taken out, the old one put back and started again, its record and pin untouched.
   */
  const replace = async (previous: InstalledExtension, manifest: PackageManifest, signal: AbortSignal | undefined): Promise<InstallResult> => {
    const { id } = previous;
    const label = `${manifest.name}@${manifest.version}`;
    const entry = entryOf(manifest);
    const staging = await stage(id, manifest, entry, signal);
    const folder = join(dir, id);
    const old = join(dir, `.old-${id}-${crypto.randomUUID()}`);
    await host.unload(id);
    let movedOld = false;
    let placedNew = false;
    /** The new version out, the old one back in its folder and started again. */
    const putBack = async () => {
      await host.unload(id);
      rmSync(placedNew ? folder : staging, { recursive: true, force: true });
      if (movedOld) renameSync(old, folder);
      if (existsSync(join(folder, previous.entry))) await host.load(id, join(folder, previous.entry));
    };
    let extension: ExtensionStatus;
    try {
      if (existsSync(folder)) {
        renameSync(folder, old);
        movedOld = true;
      }
      renameSync(staging, folder);
      placedNew = true;
      extension = await host.load(id, join(folder, entry));
    } catch (error) {
      await putBack();
      throw error;
    }
    if (!started(extension)) {
      await putBack();
      const back = host.get(id);
      throw new ValidationError(
        `${label} did not start (${stateText(extension)}), so extension ${id} stays at ${previous.version}, pinned as before` +
          (back ? ` (${stateText(back)})` : " (its folder was missing: nothing runs)"),
      );
    }
    const installed = recordOf(id, manifest, entry);
    writeInstalled(dir, [...readInstalled(dir).filter((record) => record.id !== id), installed]);
    // Only now that the new version is recorded: a crash before this leaves the old one to put back.
    rmSync(old, { recursive: true, force: true });
    return { installed, extension, previous: previous.version, pin: pinInConfig(manifest.name, manifest.version) };
  };

  const recorded = (id: string): InstalledExtension => {
    const record = readInstalled(dir).find((found) => found.id === id);
    if (record) return record;
    if (builtInIds().has(id)) throw new ConflictError(`extension ${id} is built in (GANTRY_EXTENSIONS_DIR or [extensions.${id}]), not installed from a registry`);
    throw new NotFoundError(`no installed extension ${id} (see gantry extension ls)`);
  };

  const installer: ExtensionInstaller = {
    registry,
    list: () => readInstalled(dir),
    install: (name, version, signal) =>
      serial(async () => {
        signal?.throwIfAborted();
        const manifest = await registry.manifest(name, version, signal);
        checkManifest(manifest);
        const id = extensionIdOf(manifest);
        if (builtInIds().has(id)) throw new ConflictError(`${manifest.name}: the extension id "${id}" is taken by a built-in extension`);
        const taken = readInstalled(dir).find((record) => record.id === id);
        if (taken) {
          throw new ConflictError(
            taken.package === manifest.name
              ? `${manifest.name} is already installed (${taken.version}) as extension ${id}; use gantry extension upgrade ${id}`
              : `${manifest.name}: the extension id "${id}" is taken by ${taken.package}`,
          );
        }
        // An id the host runs without a record or built-in folder: left by hand in the data dir, say.
        if (host.get(id)) throw new ConflictError(`${manifest.name}: the extension id "${id}" is taken by a running extension`);
        return putNew(id, manifest, signal);
      }),
    upgrade: (id, version, signal) =>
      serial(async () => {
        signal?.throwIfAborted();
        const record = recorded(id);
        const manifest = await registry.manifest(record.package, version, signal);
        checkManifest(manifest);
        if (extensionIdOf(manifest) !== id) throw new ConflictError(`${manifest.name}@${manifest.version} names itself extension "${extensionIdOf(manifest)}", not ${id}; uninstall ${id} and install it instead`);
        if (manifest.version === record.version && host.get(id)) return { installed: record, extension: host.get(id)!, unchanged: true };
        return replace(record, manifest, signal);
      }),
    uninstall: (id) =>
      serial(async () => {
        const record = recorded(id);
        await host.unload(id);
        writeInstalled(dir, readInstalled(dir).filter((found) => found.id !== id));
        rmSync(join(dir, id), { recursive: true, force: true });
        return { uninstalled: record, pin: pinInConfig(record.package, undefined) };
      }),
    async available(query, waitMs) {
      const records = readInstalled(dir);
      return (await registry.search(query, waitMs)).map((pkg) => {
        const record = records.find((found) => found.package === pkg.name);
        return { ...pkg, ...(record && { installed: { id: record.id, version: record.version } }) };
      });
    },
    async applyConfigPins(versions, signal) {
      if (versions === undefined) return;
      const table = `${options.configFile ?? "gantry.toml"} [${EXTENSION_VERSIONS_TABLE}]`;
      for (const [name, version] of Object.entries(versions)) {
        if (signal?.aborted) return;
        const record = readInstalled(dir).find((found) => found.package === name);
        if (record?.version === version && host.get(record.id)) continue;
        try {
          const result = record ? await installer.upgrade(record.id, version, signal) : await installer.install(name, version, signal);
          // stderr, as the server's other background notes: stdout is serve's own lines (JSON with --log-format json).
          console.error(`${table}: installed ${name}@${version} as extension ${result.installed.id} (${result.extension?.state ?? "stopped"})`);
        } catch (error) {
          if (signal?.aborted) {
            console.warn(`${table}: the server stopped before ${name}@${version} was installed; the next start installs it`);
            return;
          }
          const kept = record ? `; extension ${record.id} stays at ${record.version}` : "";
          console.error(`${table} pins ${name} = "${version}", which could not be installed: ${messageOf(error)}${kept}. The server runs on without it.`);
        }
      }
      if (signal?.aborted) return;
      // Taken out of the table by hand: kept, never removed behind a person's back.
      for (const record of readInstalled(dir)) {
        if (!Object.hasOwn(versions, record.package)) {
          console.warn(`extension ${record.id} (${record.package}@${record.version}) is installed but not pinned in ${table}; it is kept and runs: pin it there, or remove it with gantry extension uninstall ${record.id}`);
        }
      }
    },
  };
  return installer;
}
