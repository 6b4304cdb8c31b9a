// `gantry backup <file>` downloads a backup from the running server (GET /system/backup) and
// checks it before giving it its name; `gantry restore <file>` (the server stopped) fills an
// empty data dir from one. Both say plainly that the secret key is not in a backup.
import { existsSync, renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import { ConfigError, loadConfig } from "../config.ts";
import type { BackupManifest } from "../domain/backup-format.ts";
import { formatBytes } from "../domain/bytes.ts";
import { BackupError, restoreBackup, verifyBackup, type BackupSummary } from "../stores/restore.ts";
import { decodeKey, importKey, SecretKeyError } from "../stores/secret-key.ts";
import { createApiClient } from "./api-client.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { guard } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { formatTime, paint } from "./output.ts";

const BACKUP_USAGE = "usage: gantry backup <file> [--force]   (a .tar.gz from the running server; - writes it to stdout)";
const RESTORE_USAGE = "usage: gantry restore <file> [--data-dir DIR] [--check]   (the server stopped; --check only reads the file)";

const wantsHelp = (args: string[]) => args.includes("--help") || args.includes("-h");

/** "database 1.2 MiB, 42 log files, 7 objects, 3 pipeline bundles". */
function contents(summary: BackupSummary): string {
  const count = (n: number | undefined, one: string, many: string) => `${n ?? 0} ${(n ?? 0) === 1 ? one : many}`;
  return [
    `database ${formatBytes(summary.databaseBytes)}`,
    count(summary.files.logs, "log file", "log files"),
    count(summary.files.objects, "object", "objects"),
    count(summary.files.bundles, "pipeline bundle", "pipeline bundles"),
  ].join(", ");
}

/** Where the key that reads this backup's secrets lives, and why it matters. */
function keyNote(manifest: BackupManifest): string {
  const { id, source, secrets } = manifest.secretKey;
  const where = source === "env" ? "GANTRY_SECRET_KEY on the server" : `the file ${manifest.dataDir}/secret-key on the server`;
  const need =
    secrets === 0
      ? "No secrets are stored yet; secrets set later will need the key all the same."
      : `Restoring needs it: the backup's ${secrets === 1 ? "1 secret was" : `${secrets} secrets were`} encrypted with key id ${id}.`;
  return `${paint("bold", "The secret key is NOT in this backup.")} Keep it separately: it is ${where}.\n${need}`;
}

export async function backupCommand(args: string[]): Promise<number> {
  if (wantsHelp(args)) {
    console.log(BACKUP_USAGE);
    return 0;
  }
  return guard(BACKUP_USAGE, async () => {
    const { values, positionals } = parseArguments(args, { force: { type: "boolean", short: "f" } });
    const [file] = takePositionals(positionals, ["file"]) as [string];
    const toStdout = file === "-";
    if (toStdout && process.stdout.isTTY) throw new UsageError("refusing to write an archive to a terminal: give a file name, or pipe it");
    if (!toStdout && existsSync(file) && !values.force) throw new CliError(`${file} already exists; choose another name, or --force to replace it`);

    // No request timeout: a large backup streams for as long as it takes.
    const response = await createApiClient().stream("/system/backup", new AbortController().signal);
    // A backup holds every log and the encrypted secrets: only its owner may read the file.
    const partial = `${file}.partial`;
    const handle = toStdout ? undefined : await open(partial, "w", 0o600);
    const stdout = toStdout ? Bun.stdout.writer() : undefined;
    let received = 0;
    const started = Date.now();
    const showProgress = process.stderr.isTTY;
    const progress = () => {
      const seconds = (Date.now() - started) / 1000;
      process.stderr.write(`\r\x1b[Kdownloading backup: ${formatBytes(received)}${seconds >= 1 ? ` (${formatBytes(received / seconds)}/s)` : ""}`);
    };
    const ticker = showProgress ? setInterval(progress, 250) : undefined;
    try {
      for await (const chunk of response.body!) {
        if (handle) await handle.write(chunk);
        else {
          stdout!.write(chunk);
          await stdout!.flush();
        }
        received += chunk.length;
      }
      await handle?.close();
      await stdout?.end();
    } catch (error) {
      await handle?.close().catch(() => undefined);
      if (!toStdout) rmSync(partial, { force: true });
      throw new CliError(`the backup broke off after ${formatBytes(received)} (${(error as Error).message}); ${toStdout ? "the output is incomplete" : `nothing was written to ${file}`}`);
    } finally {
      clearInterval(ticker);
      if (showProgress) process.stderr.write("\r\x1b[K");
    }

    if (toStdout) {
      console.error(`wrote a backup of ${formatBytes(received)} to stdout; check the file it went to with: gantry restore --check <file>`);
      console.error(
        `${paint("bold", "The secret key is NOT in this backup.")} Keep it separately: it is the server's <data>/secret-key file, or GANTRY_SECRET_KEY.`,
      );
      return 0;
    }
    // Read back whole before it takes its name: a file called <file> is a backup that restores.
    let summary: BackupSummary;
    try {
      summary = await verifyBackup(partial);
    } catch (error) {
      rmSync(partial, { force: true });
      if (error instanceof BackupError) throw new CliError(`the downloaded backup does not check out (${error.message}); nothing was written to ${file}`);
      throw error;
    }
    renameSync(partial, file);
    console.log(`wrote ${file} (${formatBytes(received)}): ${contents(summary)}; checked`);
    console.log(`taken at ${formatTime(summary.manifest.createdAt)} from ${summary.manifest.dataDir} (Gantry ${summary.manifest.gantryVersion})`);
    console.log();
    console.log(keyNote(summary.manifest));
    return 0;
  });
}

/** The database file of a `file:` URL (GANTRY_DB_URL). */
function databasePath(url: string): string {
  if (!url.startsWith("file:")) {
    throw new CliError(`GANTRY_DB_URL (${url}) is not a file: restore fills an embedded database; restore a libSQL server with its own tools`);
  }
  const rest = url.slice("file:".length).replace(/\?.*$/, "");
  return rest.startsWith("//") ? new URL(url).pathname : resolve(rest);
}

/** What to do about the key before `gantry serve`, checked against GANTRY_SECRET_KEY when it is set. */
async function restoredKeyNote(manifest: BackupManifest, configured: string | undefined, dataDir: string): Promise<string> {
  const { id, secrets } = manifest.secretKey;
  if (secrets === 0) return "The backup holds no secrets: the server may start with a new key.";
  const what = `the backup's ${secrets === 1 ? "1 secret was" : `${secrets} secrets were`} encrypted with key id ${id}`;
  if (configured) {
    let given: string;
    try {
      given = (await importKey(decodeKey(configured, "GANTRY_SECRET_KEY"), "env")).id;
    } catch (error) {
      if (error instanceof SecretKeyError) return `${paint("yellow", "warning:")} ${error.message}; ${what}.`;
      throw error;
    }
    if (given === id) return `GANTRY_SECRET_KEY is the right key (${what}): start the server with it.`;
    return `${paint("yellow", "warning:")} GANTRY_SECRET_KEY is key id ${given}, but ${what}: a server started with it refuses to start. Set the original key.`;
  }
  return [
    `${paint("bold", "The secret key is not in the backup.")} Before starting the server, set GANTRY_SECRET_KEY to the old`,
    `server's key, or copy its <data>/secret-key file to ${dataDir}/secret-key (chmod 600): ${what}.`,
    "Without it the server makes a new key and refuses to start, since it cannot read the stored secrets.",
  ].join("\n");
}

export async function restoreCommand(args: string[]): Promise<number> {
  if (wantsHelp(args)) {
    console.log(RESTORE_USAGE);
    return 0;
  }
  return guard(RESTORE_USAGE, async () => {
    const { values, positionals } = parseArguments(args, { "data-dir": { type: "string" }, check: { type: "boolean" } });
    const [file] = takePositionals(positionals, ["file"]) as [string];
    if (values.check) {
      if (values["data-dir"] !== undefined) throw new UsageError("--check only reads the file: it takes no --data-dir");
      let summary: BackupSummary;
      try {
        summary = await verifyBackup(file);
      } catch (error) {
        if (error instanceof BackupError) throw new CliError(error.message);
        throw error;
      }
      console.log(`${file} checks out: ${contents(summary)}`);
      console.log(`taken at ${formatTime(summary.manifest.createdAt)} from ${summary.manifest.dataDir} (Gantry ${summary.manifest.gantryVersion})`);
      return 0;
    }
    let config;
    try {
      const dataDir = values["data-dir"];
      config = loadConfig({ env: { ...process.env, ...(dataDir !== undefined && { GANTRY_DATA_DIR: resolve(dataDir) }) } });
    } catch (error) {
      if (error instanceof ConfigError) throw new CliError(`configuration error: ${error.message}`);
      throw error;
    }
    const dbPath = databasePath(config.dbUrl);
    let result;
    try {
      result = await restoreBackup({ file, dataDir: config.dataDir, dbPath });
    } catch (error) {
      if (error instanceof BackupError) throw new CliError(error.message);
      throw error;
    }
    console.log(`restored ${file} into ${config.dataDir}: ${contents(result)}`);
    console.log(`taken at ${formatTime(result.manifest.createdAt)} from ${result.manifest.dataDir} (Gantry ${result.manifest.gantryVersion})`);
    console.log();
    console.log(await restoredKeyNote(result.manifest, config.secretKey, config.dataDir));
    console.log("Then start it on this data dir (gantry serve); the tokens of the old server work on it.");
    return 0;
  });
}
