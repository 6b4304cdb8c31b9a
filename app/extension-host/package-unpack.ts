// Unpacks an extension's npm tarball (.tgz) into a folder of its own: files and folders only
// (readTar refuses links and devices), no path out of the package, within size and count caps
// that hold against a gzip bomb too.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ValidationError } from "../domain/errors.ts";
import { readTar, TarError } from "../stores/tar.ts";

const MAX_UNPACKED_BYTES = 50 * 1024 * 1024;
/** Files and folders together: each costs an inode and a system call. */
const MAX_ENTRIES = 2_000;

/** A path inside the package: the tarball's top folder ("package/") stripped; refused if it leads outside. */
function packagePath(path: string): string | undefined {
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (path.startsWith("/") || path.includes("\\") || parts.includes("..") || parts.some((part) => part.includes("\0"))) {
    throw new ValidationError(`the tarball holds an unsafe path: ${JSON.stringify(path)}`);
  }
  const inner = parts.slice(1);
  return inner.length === 0 ? undefined : inner.join("/");
}

/** An entry's path for a message: a very long one cut short. */
const shown = (path: string) => (path.length <= 200 ? JSON.stringify(path) : `${JSON.stringify(`${path.slice(0, 100)}...`)} (${path.length} characters)`);

/**
 * What a file system refusal means for the tarball: entries that clash (a file and a folder
 * at one path, a path twice, a path beneath a file) or a path longer than the system allows.
 * Those are the package's fault, so a ValidationError naming the entry; anything else is not.
 */
function entryRefusal(error: unknown, label: string, path: string, step: "folder" | "parent" | "file"): unknown {
  const entry = `${label}: the tarball's entry ${shown(path)}`;
  switch ((error as NodeJS.ErrnoException).code) {
    case "ENAMETOOLONG":
      return new ValidationError(`${entry} has a path too long to unpack`);
    case "ENOTDIR":
      return new ValidationError(`${entry} lies beneath a file an earlier entry put there`);
    case "EISDIR":
      return new ValidationError(`${entry} is a file where an earlier entry put a folder`);
    case "EEXIST":
      // mkdir meets a file: a folder wanted where one is; open(wx) meets anything: the path twice.
      if (step === "file") return new ValidationError(`${label}: the tarball holds a path twice (${shown(path)})`);
      return new ValidationError(step === "folder" ? `${entry} is a folder where an earlier entry put a file` : `${entry} lies beneath a file an earlier entry put there`);
    default:
      return error;
  }
}

/** Unpacks a .tgz into `target` (which must not exist): files and folders only, within the caps. */
export async function unpackPackage(tarball: Uint8Array, target: string, label: string): Promise<void> {
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
  let entries = 0;
  let bytes = 0;
  /** One file system step for the entry at `path`, its refusal said in the package's terms. */
  const step = <T>(path: string, kind: "folder" | "parent" | "file", work: () => T): T => {
    try {
      return work();
    } catch (error) {
      throw entryRefusal(error, label, path, kind);
    }
  };
  try {
    // readTar refuses symlinks, hard links and devices: only files and folders come out.
    for await (const entry of readTar(stream)) {
      const path = packagePath(entry.path);
      if (path === undefined) continue;
      if (++entries > MAX_ENTRIES) throw new ValidationError(`${label}: the package holds more than ${MAX_ENTRIES} files and folders`);
      const destination = join(target, path);
      if (entry.type === "directory") {
        step(entry.path, "folder", () => mkdirSync(destination, { recursive: true, mode: 0o755 }));
        continue;
      }
      bytes += entry.size;
      if (bytes > MAX_UNPACKED_BYTES) throw new ValidationError(`${label}: the unpacked package is larger than ${MAX_UNPACKED_BYTES} bytes`);
      step(entry.path, "parent", () => mkdirSync(dirname(destination), { recursive: true, mode: 0o755 }));
      const chunks: Uint8Array[] = [];
      for await (const chunk of entry.read()) chunks.push(chunk);
      // A repeated path would replace the earlier file: refuse it (flag "wx"), as npm's packer never writes one.
      step(entry.path, "file", () => writeFileSync(destination, Buffer.concat(chunks), { mode: 0o644, flag: "wx" }));
    }
  } catch (error) {
    if (error instanceof TarError) throw new ValidationError(`${label}: the tarball is not a valid package (${error.message})`);
    if (error instanceof TypeError || (error as Error).name === "ZlibError") throw new ValidationError(`${label}: the tarball is not gzip (${(error as Error).message})`);
    throw error;
  }
}
