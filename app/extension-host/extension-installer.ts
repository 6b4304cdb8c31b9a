// Installs, upgrades and uninstalls extensions published on an npm registry: the package must
// carry the gantry-extension keyword, its tarball must match the registry's sha512 integrity,
// it is unpacked (files and folders only, under caps) into <data>/extensions/<id>/ and pinned
// in <data>/extensions/installed.json, then started in its Worker without a server restart.
// No install scripts run and no dependencies are fetched: a package depends on nothing but
// what the host provides ("gantry", "valibot", "croner"), or bundles the rest.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import * as v from "valibot";
import { ConflictError, NotFoundError, ValidationError } from "../domain/errors.ts";
import { ID_PATTERN } from "../domain/ids.ts";
import { readTar, TarError } from "../stores/tar.ts";
import { discoverExtensions, RESERVED_EXTENSION_IDS, type ExtensionHost, type ExtensionStatus } from "./host.ts";
import { createNpmRegistry, EXTENSION_KEYWORD, type AvailablePackage, type NpmRegistry, type PackageManifest } from "./npm-registry.ts";

/** Modules the extension host gives every extension (extension-worker.ts): the only dependencies allowed. */
const HOST_MODULES = new Set(["gantry", "valibot", "croner"]);
const MAX_UNPACKED_BYTES = 50 * 1024 * 1024;
const MAX_FILES = 2_000;
const PINS_FILE = "installed.json";

/** What installed.json records of each installed extension: the pin. */
export interface InstalledExtension {
  id: string;
  package: string;
  version: string;
  integrity: string;
  /** The entry module, relative to the extension's folder. */
  entry: string;
  installedAt: string;
}

const pinsSchema = v.object({
  extensions: v.record(
    v.string(),
    v.object({ package: v.string(), version: v.string(), integrity: v.string(), entry: v.string(), installedAt: v.string() }),
  ),
});

export interface ExtensionInstallerOptions {
  /** <data>/extensions: installed extensions' folders and installed.json. */
  dir: string;
  /** The built-in extensions folder (GANTRY_EXTENSIONS_DIR): its ids are never taken. */
  builtInDir: string;
  /** Ids of container extensions ([extensions.<id>] with an image): taken too. */
  containerIds: string[];
  registryUrl: string;
  host: ExtensionHost;
  now: () => Date;
}

export interface InstallResult {
  installed: InstalledExtension;
  /** The extension's state once started (running, or why not). */
  extension?: ExtensionStatus;
  /** The version replaced by an upgrade. */
  previous?: string;
  /** An upgrade to the version already installed changes nothing. */
  unchanged?: boolean;
}

export interface ExtensionInstaller {
  readonly registry: NpmRegistry;
  list(): InstalledExtension[];
  install(name: string, version?: string): Promise<InstallResult>;
  upgrade(id: string, version?: string): Promise<InstallResult>;
  uninstall(id: string): Promise<InstalledExtension>;
  /** `timeoutMs`: how long the registry may take (a page waits less than the API). */
  available(query?: string, timeoutMs?: number): Promise<(AvailablePackage & { installed?: { id: string; version: string } })[]>;
}

