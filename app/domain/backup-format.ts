// What a backup archive holds, in one place for the writer (the server) and the reader
// (`gantry restore`): entry names, the manifest's schema, and which paths may appear at all.
import * as v from "valibot";

export const BACKUP_FORMAT = "gantry-backup";
export const BACKUP_FORMAT_VERSION = 1;

/** First entry: what the archive is, from which server, and which secret key its secrets need. */
export const MANIFEST_ENTRY = "gantry-backup.json";
/** The database, a consistent snapshot (VACUUM INTO) taken while the server ran. */
export const DATABASE_ENTRY = "gantry.db";
/** Last entry: `<sha256>  <path>` for every other file, as sha256sum writes them (`sha256sum -c` reads it). */
export const CHECKSUMS_ENTRY = "gantry-backup.sha256";

/**
 * Folders of the data dir the database refers to: task logs, object bytes, and the pipeline
 * bundles that runs (and re-runs) of each stored version execute. Not kept: workspaces (scratch
 * space of runs, pruned anyway) and the key and token files (secrets, kept apart on purpose).
 */
export const BACKUP_FOLDERS = ["logs", "objects", "bundles", "artifacts"] as const;

/** Partial files a store writes before renaming them into place: never part of a backup. */
export const isPartialFile = (name: string) => name === ".tmp" || name.endsWith(".tmp");

export const SECRET_KEY_NOTE =
  "The secret key is not in this backup: keep it separately (the server's <data>/secret-key file, or GANTRY_SECRET_KEY). Without it the secrets in this backup cannot be read.";

export const backupManifestSchema = v.object({
  format: v.literal(BACKUP_FORMAT, `is not "${BACKUP_FORMAT}": not a Gantry backup`),
  version: v.pipe(
    v.number("must be a number"),
    v.check((version) => version <= BACKUP_FORMAT_VERSION, `is newer than this Gantry reads (${BACKUP_FORMAT_VERSION}): restore it with the Gantry that wrote it or a later one`),
  ),
  gantryVersion: v.string(),
  createdAt: v.pipe(v.string(), v.isoTimestamp("must be an ISO time")),
  /** The server's data dir: the database's bundle paths point into it and are moved to the new one. */
  dataDir: v.string(),
  database: v.literal(DATABASE_ENTRY),
  folders: v.array(v.string()),
  secretKey: v.object({
    /** The id (a short hash) of the key the stored secrets were encrypted with. */
    id: v.string(),
    source: v.picklist(["env", "file"]),
    /** How many secrets are stored: with none, any key will do. */
    secrets: v.pipe(v.number(), v.integer(), v.minValue(0)),
  }),
  note: v.optional(v.string()),
});

export type BackupManifest = v.InferOutput<typeof backupManifestSchema>;

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Why `path` cannot be an entry of a backup, or undefined when it may: nothing escapes the data dir. */
export function backupEntryProblem(path: string): string | undefined {
  if (path === MANIFEST_ENTRY || path === DATABASE_ENTRY || path === CHECKSUMS_ENTRY) return undefined;
  const segments = path.split("/");
  if (!(BACKUP_FOLDERS as readonly string[]).includes(segments[0]!)) return `is not in ${BACKUP_FOLDERS.join(", ")}`;
  for (const segment of segments) {
    if (segment === "." || segment === ".." || !SEGMENT.test(segment)) return `has a path segment "${segment}" a backup never writes`;
  }
  return undefined;
}

/** The lines of the checksum entry as path → sha256, or the first line that is not one. */
export function parseChecksums(text: string): { sums: Map<string, string> } | { problem: string } {
  const sums = new Map<string, string>();
  for (const [index, line] of text.split("\n").entries()) {
    if (line === "") continue;
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!match) return { problem: `line ${index + 1} is not "<sha256>  <path>"` };
    sums.set(match[2]!, match[1]!);
  }
  return { sums };
}
