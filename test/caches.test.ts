// Caches end to end on a real server: a miss then a save, an exact hit on the next run (not
// saved again), a restore-key prefix hit saved under the new key, hit or miss on each
// execution and the entries in the API; a corrupted entry is never used (the task goes on);
// least recently used entries are evicted past GANTRY_CACHE_MAX_BYTES; two runs saving one
// key at once leave one intact entry.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { webLogin } from "./helpers/web.ts";
import { outputLines, readLog, startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";

setDefaultTimeout(90_000);

const HEADER = `import { definePipeline, run } from "gantry";\nimport { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";\n`;

/** checkout writes the lockfile the key hashes; deps reports what the cache brought, then makes its own. */
const depsPipeline = (id: string, cache: string, extra = "") => `${HEADER}export default definePipeline({ id: "${id}", variables: { LOCK: "a", SIZE: "10", WAIT: "0" }, tasks: {
  checkout: run((ctx) => writeFileSync(ctx.workspace + "/lock.txt", ctx.env.LOCK)),
  deps: run(async (ctx) => {
    const marker = ctx.workspace + "/deps/marker.txt";
    ctx.log("restored", existsSync(marker) ? readFileSync(marker, "utf8") : "nothing");
    await Bun.sleep(Number(ctx.env.WAIT));
    mkdirSync(ctx.workspace + "/deps", { recursive: true });
    writeFileSync(marker, "made with " + ctx.env.LOCK);
    writeFileSync(ctx.workspace + "/deps/blob.bin", crypto.getRandomValues(new Uint8Array(Number(ctx.env.SIZE))));${extra}
  }, { needs: { checkout: "success" }, cache: ${cache} }),
} });\n`;

const PIPELINES: Record<string, string> = {
  "cached.ts": depsPipeline("cached", `{ key: "deps-\${hashFiles('lock.txt')}", paths: ["deps", "missing-dir"], restoreKeys: ["deps-"] }`),
  "sized.ts": depsPipeline("sized", `{ key: "big-\${LOCK}", paths: ["deps"] }`),
  "racing.ts": depsPipeline("racing", `{ key: "same-key", paths: ["deps"] }`),
  "secretive.ts": `${HEADER}import { secret } from "gantry";
export default definePipeline({ id: "secretive", tasks: {
  deps: run((ctx) => { mkdirSync(ctx.workspace + "/deps", { recursive: true }); writeFileSync(ctx.workspace + "/deps/x", "x"); },
    { env: { TOKEN: secret("npm_token") }, cache: { key: "deps-\${TOKEN}", paths: ["deps"] } }),
} });\n`,
};

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);

interface CacheJson {
  key: string;
  size: number;
  sha256: string;
  run: number;
  createdAt: string;
  lastUsedAt: string;
}

const caches = async (pipeline: string) => {
  const response = await api(`/pipelines/${pipeline}/caches`);
  expect(response.status).toBe(200);
  return (await response.json()) as { caches: CacheJson[]; totalBytes: number; maxBytes: number };
};
const finished = async (pipeline: string, variables?: Record<string, string>) => waitForRun(api, pipeline, (await startRun(api, pipeline, variables)).id, 60_000);
const depsOf = (run: RunJson) => run.tasks.find((task) => task.id === "deps")! as RunJson["tasks"][number] & { cache?: Record<string, unknown> };
const restored = async (pipeline: string, run: RunJson) => outputLines(await readLog(api, pipeline, run.id, "deps")).find((line) => line.startsWith("restored "));
const blobs = (pipeline: string) => {
  try {
    return readdirSync(join(gantry.dataDir, "artifacts", "caches", "default", pipeline)).map((name) => join(gantry.dataDir, "artifacts", "caches", "default", pipeline, name));
  } catch {
    return [];
  }
};

beforeAll(async () => {
  // Room for two entries of ~40 KiB, not three.
  gantry = await startWithPipelines(PIPELINES, { env: { GANTRY_CACHE_MAX_BYTES: "100k" } });
});
afterAll(() => gantry?.stop());

