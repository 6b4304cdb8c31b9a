// Unpacks an extension's npm tarball (.tgz) into a folder of its own: files and folders only
// (readTar refuses links and devices), no path out of the package, within size and count caps
// that hold against a gzip bomb too.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ValidationError } from "../domain/errors.ts";
import { readTar, TarError } from "../stores/tar.ts";

const MAX_UNPACKED_BYTES = 50 * 1024 * 1024;
const MAX_FILES = 2_000;

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
