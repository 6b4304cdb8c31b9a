// The S3 backend of the artifact store against a real S3-compatible server (s3rver on
// 127.0.0.1, its files in a temp folder): artifacts and caches go to the bucket under the
// prefix, nothing but temp space to the data dir; downloads are verified; a blob changed in
// the bucket is refused; the sweep removes blobs no row refers to; a bad setting is named.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import S3rver from "s3rver";
import { ConfigError, loadConfig } from "../app/config.ts";
import { createArtifactStore } from "../app/stores/artifact-store.ts";
import { outputLines, readLog, startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { tempDir } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const BUCKET = "gantry-artifacts";
const PREFIX = "ci/store";
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

const HEADER = `import { definePipeline, run } from "gantry";\nimport { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";\n`;
const PIPELINES = {
  "bucket.ts": `${HEADER}export default definePipeline({ id: "bucket", variables: { STAMP: "one" }, tasks: {
    make: run((ctx) => {
      mkdirSync(ctx.workspace + "/build/dist", { recursive: true });
      writeFileSync(ctx.workspace + "/build/dist/app.js", "app " + ctx.env.STAMP);
      const marker = ctx.workspace + "/deps/marker.txt";
      ctx.log("restored", existsSync(marker) ? readFileSync(marker, "utf8") : "nothing");
      mkdirSync(ctx.workspace + "/deps", { recursive: true });
      writeFileSync(marker, "deps " + ctx.env.STAMP);
    }, { artifacts: { out: { dist: "build/dist" } }, cache: { key: "deps-v1", paths: ["deps"] } }),
    wipe: run((ctx) => rmSync(ctx.workspace + "/build", { recursive: true, force: true }), { needs: { make: "success" } }),
    use: run((ctx) => ctx.log("app", readFileSync(ctx.workspace + "/build/dist/app.js", "utf8")), { needs: { wipe: "success" }, artifacts: { in: { dist: "make" } } }),
  } });\n`,
};

let s3: S3rver;
let endpoint: string;
let client: Bun.S3Client;
let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const finished = async (variables?: Record<string, string>) => waitForRun(api, "default/bucket", (await startRun(api, "default/bucket", variables)).id, 30_000);
const keysIn = async (prefix: string) => ((await client.list({ prefix })).contents ?? []).map((item) => item.key);
const task = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)! as RunJson["tasks"][number] & { cache?: Record<string, unknown> };

beforeAll(async () => {
  s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: tempDir("gantry-s3rver-"), configureBuckets: [{ name: BUCKET, configs: [] }] });
  const { port } = await s3.run();
  endpoint = `http://127.0.0.1:${port}`;
  client = new Bun.S3Client({ endpoint, bucket: BUCKET, region: "us-east-1", ...CREDENTIALS });
  gantry = await startWithPipelines(PIPELINES, {
    env: {
      GANTRY_ARTIFACTS_URL: `s3://${BUCKET}/${PREFIX}`,
      GANTRY_ARTIFACTS_S3_ENDPOINT: endpoint,
      GANTRY_ARTIFACTS_S3_REGION: "us-east-1",
      GANTRY_ARTIFACTS_S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      GANTRY_ARTIFACTS_S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
  });
});
afterAll(async () => {
  await gantry?.stop();
  await s3?.close();
});

