// The pins of installed extensions in gantry.toml's [extension_versions] table (npm package =
// exact version): the schema config.ts reads it with, and the surgical edit install, upgrade
// and uninstall make to the file, changing that table's lines only and checked before it lands.
import { closeSync, fchmodSync, fchownSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import * as v from "valibot";
import { messageOf } from "../domain/errors.ts";
import { exactVersionSchema, packageNameSchema } from "./npm-registry.ts";

/** The table's name in gantry.toml; apart from [extensions.<id>], which is each extension's config. */
export const EXTENSION_VERSIONS_TABLE = "extension_versions";

/** A pin is one exact (semver) version: a range or a dist-tag would move on its own. */
export const extensionVersionsSchema = v.record(packageNameSchema, exactVersionSchema, "must be a table of npm package = version");

/** "invalid": the pin itself is one the config loader would refuse (and so the server's next start). */
export type ConfigFilePinErrorCode = "invalid" | "unreadable" | "unsupported" | "unwritable";

/** Why the pin could not go into gantry.toml; the file is left as it was. */
export class ConfigFilePinError extends Error {
  override name = "ConfigFilePinError";
  constructor(
    readonly code: ConfigFilePinErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const TABLE_HEADER = /^\s*\[\s*extension_versions\s*\]\s*(?:#.*)?$/;
/** Any table or array-of-tables header: where the table's lines end. */
const ANY_HEADER = /^\s*\[/;
/** `key = value # comment`, the key bare, "basic" or 'literal'. */
const KEY_LINE = /^(\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)(\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^#]*?)(\s*(?:#.*)?)$/;
const CONTENT_LINE = /^\s*[^\s#]/;

/** The key as TOML reads it: a bare key as written, a quoted one unquoted. */
function keyName(written: string): string {
  if (written.startsWith("'")) return written.slice(1, -1);
  if (written.startsWith('"')) {
    try {
      return JSON.parse(written) as string;
    } catch {
      return written;
    }
  }
  return written;
}

/** A line without its end ("\n" or "\r\n"), and that end. */
function splitEnd(line: string): [string, string] {
  const end = /\r?\n$/.exec(line)?.[0] ?? "";
  return [line.slice(0, line.length - end.length), end];
}

/** Whether the text has the table's own "[extension_versions]" header line. */
const hasTableHeader = (text: string) => text.split(/\r?\n/).some((line) => TABLE_HEADER.test(line));

const pinLine = (name: string, version: string) => `${JSON.stringify(name)} = ${JSON.stringify(version)}`;

/**
 * `text` with `name` pinned at `version` in [extension_versions] (or its pin removed when
 * `version` is undefined). Only the table's lines change: a pin's line is rewritten in place
 * (its key spelling and trailing comment kept), a new pin goes after the table's last pin, a
 * missing table is appended at the end. Every other byte is kept.
 */
export function withVersionPin(text: string, name: string, version: string | undefined): string {
  // Each line keeps its own end, so untouched lines come back byte for byte.
  const lines = text.split(/(?<=\n)/);
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const header = lines.findIndex((line) => TABLE_HEADER.test(splitEnd(line)[0]));
  if (header === -1) {
    if (version === undefined) return text;
    const separator = text === "" ? "" : text.endsWith("\n") ? (text.trim() === "" ? "" : eol) : eol + eol;
    return `${text}${separator}# Extensions installed from the npm registry, pinned (gantry extension install|upgrade|uninstall edit this table).${eol}[${EXTENSION_VERSIONS_TABLE}]${eol}${pinLine(name, version)}${eol}`;
  }
  const next = lines.findIndex((line, index) => index > header && ANY_HEADER.test(line));
  const end = next === -1 ? lines.length : next;
  let found = -1;
  let lastContent = header;
  for (let index = header + 1; index < end; index++) {
    const [body] = splitEnd(lines[index]!);
    if (CONTENT_LINE.test(body)) lastContent = index;
    const match = KEY_LINE.exec(body);
    if (match && keyName(match[2]!) === name) found = index;
  }
  if (found !== -1) {
    if (version === undefined) return [...lines.slice(0, found), ...lines.slice(found + 1)].join("");
    const [body, lineEnd] = splitEnd(lines[found]!);
    const [, indent, key, equals, , rest] = KEY_LINE.exec(body)!;
    const rewritten = `${indent}${key}${equals}${JSON.stringify(version)}${rest}${lineEnd}`;
    return [...lines.slice(0, found), rewritten, ...lines.slice(found + 1)].join("");
  }
  if (version === undefined) return text;
  const [body, lineEnd] = splitEnd(lines[lastContent]!);
  // The table's last line may be the file's last, without an end of its own.
  const before = lineEnd === "" ? `${body}${eol}` : lines[lastContent]!;
  return [...lines.slice(0, lastContent), before, `${pinLine(name, version)}${eol}`, ...lines.slice(lastContent + 1)].join("");
}

type TomlTable = Record<string, unknown>;

const notByLines = (file: string) =>
  new ConfigFilePinError(
    "unsupported",
    `${file}: the ${EXTENSION_VERSIONS_TABLE} table is not written as one "[${EXTENSION_VERSIONS_TABLE}]" header with one "package" = "version" line per pin, so it was not edited`,
  );

function parseToml(text: string, file: string): TomlTable {
  try {
    return Bun.TOML.parse(text) as TomlTable;
  } catch (error) {
    throw new ConfigFilePinError("unreadable", `${file} is not valid TOML (${messageOf(error)})`);
  }
}

/** The version `file` pins `name` at, if any (undefined too when the file cannot be read). */
export function configFilePin(file: string, name: string): string | undefined {
  try {
    const table = (Bun.TOML.parse(readFileSync(file, "utf8")) as TomlTable)[EXTENSION_VERSIONS_TABLE];
    const version = table && typeof table === "object" ? (table as TomlTable)[name] : undefined;
    return typeof version === "string" ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pins `name` at `version` in `file` (removes its pin when `version` is undefined), written
 * whole to a temp file beside it, flushed to disk and renamed over it, with the same mode,
 * once Bun's TOML parser reads the result as the old settings plus this one change, and the
 * pin passes the schema config.ts reads the table with. Returns whether the file changed;
 * throws a ConfigFilePinError (the file untouched) when it cannot be done.
 */
export function writeVersionPin(file: string, name: string, version: string | undefined): boolean {
  if (version !== undefined) {
    // A pin the config loader refuses would stop the server's next start: it never goes in.
    const pin = v.safeParse(extensionVersionsSchema, { [name]: version });
    if (!pin.success) throw new ConfigFilePinError("invalid", `${JSON.stringify(name)} = ${JSON.stringify(version)} is not a pin ${file} may hold: ${pin.issues[0].message}`);
  }
  let target: string;
  let text: string;
  try {
    // A symlinked gantry.toml stays a link: the file it points to is the one replaced.
    target = realpathSync(file);
    text = readFileSync(target, "utf8");
  } catch (error) {
    throw new ConfigFilePinError("unreadable", `${file} cannot be read (${messageOf(error)})`);
  }
  const before = parseToml(text, file);
  // Written inline or with dotted keys: a header added below would define the table twice.
  if (before[EXTENSION_VERSIONS_TABLE] !== undefined && !hasTableHeader(text)) throw notByLines(file);
  const next = withVersionPin(text, name, version);
  if (next === text) return false;
  const expected = structuredClone(before);
  const table = expected[EXTENSION_VERSIONS_TABLE];
  if (table !== undefined && (typeof table !== "object" || table === null || Array.isArray(table))) {
    throw new ConfigFilePinError("unsupported", `${file}: ${EXTENSION_VERSIONS_TABLE} is not a table`);
  }
  const pins = (table ?? {}) as TomlTable;
  if (version === undefined) delete pins[name];
  else pins[name] = version;
  expected[EXTENSION_VERSIONS_TABLE] = pins;
  // The edit is checked, not trusted: a table written inline or with dotted keys, or a header
  // inside a multi-line string, would make it read otherwise; then the file stays as it is.
  let after: TomlTable | undefined;
  try {
    after = Bun.TOML.parse(next) as TomlTable;
  } catch {
    after = undefined;
  }
  if (!after || !Bun.deepEquals(after, expected)) throw notByLines(file);
  const temp = join(dirname(target), `.${basename(target)}.${crypto.randomUUID()}.tmp`);
  let created = false;
  try {
    const { mode, uid, gid } = statSync(target);
    const fd = openSync(temp, "wx", mode & 0o7777);
    created = true;
    try {
      writeFileSync(fd, next);
      // The umask may have taken bits off the mode asked for.
      fchmodSync(fd, mode & 0o7777);
      // The file keeps its owner where this process may say so (root editing a person's file).
      if (process.getuid?.() === 0) fchownSync(fd, uid, gid);
      // On disk before the rename: a crash must leave the old file or the whole new one, never an empty one.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (error) {
    // Only a temp file this call made: removing one that could not be made may fail in turn (a name too long).
    if (created) rmSync(temp, { force: true });
    throw new ConfigFilePinError("unwritable", `${file} cannot be written (${messageOf(error)})`);
  }
  syncFolder(dirname(target));
  return true;
}

/** Flushes a folder's entries (a rename into it) to disk; where the system cannot, the rename stands as it is. */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some file systems refuse to sync a folder; the file itself is already on disk.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
