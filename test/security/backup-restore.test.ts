// Nothing is lost when a disk goes: `gantry backup` takes a backup from a running server
// (through the API, as a child process), the old data dir is deleted, `gantry restore` fills a
// new one, and a server started there with the same key has the secret, the old run's log,
// the object, and runs the pipeline again. A restore refuses a non-empty dir, and a damaged
// archive leaves the target untouched. The archive never holds the secret key or a symlink's target.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { loadConfig } from "../../app/config.ts";
import { startGantry, type RunningGantry } from "../../app/start.ts";
import { readTar, TAR_END, tarHeader, tarPadding } from "../../app/stores/tar.ts";
import { readLog, startRun, startWithPipelines, testConfigOptions, waitForRun, type TestGantry } from "../helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(120_000);

const SECRET_KEY = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const SECRET_VALUE = "keeper-secret-value-42";
/** What the task logs of the secret: its hash (the value itself is masked, and must not be in the pipeline file). */
const SECRET_HASH = new Bun.CryptoHasher("sha256").update(SECRET_VALUE).digest("hex");
const OUTSIDE_TEXT = "OUTSIDE-THE-DATA-DIR-do-not-back-up";

const PIPELINE = `
import { definePipeline, run, secret } from "gantry";
export default definePipeline({
  id: "keeper",
  tasks: {
    work: run(async (ctx) => {
      ctx.log("secret sha256: " + new Bun.CryptoHasher("sha256").update(ctx.env.TOKEN ?? "").digest("hex"));
      ctx.log("hello from run " + ctx.env.GANTRY_RUN_ID);
      await ctx.objects.put("report.txt", "report of run " + ctx.env.GANTRY_RUN_ID);
    }, { env: { TOKEN: secret("keeper_token") } }),
  },
});
`;

interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `gantry <args>` from source, as a user would. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, "app", "main.ts"), ...args], {
    cwd: tempDir("gantry-cli-cwd-"),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir("gantry-home-"), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

let original: TestGantry;
let originalStopped = false;
let pipelinesDir: string;
let archive: string;
let backupResult: CliResult;
const outsideDir = tempDir("gantry-outside-");

beforeAll(async () => {
  original = await startWithPipelines({ "keeper.ts": PIPELINE }, { env: { GANTRY_SECRET_KEY: SECRET_KEY } });
  pipelinesDir = original.pipelinesDir;
  const put = await original.api("/secrets/keeper_token", { method: "PUT", body: JSON.stringify({ value: SECRET_VALUE }) });
  expect(put.status).toBe(201);
  const run = await waitForRun(original.api, "default/keeper", (await startRun(original.api, "default/keeper")).id);
  expect(run.state).toBe("successful");
  expect(await readLog(original.api, "default/keeper", 1, "work")).toContain(`secret sha256: ${SECRET_HASH}`);

  // Planted by someone with access to the data dir: links out of it, which a backup must not follow.
  const outside = writeFile(join(outsideDir, "private.txt"), OUTSIDE_TEXT);
  symlinkSync(outside, join(original.dataDir, "objects", "default", "keeper", "pipeline", "planted"));
  symlinkSync(outsideDir, join(original.dataDir, "logs", "default", "keeper", "linked-folder"));

  archive = join(tempDir("gantry-backups-"), "gantry.tar.gz");
  // Taken while the server runs, through its API.
  backupResult = await cli(["backup", archive], { GANTRY_URL: original.url, GANTRY_TOKEN: original.token });
});

afterAll(async () => {
  if (!originalStopped) await original?.stop();
});

describe("gantry backup", () => {
  it("writes a checked archive from the running server and says the secret key is not in it", () => {
    expect(backupResult.stderr).toBe("");
    expect(backupResult.exitCode).toBe(0);
    expect(backupResult.stdout).toContain(`wrote ${archive}`);
    expect(backupResult.stdout).toMatch(/1 log file, 1 object, 1 pipeline bundle; checked/);
    expect(backupResult.stdout).toContain("The secret key is NOT in this backup");
    expect(backupResult.stdout).toContain("GANTRY_SECRET_KEY on the server");
    expect(backupResult.stdout).toMatch(/1 secret was encrypted with key id [0-9a-f]{12}/);
    expect(existsSync(`${archive}.partial`)).toBe(false);
  });

  it("holds the database, logs, objects and bundles, and neither keys, tokens nor what symlinks point to", async () => {
    const entries: string[] = [];
    const contents: string[] = [];
    const decoder = new TextDecoder();
    for await (const entry of readTar([gunzipSync(readFileSync(archive))])) {
      entries.push(entry.path);
      for await (const chunk of entry.read()) contents.push(decoder.decode(chunk));
    }
    expect(entries[0]).toBe("gantry-backup.json");
    expect(entries.at(-1)).toBe("gantry-backup.sha256");
    expect(entries).toContain("gantry.db");
    expect(entries).toContain("logs/default/keeper/1/work.log");
    expect(entries.some((path) => path.startsWith("objects/default/keeper/pipeline/"))).toBe(true);
    expect(entries.some((path) => path.startsWith("bundles/"))).toBe(true);
    expect(entries.filter((path) => /secret-key|session-key|bootstrap-token|node-id|planted|linked-folder|workspaces/.test(path))).toEqual([]);
    const everything = contents.join("");
    expect(everything).not.toContain(OUTSIDE_TEXT);
    expect(everything).not.toContain(original.token);
    expect(everything).not.toContain(SECRET_VALUE);
  });

  it("makes one backup at a time", async () => {
    const [first, second] = await Promise.all([original.api("/system/backup"), original.api("/system/backup")]);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual([200, 409]);
    const refused = first.status === 409 ? first : second;
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("a backup is being made already");
    await (first.status === 200 ? first : second).arrayBuffer();
    // Once it is done, the next one may start.
    const after = await original.api("/system/backup");
    expect(after.status).toBe(200);
    await after.arrayBuffer();
  });

  it("answers 403 to a token that may run the system but not make backups", async () => {
    // Pausing and resuming runs is not enough: a backup hands out every log, object and encrypted secret.
    const role = await original.api("/roles/reader", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "system", target: ".*", actions: ["read", "write"] }] }),
    });
    expect(role.status).toBeOneOf([200, 201]);
    const created = await original.api("/tokens", { method: "POST", body: JSON.stringify({ name: "reader", roles: ["reader"] }) });
    const { secret } = (await created.json()) as { secret: string };
    const target = join(tempDir("gantry-backups-"), "denied.tar.gz");
    const denied = await cli(["backup", target], { GANTRY_URL: original.url, GANTRY_TOKEN: secret });
    expect(denied.exitCode).toBe(2);
    expect(denied.stderr).toContain("backups:write");
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.partial`)).toBe(false);
  });
});

describe("gantry restore", () => {
  let restored: RunningGantry | undefined;
  afterAll(async () => {
    await restored?.stop({ cancelRuns: true });
  });

  it("brings everything back into a new data dir after the old one is gone", async () => {
    await original.stop();
    originalStopped = true;
    // The disk is lost: nothing of the old data dir is left to lean on (bundle paths included).
    rmSync(original.dataDir, { recursive: true, force: true });

    const parent = tempDir("gantry-restore-");
    // mkdtemp makes it 0700: the sandbox user must pass through it to its bundle, as through /tmp.
    chmodSync(parent, 0o711);
    const dataDir = join(parent, "data");
    const result = await cli(["restore", archive, "--data-dir", dataDir], { GANTRY_SECRET_KEY: SECRET_KEY });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`restored ${archive} into ${dataDir}`);
    expect(result.stdout).toContain("GANTRY_SECRET_KEY is the right key");
    expect(readdirSync(dirname(dataDir))).toEqual(["data"]);

    restored = await startGantry(loadConfig(testConfigOptions(dataDir, pipelinesDir, { GANTRY_SECRET_KEY: SECRET_KEY })));
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${restored!.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${original.token}`, "content-type": "application/json" } });

    // The old run and its log.
    const oldRun = (await (await api("/pipelines/default/keeper/runs/1")).json()) as { run: { state: string } };
    expect(oldRun.run.state).toBe("successful");
    const oldLog = await readLog(api, "default/keeper", 1, "work");
    expect(oldLog).toContain("hello from run 1");
    expect(oldLog).toContain(`secret sha256: ${SECRET_HASH}`);
    // The object it wrote.
    const object = await api("/pipelines/default/keeper/objects/report.txt");
    expect(object.status).toBe(200);
    expect(await object.text()).toBe("report of run 1");
    // The secret, readable with the same key: a new run gets its value.
    const secrets = (await (await api("/secrets")).json()) as { secrets: { name: string }[] };
    expect(secrets.secrets.map((secret) => secret.name)).toContain("keeper_token");
    const second = await waitForRun(api, "default/keeper", (await startRun(api, "default/keeper")).id);
    expect(second.id).toBe(2);
    expect(second.state, await readLog(api, "default/keeper", 2, "work")).toBe("successful");
    expect(await readLog(api, "default/keeper", 2, "work")).toContain(`secret sha256: ${SECRET_HASH}`);
    expect(await (await api("/pipelines/default/keeper/objects/report.txt")).text()).toBe("report of run 2");
    // A re-run executes the stored version's bundle, now under the new data dir.
    const rerun = await api("/pipelines/default/keeper/runs/1/rerun", { method: "POST", body: "{}" });
    expect(rerun.status).toBe(201);
    const rerunJson = ((await rerun.json()) as { run: { id: number } }).run;
    expect((await waitForRun(api, "default/keeper", rerunJson.id)).state).toBe("successful");
  });

  it("refuses a data dir that is not empty, and changes nothing in it", async () => {
    const dataDir = tempDir("gantry-occupied-");
    writeFileSync(join(dataDir, "keep.txt"), "mine");
    const result = await cli(["restore", archive, "--data-dir", dataDir]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`refusing to restore into ${dataDir}: it is not empty (keep.txt)`);
    expect(readdirSync(dataDir)).toEqual(["keep.txt"]);
    expect(readFileSync(join(dataDir, "keep.txt"), "utf8")).toBe("mine");
  });

  it("refuses a truncated or corrupt archive, leaving the target untouched", async () => {
    const bytes = readFileSync(archive);
    const folder = tempDir("gantry-damaged-");
    const truncated = join(folder, "truncated.tar.gz");
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const corrupt = join(folder, "corrupt.tar.gz");
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    writeFileSync(corrupt, flipped);
    const notGzip = writeFile(join(folder, "notes.tar.gz"), "just some text");

    for (const file of [truncated, corrupt, notGzip]) {
      // An empty folder that exists, and one that does not yet: both stay as they were.
      const parent = tempDir("gantry-target-");
      const empty = join(parent, "empty");
      mkdirSync(empty);
      const absent = join(parent, "absent");
      for (const dataDir of [empty, absent]) {
        const result = await cli(["restore", file, "--data-dir", dataDir]);
        expect(result.exitCode, file).toBe(2);
        expect(result.stderr, file).toMatch(/damaged|not a whole gzip file|does not check out/);
        expect(result.stderr, file).toContain("nothing was restored");
        expect(readdirSync(parent).sort(), file).toEqual(["empty"]);
        expect(readdirSync(empty), file).toEqual([]);
      }
      const check = await cli(["restore", "--check", file]);
      expect(check.exitCode, file).toBe(2);
    }
    const good = await cli(["restore", "--check", archive]);
    expect(good.exitCode).toBe(0);
    expect(good.stdout).toContain("checks out");
  });

  it("refuses an archive that tries to write outside the data dir or holds links", async () => {
    const folder = tempDir("gantry-evil-");
    // A valid manifest (the real one), then an entry a backup never holds.
    const manifest = new TextEncoder().encode(
      JSON.stringify({
        format: "gantry-backup",
        version: 1,
        gantryVersion: "0.1.0",
        createdAt: new Date().toISOString(),
        dataDir: "/nowhere",
        database: "gantry.db",
        folders: ["logs"],
        secretKey: { id: "000000000000", source: "file", secrets: 0 },
      }),
    );
    const evil = (path: string) => {
      const body = new TextEncoder().encode("evil");
      const parts = [
        tarHeader({ path: "gantry-backup.json", type: "file", size: manifest.length, mode: 0o600, mtime: new Date() }),
        manifest,
        tarPadding(manifest.length),
        tarHeader({ path, type: "file", size: body.length, mode: 0o600, mtime: new Date() }),
        body,
        tarPadding(body.length),
        TAR_END,
      ];
      return Bun.gzipSync(Buffer.concat(parts));
    };
    const cases: Record<string, [Uint8Array, string]> = {
      "escape.tar.gz": [evil("logs/../../outside.txt"), 'path segment ".."'],
      "absolute.tar.gz": [evil("/etc/evil.txt"), "is not in logs, objects, bundles"],
      "stray.tar.gz": [evil("secret-key"), "is not in logs, objects, bundles"],
    };
    // A symlink entry, made by GNU tar as a hand-crafted archive would.
    const source = tempDir("gantry-evil-source-");
    writeFileSync(join(source, "gantry-backup.json"), manifest);
    mkdirSync(join(source, "logs"));
    symlinkSync("/etc/passwd", join(source, "logs", "passwd"));
    const linked = join(folder, "link.tar.gz");
    expect(Bun.spawnSync(["tar", "-czf", linked, "-C", source, "gantry-backup.json", "logs/passwd"]).exitCode).toBe(0);
    cases["link.tar.gz"] = [readFileSync(linked), "logs/passwd is a symlink"];
    for (const [name, [bytes, reason]] of Object.entries(cases)) {
      const file = join(folder, name);
      writeFileSync(file, bytes);
      const parent = tempDir("gantry-target-");
      const result = await cli(["restore", file, "--data-dir", join(parent, "data")]);
      expect(result.exitCode, name).toBe(2);
      expect(result.stderr, name).toContain(reason);
      expect(result.stderr, name).toContain("nothing was restored");
      expect(readdirSync(parent), name).toEqual([]);
    }
    expect(existsSync(join(folder, "..", "outside.txt"))).toBe(false);
  });
});

describe("the tar format", () => {
  it("writes long paths and reads them back, as GNU tar does", async () => {
    const folder = tempDir("gantry-tar-");
    const long = `logs/${"a".repeat(60)}/${"b".repeat(60)}/${"c".repeat(60)}/task.log`;
    const body = new TextEncoder().encode("long path content\n");
    const file = join(folder, "long.tar");
    writeFileSync(file, Buffer.concat([tarHeader({ path: long, type: "file", size: body.length, mode: 0o600, mtime: new Date() }), body, tarPadding(body.length), TAR_END]));
    const listed = Bun.spawnSync(["tar", "-tf", file]);
    expect(listed.stdout.toString().trim()).toBe(long);
    const paths: string[] = [];
    for await (const entry of readTar([readFileSync(file)])) paths.push(entry.path);
    expect(paths).toEqual([long]);
  });
});
