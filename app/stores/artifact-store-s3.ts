// The S3-compatible backend of the artifact store (AWS, MinIO, R2, a test server), through
// Bun's built-in S3 client: blobs are objects under the bucket's prefix. Errors carry the
// backend's code and words, never the credentials.
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { ArtifactStoreError, checkBlobKey, copyToFile, notePut, type ArtifactStore, type BlobInfo } from "./artifact-store.ts";

export interface S3ArtifactStoreOptions {
  bucket: string;
  /** Keys go under it ("" for the bucket's root). */
  prefix: string;
  /** Local folder for temp files. */
  tempDir: string;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

const isMissing = (error: unknown) => {
  const code = (error as { code?: string }).code;
  return code === "NoSuchKey" || code === "NotFound" || (error as { status?: number }).status === 404;
};

export function createS3ArtifactStore(options: S3ArtifactStoreOptions): ArtifactStore {
  const client = new Bun.S3Client({
    bucket: options.bucket,
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.region !== undefined && { region: options.region }),
    ...(options.accessKeyId !== undefined && { accessKeyId: options.accessKeyId }),
    ...(options.secretAccessKey !== undefined && { secretAccessKey: options.secretAccessKey }),
  });
  const location = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ""}`;
  const objectKey = (key: string) => {
    checkBlobKey(key);
    return options.prefix ? `${options.prefix}/${key}` : key;
  };
  /** The backend's failure in words, with where: the secret is never part of either. */
  const failed = (what: string, key: string, error: unknown): ArtifactStoreError => {
    const code = (error as { code?: string }).code;
    return new ArtifactStoreError(`${what} ${location}/${key} failed: ${code ? `${code}: ` : ""}${(error as Error).message}`);
  };
  return {
    location,
    tempFile: (suffix = ".tar") => join(options.tempDir, `${crypto.randomUUID()}${suffix}`),
    async put(key, file) {
      // Noted for the sweep: the object is dated from the upload's start, which may be long ago.
      const stored = notePut(key);
      try {
        await client.write(objectKey(key), Bun.file(file), { type: "application/x-tar" });
      } catch (error) {
        throw failed("storing", key, error);
      } finally {
        stored();
        await rm(file, { force: true });
      }
    },
    async download(key, toFile) {
      const s3file = client.file(objectKey(key));
      try {
        return await copyToFile(s3file.stream(), toFile);
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw failed("reading", key, error);
      }
    },
    async delete(key) {
      try {
        await client.delete(objectKey(key));
      } catch (error) {
        if (isMissing(error)) return;
        throw failed("deleting", key, error);
      }
    },
    async *list(prefix): AsyncGenerator<BlobInfo> {
      const full = options.prefix ? `${options.prefix}/${prefix}` : prefix;
      const strip = options.prefix ? options.prefix.length + 1 : 0;
      let continuationToken: string | undefined;
      do {
        let page: Awaited<ReturnType<typeof client.list>>;
        try {
          page = await client.list({ prefix: full, ...(continuationToken !== undefined && { continuationToken }) });
        } catch (error) {
          throw failed("listing", prefix, error);
        }
        for (const item of page.contents ?? []) {
          yield { key: item.key.slice(strip), size: item.size ?? 0, modifiedAt: item.lastModified ? new Date(item.lastModified) : new Date(0) };
        }
        continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
      } while (continuationToken);
    },
  };
}
