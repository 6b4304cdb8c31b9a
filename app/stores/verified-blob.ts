// Reads a blob of the artifact store only once its bytes are known to be the ones stored:
// copied into a private temp file and hashed, then compared with the sha256 of its row. A
// mismatch is an error; the bytes are never handed on (to a task, or to a download).
import { open, rm, unlink } from "node:fs/promises";
import type { ArtifactStore } from "./artifact-store.ts";

/** The blob's bytes are not the ones its row records (damaged, or changed behind the server's back). */
export class CorruptBlobError extends Error {
  override name = "CorruptBlobError";
}

/** A row refers to a blob the store does not have. */
export class MissingBlobError extends Error {
  override name = "MissingBlobError";
}

/** Downloads the blob to a temp file and checks its sha256; returns the file (the caller removes it). */
export async function fetchVerified(store: ArtifactStore, storageKey: string, sha256: string): Promise<{ file: string; size: number }> {
  const file = store.tempFile();
  try {
    const got = await store.download(storageKey, file);
    if (!got) throw new MissingBlobError(`its bytes are missing from the store (${store.location})`);
    if (got.sha256 !== sha256) throw new CorruptBlobError(`its sha256 is ${got.sha256}, not the ${sha256} recorded when it was stored`);
    return { file, size: got.size };
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}

/**
 * A stream of a temp file that is removed at once (the open descriptor keeps its bytes until
 * the stream ends or is cancelled), so a download cut short leaves nothing behind.
 */
export async function streamOnce(file: string): Promise<{ size: number; stream: ReadableStream<Uint8Array> }> {
  const handle = await open(file, "r");
  const { size } = await handle.stat();
  await unlink(file);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close().catch(() => undefined);
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const buffer = new Uint8Array(1 << 20);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) {
          await close();
          controller.close();
        } else controller.enqueue(buffer.subarray(0, bytesRead));
      } catch (error) {
        await close();
        controller.error(error);
      }
    },
    cancel: close,
  });
  return { size, stream };
}