describe("a cache", () => {
  it("misses and saves, then hits exactly (not saved again), then restores by a restore key and saves the new key", async () => {
    const first = await finished("default/cached");
    expect(first.state).toBe("successful");
    expect(await restored("default/cached", first)).toBe("restored nothing");
    const key = depsOf(first).cache!.key as string;
    expect(key).toMatch(/^deps-[0-9a-f]{64}$/);
    expect(depsOf(first).cache).toEqual({ key, hit: "miss", saved: true });
    const firstLog = await readLog(api, "default/cached", first.id, "deps");
    expect(firstLog).toContain(`cache miss: ${key}`);
    expect(firstLog).toContain("cache: missing-dir does not exist in the workspace; not saved");
    expect(firstLog).toContain(`cache saved: ${key}`);

    const listed = await caches("default/cached");
    expect(listed.caches.map((entry) => entry.key)).toEqual([key]);
    expect(listed.caches[0]!.size).toBeGreaterThan(0);
    expect(listed.caches[0]!.run).toBe(first.id);
    expect(listed.maxBytes).toBe(100 * 1024);
    const usedBefore = listed.caches[0]!.lastUsedAt;

    const second = await finished("default/cached");
    expect(await restored("default/cached", second)).toBe("restored made with a");
    expect(depsOf(second).cache).toEqual({ key, hit: "exact" });
    expect(await readLog(api, "default/cached", second.id, "deps")).toContain(`cache hit: ${key}`);
    const afterHit = await caches("default/cached");
    expect(afterHit.caches).toHaveLength(1);
    expect(afterHit.caches[0]!.sha256).toBe(listed.caches[0]!.sha256);
    expect(Date.parse(afterHit.caches[0]!.lastUsedAt)).toBeGreaterThan(Date.parse(usedBefore));

    const third = await finished("default/cached", { LOCK: "b" });
    const cache = depsOf(third).cache!;
    expect(cache.hit).toBe("prefix");
    expect(cache.restoredKey).toBe(key);
    expect(cache.saved).toBe(true);
    expect(cache.key).not.toBe(key);
    expect(await restored("default/cached", third)).toBe("restored made with a");
    expect((await caches("default/cached")).caches.map((entry) => entry.key).sort()).toEqual([key, cache.key as string].sort());
  });

  it("never uses a corrupted entry, and the task goes on", async () => {
    for (const blob of blobs("cached")) {
      const bytes = readFileSync(blob);
      bytes[600] = bytes[600]! ^ 0x01;
      writeFileSync(blob, bytes);
    }
    const run = await finished("default/cached");
    expect(run.state).toBe("successful");
    expect(await restored("default/cached", run)).toBe("restored nothing");
    const cache = depsOf(run).cache!;
    expect(cache.hit).toBe("miss");
    expect(cache.error).toContain("is corrupted");
    expect(cache.saved).toBe(true);
    expect(await readLog(api, "default/cached", run.id, "deps")).toMatch(/cache miss: deps-[0-9a-f]+ \(the entry deps-[0-9a-f]+ is corrupted \(its sha256 is/);
    // Saved afresh: the next run hits it.
    const next = await finished("default/cached");
    expect(depsOf(next).cache).toMatchObject({ hit: "exact" });
    expect(await restored("default/cached", next)).toBe("restored made with a");
  });

  it("evicts the least recently used entries past GANTRY_CACHE_MAX_BYTES", async () => {
    const size = { SIZE: String(40 * 1024) };
    await finished("default/sized", { ...size, LOCK: "one" });
    await finished("default/sized", { ...size, LOCK: "two" });
    // "one" is used again, so "two" is now the least recently used.
    expect(depsOf(await finished("default/sized", { ...size, LOCK: "one" })).cache).toMatchObject({ hit: "exact" });
    const third = await finished("default/sized", { ...size, LOCK: "three" });
    expect(await readLog(api, "default/sized", third.id, "deps")).toMatch(/cache: evicted big-two \([\d.]+ KiB, least recently used\)/);
    const listed = await caches("default/sized");
    expect(listed.caches.map((entry) => entry.key).sort()).toEqual(["big-one", "big-three"]);
    expect(listed.totalBytes).toBeLessThanOrEqual(100 * 1024);
    expect(blobs("sized")).toHaveLength(2);
    // An entry bigger than the whole limit is not kept.
    const huge = await finished("default/sized", { SIZE: String(200 * 1024), LOCK: "huge" });
    expect(huge.state).toBe("successful");
    expect(depsOf(huge).cache).toMatchObject({ hit: "miss", saved: false });
    expect(await readLog(api, "default/sized", huge.id, "deps")).toContain("more than a pipeline's caches may hold");
  });

  it("keeps one intact entry when two runs save the same key at once", async () => {
    const [a, b] = await Promise.all([startRun(api, "default/racing", { WAIT: "1500", LOCK: "a" }), startRun(api, "default/racing", { WAIT: "1500", LOCK: "b" })]);
    const runs = await Promise.all([waitForRun(api, "default/racing", a.id, 60_000), waitForRun(api, "default/racing", b.id, 60_000)]);
    for (const run of runs) expect(depsOf(run).cache).toMatchObject({ key: "same-key", hit: "miss", saved: true });
    const listed = await caches("default/racing");
    expect(listed.caches).toHaveLength(1);
    expect(blobs("racing")).toHaveLength(1);
    const kept = await finished("default/racing");
    expect(depsOf(kept).cache).toMatchObject({ hit: "exact" });
    expect(["restored made with a", "restored made with b"]).toContain((await restored("default/racing", kept))!);
  });

  it("shows the pipeline's caches on its page and each task's hit or miss on the run page", async () => {
    const web = await webLogin(gantry.url, gantry.token);
    const page = await (await web.get("/pipelines/default/cached")).text();
    expect(page).toContain('<h2 id="caches">Caches</h2>');
    const { caches: entries } = await caches("default/cached");
    for (const entry of entries) expect(page).toContain(`<code>${entry.key}</code>`);
    expect(page).toContain("of 100 KiB");
    const run = await (await web.get("/pipelines/default/cached/runs/2")).text();
    expect(run).toMatch(/<td>deps<\/td><td><code>deps-[0-9a-f]{64}<\/code><\/td><td class="cache-exact"[^>]*>hit<\/td>/);
    const first = await (await web.get("/pipelines/default/cached/runs/1")).text();
    expect(first).toContain(">miss, saved</td>");
  });

  it("never stores a secret's value in a key: it is stored as its hash", async () => {
    expect((await api("/pipelines/default/secretive/secrets/npm_token", { method: "PUT", body: JSON.stringify({ value: "npm-token-value-1234" }) })).status).toBe(201);
    const run = await finished("default/secretive");
    expect(run.state).toBe("successful");
    const listed = await caches("default/secretive");
    expect(listed.caches).toHaveLength(1);
    expect(listed.caches[0]!.key).toMatch(/^deps-sha256:[0-9a-f]{12}$/);
    expect(JSON.stringify(await (await api("/pipelines/default/secretive/runs/" + run.id)).json())).not.toContain("npm-token-value-1234");
  });

  it("needs pipelines:read to list a pipeline's caches", async () => {
    await api("/roles/runs-only", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "runs", target: ".*", actions: ["read"] }] }) });
    const { secret } = (await (await api("/tokens", { method: "POST", body: JSON.stringify({ name: "runs-only", roles: ["runs-only"] }) })).json()) as { secret: string };
    const response = await fetch(`${gantry.url}/api/v1/pipelines/default/cached/caches`, { headers: { authorization: `Bearer ${secret}` } });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain("pipelines:read on default/cached");
  });
});
