// Symlinks in the object store are never followed out of it: a link planted in place of an
// object's file (to the secret key) or of an object folder (to a folder elsewhere) is refused
// for reads, writes and deletes, and what it points to is neither served, written nor removed.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startWithPipelines, type TestGantry } from "../helpers/gantry.ts";
import { tempDir } from "../helpers/temp.ts";

setDefaultTimeout(60_000);

let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startWithPipelines({
    "store.ts": `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "store", tasks: { a: run(() => {}) } });\n`,
  });
});
afterAll(() => gantry?.stop());

const hashOf = (key: string) => new Bun.CryptoHasher("sha256").update(key).digest("hex");
const folder = () => join(gantry.dataDir, "objects", "default", "store", "pipeline");
const objectUrl = (key: string) => `/pipelines/default/store/objects/${encodeURIComponent(key)}`;

async function put(key: string, body: string): Promise<Response> {
  return gantry.api(objectUrl(key), { method: "PUT", body, headers: { "content-type": "application/octet-stream" } });
}

describe("object store symlinks", () => {
  it("does not serve an object whose file was replaced by a symlink to the secret key", async () => {
    expect((await put("report.txt", "the report")).status).toBe(201);
    const file = join(folder(), hashOf("report.txt"));
    const secretKeyFile = join(gantry.dataDir, "secret-key");
    const key = readFileSync(secretKeyFile, "utf8").trim();
    rmSync(file);
    symlinkSync(secretKeyFile, file);

    const response = await gantry.api(objectUrl("report.txt"));
    const body = await response.text();
    expect(response.status).toBe(500);
    expect(body).not.toContain(key);
    // The link is left for an admin to see; the key file is untouched.
    expect(readFileSync(secretKeyFile, "utf8").trim()).toBe(key);

    // Deleting the object removes the link, never what it points to.
    expect((await gantry.api(objectUrl("report.txt"), { method: "DELETE" })).status).toBe(200);
    expect(existsSync(file)).toBe(false);
    expect(readFileSync(secretKeyFile, "utf8").trim()).toBe(key);
  });

  it("refuses to read, write or delete through a symlinked object folder", async () => {
    expect((await put("data.txt", "inside")).status).toBe(201);
    // The pipeline's folder swapped for a link to a folder elsewhere holding a file of the same name.
    const outside = tempDir("gantry-outside-");
    writeFileSync(join(outside, hashOf("data.txt")), "OUTSIDE CONTENT");
    renameSync(folder(), join(gantry.dataDir, "objects", "default", "store", "moved-away"));
    symlinkSync(outside, folder());

    const read = await gantry.api(objectUrl("data.txt"));
    expect(read.status).toBe(500);
    expect(await read.text()).not.toContain("OUTSIDE CONTENT");

    const write = await put("new.txt", "written through the link");
    expect(write.status).toBe(500);
    expect(readdirSync(outside)).toEqual([hashOf("data.txt")]);

    const removal = await gantry.api(objectUrl("data.txt"), { method: "DELETE" });
    expect(removal.status).toBe(500);
    expect(readFileSync(join(outside, hashOf("data.txt")), "utf8")).toBe("OUTSIDE CONTENT");
  });

  it("still serves objects when the data dir itself is a symlink (kept on another disk)", async () => {
    const real = tempDir("gantry-real-data-");
    const parent = tempDir("gantry-link-");
    // mkdtemp makes it 0700: the sandbox user must pass through it to the bundles, as through /tmp.
    chmodSync(parent, 0o711);
    const linked = join(parent, "data");
    symlinkSync(real, linked);
    const other = await startWithPipelines(
      { "store.ts": `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "store", tasks: { a: run(() => {}) } });\n` },
      { dataDir: linked },
    );
    try {
      const stored = await other.api(objectUrl("kept.txt"), { method: "PUT", body: "kept", headers: { "content-type": "application/octet-stream" } });
      expect(stored.status).toBe(201);
      const read = await other.api(objectUrl("kept.txt"));
      expect(read.status).toBe(200);
      expect(await read.text()).toBe("kept");
      expect(existsSync(join(real, "objects", "default", "store", "pipeline", hashOf("kept.txt")))).toBe(true);
    } finally {
      await other.stop();
    }
  });
});
