// <data>/extensions/installed.json: the record of the extensions unpacked from a registry —
// package, version, integrity and entry of each — which the host starts with the server.
// gantry.toml's [extension_versions] is where a person reads and sets the pins; this file
// says what is on disk.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { ID_PATTERN } from "../domain/ids.ts";

export const INSTALLED_FILE = "installed.json";

/** What installed.json records of each installed extension. */
export interface InstalledExtension {
  id: string;
  package: string;
  version: string;
  integrity: string;
  /** The entry module, relative to the extension's folder. */
  entry: string;
  installedAt: string;
}

const installedSchema = v.object({
  extensions: v.record(
    v.string(),
    v.object({ package: v.string(), version: v.string(), integrity: v.string(), entry: v.string(), installedAt: v.string() }),
  ),
});

/** The extensions installed.json records; none when it does not exist. */
export function readInstalled(dir: string): InstalledExtension[] {
  const path = join(dir, INSTALLED_FILE);
  if (!existsSync(path)) return [];
  const parsed = v.safeParse(installedSchema, JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(`${path} is damaged: ${parsed.issues[0].message}`);
  return Object.entries(parsed.output.extensions)
    .filter(([id]) => ID_PATTERN.test(id))
    .map(([id, record]) => ({ id, ...record }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Installed extensions the host should start: those whose folder and entry are there. */
export function installedEntries(dir: string): { id: string; file: string }[] {
  try {
    return readInstalled(dir)
      .map((record) => ({ id: record.id, file: join(dir, record.id, record.entry) }))
      .filter((found) => existsSync(found.file));
  } catch (error) {
    console.error(`installed extensions are not loaded: ${(error as Error).message}`);
    return [];
  }
}

export function writeInstalled(dir: string, records: InstalledExtension[]): void {
  const extensions = Object.fromEntries(records.map(({ id, ...record }) => [id, record]));
  const path = join(dir, INSTALLED_FILE);
  // Written whole and renamed over: a crash leaves the old file or the new one, never half.
  writeFileSync(`${path}.tmp`, `${JSON.stringify({ extensions }, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}