describe("the S3 backend", () => {
  it("stores artifacts and caches in the bucket, reads them back verified, and keeps none in the data dir", async () => {
    const first = await finished();
    expect(first.state).toBe("successful");
    expect(outputLines(await readLog(api, "default/bucket", first.id, "use"))).toEqual(["app app one"]);
    expect(task(first, "make").cache).toEqual({ key: "deps-v1", hit: "miss", saved: true });

    const artifactKeys = await keysIn(`${PREFIX}/runs/default/bucket/${first.id}/`);
    expect(artifactKeys).toHaveLength(1);
    expect(artifactKeys[0]).toMatch(new RegExp(`^${PREFIX}/runs/default/bucket/${first.id}/dist-[0-9a-f-]+\\.tar$`));
    expect(await keysIn(`${PREFIX}/caches/default/bucket/`)).toHaveLength(1);
    // Only the temp folder (empty) is in the data dir's artifacts folder.
    expect(readdirSync(join(gantry.dataDir, "artifacts"))).toEqual([".tmp"]);
    expect(readdirSync(join(gantry.dataDir, "artifacts", ".tmp"))).toEqual([]);

    const { artifacts } = (await (await api(`/pipelines/default/bucket/runs/${first.id}/artifacts`)).json()) as { artifacts: { name: string; size: number; sha256: string }[] };
    expect(artifacts.map((artifact) => artifact.name)).toEqual(["dist"]);
    const download = await api(`/pipelines/default/bucket/runs/${first.id}/artifacts/dist`);
    expect(download.status).toBe(200);
    const bytes = new Uint8Array(await download.arrayBuffer());
    expect(bytes.length).toBe(artifacts[0]!.size);
    expect(new Bun.CryptoHasher("sha256").update(bytes).digest("hex")).toBe(artifacts[0]!.sha256);

    const second = await finished({ STAMP: "two" });
    expect(task(second, "make").cache).toEqual({ key: "deps-v1", hit: "exact" });
    expect(outputLines(await readLog(api, "default/bucket", second.id, "make"))).toEqual(["restored deps one"]);
  });

  it("refuses a blob changed in the bucket", async () => {
    const [key] = await keysIn(`${PREFIX}/runs/default/bucket/1/`);
    await client.write(key!, "not the tar that was stored");
    const download = await api("/pipelines/default/bucket/runs/1/artifacts/dist");
    expect(download.status).toBe(409);
    expect(((await download.json()) as { error: { message: string } }).error.message).toStartWith('artifact "dist" of run 1 is corrupted: its sha256 is ');
  });

  it("sweeps blobs no row refers to, after their grace period", async () => {
    const store = createArtifactStore(gantry.deps.config);
    await client.write(`${PREFIX}/runs/default/bucket/77/orphan-1.tar`, "left by a deleted run");
    await client.write(`${PREFIX}/caches/default/bucket/orphan.tar`, "left by a crash");
    const { pruneArtifactBlobs } = await import("../app/engine/artifact-pruning.ts");
    // Within the grace period nothing goes; an hour on, the two orphans do and nothing else.
    expect(await pruneArtifactBlobs({ db: gantry.deps.db, store })).toBe(0);
    expect(await pruneArtifactBlobs({ db: gantry.deps.db, store, now: () => new Date(Date.now() + 2 * 3_600_000) })).toBe(2);
    expect(await keysIn(`${PREFIX}/runs/default/bucket/77/`)).toEqual([]);
    expect(await keysIn(`${PREFIX}/caches/`)).toHaveLength(1);
    expect(await keysIn(`${PREFIX}/runs/default/bucket/`)).toHaveLength(2);
  });

  it("names a bad bucket URL, and never repeats the secret key in an error", () => {
    const load = (env: Record<string, string>) => () => loadConfig({ env, cwd: tempDir("gantry-config-") });
    expect(load({ GANTRY_ARTIFACTS_URL: "http://bucket/x" })).toThrow(ConfigError);
    expect(load({ GANTRY_ARTIFACTS_URL: "s3://b/../x" })).toThrow("GANTRY_ARTIFACTS_URL");
    expect(load({ GANTRY_ARTIFACTS_URL: "s3://gantry-artifacts/ci" })).not.toThrow();
    expect(load({ GANTRY_ARTIFACTS_S3_ENDPOINT: "not a url" })).toThrow("GANTRY_ARTIFACTS_S3_ENDPOINT: must be a URL");
    const store = createArtifactStore({ ...gantry.deps.config, artifactsUrl: `s3://${BUCKET}/${PREFIX}` });
    expect(store.location).toBe(`s3://${BUCKET}/${PREFIX}`);
    expect(JSON.stringify(store)).not.toContain(CREDENTIALS.secretAccessKey);
  });
});