/** The pins in installed.json; none when it does not exist. */
export function readInstalled(dir: string): InstalledExtension[] {
  const path = join(dir, PINS_FILE);
  if (!existsSync(path)) return [];
  const parsed = v.safeParse(pinsSchema, JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(`${path} is damaged: ${parsed.issues[0].message}`);
  return Object.entries(parsed.output.extensions)
    .filter(([id]) => ID_PATTERN.test(id))
    .map(([id, pin]) => ({ id, ...pin }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Installed extensions the host should start: those whose folder and entry are there. */
export function installedEntries(dir: string): { id: string; file: string }[] {
  try {
    return readInstalled(dir)
      .map((pin) => ({ id: pin.id, file: join(dir, pin.id, pin.entry) }))
      .filter((found) => existsSync(found.file));
  } catch (error) {
    console.error(`installed extensions are not loaded: ${(error as Error).message}`);
    return [];
  }
}

function writeInstalled(dir: string, pins: InstalledExtension[]): void {
  const extensions = Object.fromEntries(pins.map(({ id, ...pin }) => [id, pin]));
  const path = join(dir, PINS_FILE);
  // Written whole and renamed over: a crash leaves the old file or the new one, never half.
  writeFileSync(`${path}.tmp`, `${JSON.stringify({ extensions }, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
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

/** A path inside the package: the tarball's top folder ("package/") stripped; refused if it leads outside. */
function packagePath(path: string): string | undefined {
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (path.startsWith("/") || path.includes("\\") || parts.includes("..") || parts.some((part) => part.includes("\0"))) {
    throw new ValidationError(`the tarball holds an unsafe path: ${JSON.stringify(path)}`);
  }
  const inner = parts.slice(1);
  return inner.length === 0 ? undefined : inner.join("/");
}

/** Unpacks a .tgz into `target` (which must not exist): files and folders only, within the caps. */
async function unpack(tarball: Uint8Array, target: string, label: string): Promise<void> {
  let unpacked = 0;
  const counting = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      unpacked += chunk.length;
      // The cap counts the whole tar stream, so a gzip bomb stops here, not once the disk is full.
      if (unpacked > MAX_UNPACKED_BYTES + 1024 * 1024) controller.error(new ValidationError(`${label}: the unpacked package is larger than ${MAX_UNPACKED_BYTES} bytes`));
      else controller.enqueue(chunk);
    },
  });
  const stream = new Blob([tarball]).stream().pipeThrough(new DecompressionStream("gzip")).pipeThrough(counting);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  let files = 0;
  let bytes = 0;
  try {
    // readTar refuses symlinks, hard links and devices: only files and folders come out.
    for await (const entry of readTar(stream)) {
      const path = packagePath(entry.path);
      if (path === undefined) continue;
      const destination = join(target, path);
      if (entry.type === "directory") {
        mkdirSync(destination, { recursive: true, mode: 0o755 });
        continue;
      }
      if (++files > MAX_FILES) throw new ValidationError(`${label}: the package holds more than ${MAX_FILES} files`);
      bytes += entry.size;
      if (bytes > MAX_UNPACKED_BYTES) throw new ValidationError(`${label}: the unpacked package is larger than ${MAX_UNPACKED_BYTES} bytes`);
      mkdirSync(dirname(destination), { recursive: true, mode: 0o755 });
      const chunks: Uint8Array[] = [];
      for await (const chunk of entry.read()) chunks.push(chunk);
      // A repeated path would replace the earlier file: refuse it (flag "wx"), as npm's packer never writes one.
      writeFileSync(destination, Buffer.concat(chunks), { mode: 0o644, flag: "wx" });
    }
  } catch (error) {
    if (error instanceof TarError) throw new ValidationError(`${label}: the tarball is not a valid package (${error.message})`);
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new ValidationError(`${label}: the tarball holds a path twice`);
    if (error instanceof TypeError || (error as Error).name === "ZlibError") throw new ValidationError(`${label}: the tarball is not gzip (${(error as Error).message})`);
    throw error;
  }
}

export function createExtensionInstaller(options: ExtensionInstallerOptions): ExtensionInstaller {
  const { dir, host } = options;
  const registry = createNpmRegistry(options.registryUrl);
  // One change at a time: two installs of one id must not interleave their folder moves.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  const builtInIds = () => new Set([...discoverExtensions(options.builtInDir).map((found) => found.id), ...options.containerIds]);

  /** Downloads, checks and unpacks `manifest`, swaps it in for `id`'s folder, pins it and (re)starts it. */
  const put = async (id: string, manifest: PackageManifest, previous?: InstalledExtension): Promise<InstallResult> => {
    const label = `${manifest.name}@${manifest.version}`;
    const entry = entryOf(manifest);
    const tarball = await registry.tarball(manifest);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const staging = join(dir, `.staging-${id}-${crypto.randomUUID()}`);
    try {
      await unpack(tarball, staging, label);
      const packed = v.safeParse(v.object({ name: v.string(), version: v.string() }), JSON.parse(readFileSync(join(staging, "package.json"), "utf8")));
      if (!packed.success || packed.output.name !== manifest.name || packed.output.version !== manifest.version) {
        throw new ValidationError(`${label}: the tarball's package.json does not name ${label}`);
      }
      if (!existsSync(join(staging, entry))) throw new ValidationError(`${label}: its entry module ${entry} is not in the package`);
      const folder = join(dir, id);
      await host.unload(id);
      const old = join(dir, `.old-${id}-${crypto.randomUUID()}`);
      if (existsSync(folder)) renameSync(folder, old);
      renameSync(staging, folder);
      rmSync(old, { recursive: true, force: true });
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      if (error instanceof SyntaxError) throw new ValidationError(`${label}: its package.json is not JSON`);
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new ValidationError(`${label}: the tarball has no package.json`);
      throw error;
    }
    const installed: InstalledExtension = {
      id,
      package: manifest.name,
      version: manifest.version,
      integrity: manifest.dist.integrity!.split(/\s+/).find((item) => item.startsWith("sha512-"))!,
      entry,
      installedAt: options.now().toISOString(),
    };
    writeInstalled(dir, [...readInstalled(dir).filter((pin) => pin.id !== id), installed]);
    const extension = await host.load(id, join(dir, id, entry));
    return { installed, extension, ...(previous && { previous: previous.version }) };
  };

  const pinned = (id: string): InstalledExtension => {
    const pin = readInstalled(dir).find((found) => found.id === id);
    if (pin) return pin;
    if (builtInIds().has(id)) throw new ConflictError(`extension ${id} is built in (GANTRY_EXTENSIONS_DIR or [extensions.${id}]), not installed from a registry`);
    throw new NotFoundError(`no installed extension ${id} (see gantry extension ls)`);
  };

  return {
    registry,
    list: () => readInstalled(dir),
    install: (name, version) =>
      serial(async () => {
        const manifest = await registry.manifest(name, version);
        checkManifest(manifest);
        const id = extensionIdOf(manifest);
        if (builtInIds().has(id)) throw new ConflictError(`${manifest.name}: the extension id "${id}" is taken by a built-in extension`);
        const taken = readInstalled(dir).find((pin) => pin.id === id);
        if (taken) {
          throw new ConflictError(
            taken.package === manifest.name
              ? `${manifest.name} is already installed (${taken.version}) as extension ${id}; use gantry extension upgrade ${id}`
              : `${manifest.name}: the extension id "${id}" is taken by ${taken.package}`,
          );
        }
        // An id the host runs without a pin or built-in folder: left by hand in the data dir, say.
        if (host.get(id)) throw new ConflictError(`${manifest.name}: the extension id "${id}" is taken by a running extension`);
        return put(id, manifest);
      }),
    upgrade: (id, version) =>
      serial(async () => {
        const pin = pinned(id);
        const manifest = await registry.manifest(pin.package, version);
        checkManifest(manifest);
        if (extensionIdOf(manifest) !== id) throw new ConflictError(`${manifest.name}@${manifest.version} names itself extension "${extensionIdOf(manifest)}", not ${id}; uninstall ${id} and install it instead`);
        if (manifest.version === pin.version && host.get(id)) return { installed: pin, extension: host.get(id)!, unchanged: true };
        return put(id, manifest, pin);
      }),
    uninstall: (id) =>
      serial(async () => {
        const pin = pinned(id);
        await host.unload(id);
        writeInstalled(dir, readInstalled(dir).filter((found) => found.id !== id));
        rmSync(join(dir, id), { recursive: true, force: true });
        return pin;
      }),
    async available(query, timeoutMs) {
      const pins = readInstalled(dir);
      return (await registry.search(query, timeoutMs)).map((pkg) => {
        const pin = pins.find((found) => found.package === pkg.name);
        return { ...pkg, ...(pin && { installed: { id: pin.id, version: pin.version } }) };
      });
    },
  };
}

const installers = new WeakMap<object, ExtensionInstaller>();

/** The installer of a server's deps (one per server, so its changes queue one after another). */
export function installerOf(deps: {
  config: { dataDir: string; extensionsDir: string; npmRegistry: string; extensionConfigs: Record<string, unknown> };
  extensions: ExtensionHost;
  now: () => Date;
}): ExtensionInstaller {
  let installer = installers.get(deps);
  if (!installer) {
    const { config } = deps;
    installer = createExtensionInstaller({
      dir: join(config.dataDir, "extensions"),
      builtInDir: config.extensionsDir,
      containerIds: Object.entries(config.extensionConfigs)
        .filter(([, table]) => typeof (table as { image?: unknown } | null)?.image === "string")
        .map(([id]) => id),
      registryUrl: config.npmRegistry,
      host: deps.extensions,
      now: deps.now,
    });
    installers.set(deps, installer);
  }
  return installer;
}
