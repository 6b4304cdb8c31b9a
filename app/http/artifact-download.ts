// An artifact's tar as a download (API and web): its bytes are checked against the sha256 of
// its row first, and a mismatch is a 409 saying the artifact is corrupted, never the bytes.
import { getArtifact } from "../db/repos/artifacts.ts";
import { requireRunExists } from "../db/repos/runs.ts";
import type { Deps } from "../deps.ts";
import { ConflictError, NotFoundError } from "../domain/errors.ts";
import type { RunKey } from "../domain/run-key.ts";
import { fetchVerified, streamOnce } from "../stores/verified-blob.ts";

export async function artifactDownload(deps: Deps, key: RunKey, name: string): Promise<Response> {
  await requireRunExists(deps.db, key);
  const row = await getArtifact(deps.db, key, name);
  if (!row) throw new NotFoundError(`artifact "${name}" of run ${key.run} does not exist`);
  let file: string;
  try {
    ({ file } = await fetchVerified(deps.artifactStore, row.storageKey, row.sha256));
  } catch (error) {
    const kind = (error as Error).name;
    if (kind === "CorruptBlobError") throw new ConflictError(`artifact "${name}" of run ${key.run} is corrupted: ${(error as Error).message}; it is not served`);
    if (kind === "MissingBlobError") throw new ConflictError(`artifact "${name}" of run ${key.run} is unavailable: ${(error as Error).message}`);
    throw error;
  }
  const { size, stream } = await streamOnce(file);
  return new Response(stream, {
    headers: {
      "content-type": "application/x-tar",
      "content-length": String(size),
      "content-disposition": `attachment; filename="${name}.tar"`,
      "x-checksum-sha256": row.sha256,
      digest: `sha-256=${Buffer.from(row.sha256, "hex").toString("base64")}`,
      etag: `"${row.sha256}"`,
      "cache-control": "private, no-store",
    },
  });
}
