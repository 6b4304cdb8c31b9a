// What pipeline code can leave in a workspace for a root server to trip over, besides links: a
// named pipe (FIFO) where a file is read must be refused at once, never waited on (a blocking
// open would hang the read forever, a synchronous one the whole event loop); a hard link to a
// file someone else owns (root's, on a host without protected_hardlinks) must not be read;
// ".." never climbs out; a huge artifact or cache stops being packed at its limit; a long
// non-ASCII path survives a tar.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chownSync, closeSync, constants, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../app/db/client.ts";
import { migrate } from "../../app/db/migrate.ts";
import type { TaskSpec } from "../../app/domain/pipeline-spec.ts";
import { createArtifacts } from "../../app/engine/task-files/artifacts.ts";
import { hashFiles } from "../../app/engine/task-files/cache-key.ts";
import { createCaches } from "../../app/engine/task-files/caches.ts";
import { createFindingsCollector } from "../../app/engine/task-files/findings.ts";
import type { TaskFilesContext } from "../../app/engine/task-files/index.ts";
import { loadConfig } from "../../app/config.ts";
import { createDataDirArtifactStore } from "../../app/stores/artifact-store.ts";
import { openContained, OutsideRootError } from "../../app/stores/contained-path.ts";
import { readTar, TAR_END, tarHeader, tarPadding } from "../../app/stores/tar.ts";
import { hashFile, packWorkspacePaths, PackTooLargeError, unpackArchive, WorkspacePathError } from "../../app/stores/workspace-archive.ts";
import { WorkspaceDirs } from "../../app/stores/workspace-dirs.ts";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(60_000);

const mkfifo = (path: string) => {
  const made = Bun.spawnSync(["mkfifo", "-m", "0666", path]);
  if (made.exitCode !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr.toString()}`);
  return path;
};

/** Lets a reader stuck opening the FIFO (only without the fix) go, so the test process can end. */
const releaseFifo = (path: string) => {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // no reader waiting
  }
};

const failure = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
};

/** Settles within `ms`, or says it hung. */
const within = <T>(promise: Promise<T>, ms: number): Promise<T> =>
  Promise.race([promise, Bun.sleep(ms).then(() => Promise.reject(new Error(`still waiting after ${ms} ms (blocked on a named pipe?)`)))]);

/** Runs `code` in its own bun process, killed after `timeoutMs`: a frozen event loop there cannot freeze the test. */
async function inChild(code: string, timeoutMs: number): Promise<{ exitCode: number; stdout: string; stderr: string; hung: boolean }> {
  const proc = Bun.spawn([process.execPath, "-e", code], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr, hung };
}

const context = (workspace: string, task: Partial<TaskSpec>, lines: string[] = []): TaskFilesContext => ({
  key: { namespace: "default", id: "special", run: 1 },
  task: { id: "t", kind: "run", needs: {}, env: {}, retries: 0, injectApiToken: false, ...task } as TaskSpec,
  workspace,
  env: {},
  log: (line) => lines.push(line),
});

describe("named pipes", () => {
  it("openContained refuses a FIFO at once, as not a regular file", async () => {
    const ws = tempDir("gantry-ws-");
    const fifo = mkfifo(join(ws, "report.sarif"));
    try {
      const error = await within(failure(openContained(ws, fifo)), 3_000);
      expect(error).toBeInstanceOf(OutsideRootError);
      expect(error.message).toContain("report.sarif is not a regular file (it is a named pipe)");
    } finally {
      releaseFifo(fifo);
    }
  });

  it("fails a scan whose SARIF report is a FIFO, quickly and saying why", async () => {
    const ws = tempDir("gantry-ws-");
    const fifo = mkfifo(join(ws, "report.sarif"));
    try {
      // Nothing reaches the database: the report is refused when it is opened.
      const collector = createFindingsCollector({ db: {} as never });
      const result = await within(collector.collect(context(ws, { sarif: { path: "report.sarif", failOn: "error" } as TaskSpec["sarif"] })), 3_000);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toContain("is not a regular file");
    } finally {
      releaseFifo(fifo);
    }
  });

  it("refuses a socket too", async () => {
    const ws = tempDir("gantry-ws-");
    const path = join(ws, "report.sock");
    const listener = Bun.listen({ unix: path, socket: { data() {} } });
    try {
      const error = await within(failure(openContained(ws, path)), 3_000);
      expect(error).toBeInstanceOf(OutsideRootError);
      expect(error.message).toContain("is not a regular file");
    } finally {
      listener.stop(true);
    }
  });

  it("packing a folder holding a FIFO fails naming it, and leaves nothing behind", async () => {
    const ws = tempDir("gantry-ws-");
    writeFile(join(ws, "out/ok.txt"), "ok");
    const fifo = mkfifo(join(ws, "out/pipe"));
    const file = join(tempDir("gantry-tar-"), "out.tar");
    try {
      const error = await within(failure(packWorkspacePaths(ws, ["out"], file, { missing: "error" })), 3_000);
      expect(error).toBeInstanceOf(WorkspacePathError);
      expect(error.message).toBe("out/pipe is a named pipe; only files, folders and symlinks are stored");
      expect(existsSync(file)).toBe(false);
      expect((await failure(packWorkspacePaths(ws, ["out/pipe"], file, { missing: "error" }))).message).toContain("out/pipe is a named pipe");
    } finally {
      releaseFifo(fifo);
    }
  });

  it("a file opened where it was swapped for a FIFO is refused, never waited on", () => {
    const ws = tempDir("gantry-ws-");
    const fifo = mkfifo(join(ws, "lock.json"));
    const dirs = new WorkspaceDirs(ws);
    try {
      // What packing and hashFiles call once the lstat said "a file": the open itself must not block.
      expect(() => dirs.openFile(dirs.root, "lock.json")).toThrow("lock.json is not a regular file (it is a named pipe)");
    } finally {
      dirs.close();
      releaseFifo(fifo);
    }
  });

  it("never freezes the server when files keep being swapped for FIFOs while they are packed and hashed", async () => {
    const ws = tempDir("gantry-ws-");
    // Beside the workspace, on the same disk: the names swapped in are made here first.
    const spare = tempDir("gantry-spare-");
    mkdirSync(join(ws, "d"));
    writeFileSync(join(spare, "file"), "a regular file\n");
    mkfifo(join(spare, "fifo"));
    writeFileSync(join(ws, "d/f"), "a regular file\n");
    const out = join(tempDir("gantry-tar-"), "out.tar");
    const swapper = `
      import { linkSync, renameSync } from "node:fs";
      const end = Date.now() + 2500;
      let i = 0;
      while (Date.now() < end) {
        for (const kind of ["fifo", "file"]) {
          const temp = ${JSON.stringify(spare)} + "/t" + i++;
          linkSync(${JSON.stringify(spare)} + "/" + kind, temp);
          renameSync(temp, ${JSON.stringify(join(ws, "d/f"))});
        }
      }
      // Ends a regular file, so a reader stuck on the pipe (only without the fix) stays stuck.
    `;
    const packer = `
      import { rmSync } from "node:fs";
      import { packWorkspacePaths } from ${JSON.stringify(join(REPO_ROOT, "app/stores/workspace-archive.ts"))};
      import { hashFiles } from ${JSON.stringify(join(REPO_ROOT, "app/engine/task-files/cache-key.ts"))};
      const end = Date.now() + 2000;
      let rounds = 0;
      while (Date.now() < end) {
        try {
          await packWorkspacePaths(${JSON.stringify(ws)}, ["d"], ${JSON.stringify(out)}, { missing: "error" });
        } catch {}
        rmSync(${JSON.stringify(out)}, { force: true });
        await hashFiles(${JSON.stringify(ws)}, ["d/*"]);
        rounds++;
      }
      console.log(rounds);
    `;
    const [swapped, packed] = await Promise.all([inChild(swapper, 20_000), inChild(packer, 20_000)]);
    releaseFifo(join(ws, "d/f"));
    expect(swapped.exitCode).toBe(0);
    expect(packed.hung).toBe(false);
    expect(packed.exitCode).toBe(0);
    expect(Number(packed.stdout.trim())).toBeGreaterThan(0);
  });
});

describe("hard links", () => {
  /** A workspace owned by the sandbox user (65534), as the server hands them out. */
  const sandboxWorkspace = () => {
    const ws = tempDir("gantry-ws-");
    chownSync(ws, 65534, 65534);
    return ws;
  };
  /** A file only root may read, outside the workspace, on the same disk. */
  const rootSecret = () => {
    const path = writeFile(join(tempDir("gantry-secret-"), "shadow"), "root:secret-hash:19000::::::\n");
    chownSync(path, 0, 0);
    return path;
  };

  it("refuses to pack a hard link to a file someone else owns, by name, and leaves nothing behind", async () => {
    const ws = sandboxWorkspace();
    writeFile(join(ws, "out/ok.txt"), "ok");
    chownSync(join(ws, "out/ok.txt"), 65534, 65534);
    linkSync(rootSecret(), join(ws, "out/shadow"));
    const file = join(tempDir("gantry-tar-"), "out.tar");
    const error = await failure(packWorkspacePaths(ws, ["out"], file, { missing: "error" }));
    expect(error).toBeInstanceOf(WorkspacePathError);
    expect(error.message).toBe("out/shadow is a hard link (2 names) to a file owned by uid 0, not by the workspace's owner (uid 65534); refusing to read it");
    expect(existsSync(file)).toBe(false);
    expect((await failure(packWorkspacePaths(ws, ["out/shadow"], file, { missing: "error" }))).message).toContain("out/shadow is a hard link");
  });

  it("packs hard links among the workspace owner's own files (a package manager's store)", async () => {
    const ws = sandboxWorkspace();
    const original = writeFile(join(ws, "store/pkg.js"), "module.exports = 1;\n");
    chownSync(original, 65534, 65534);
    mkdirSync(join(ws, "node_modules"));
    linkSync(original, join(ws, "node_modules/pkg.js"));
    const file = join(tempDir("gantry-tar-"), "out.tar");
    const packed = await packWorkspacePaths(ws, ["node_modules"], file, { missing: "error" });
    expect(packed.packed).toEqual([{ path: "node_modules", kind: "folder" }]);
  });

  it("openContained refuses one (a SARIF report, a Dockerfile), and hashFiles leaves it out", async () => {
    const ws = sandboxWorkspace();
    const secret = rootSecret();
    linkSync(secret, join(ws, "report.sarif"));
    const error = await failure(openContained(ws, join(ws, "report.sarif")));
    expect(error).toBeInstanceOf(OutsideRootError);
    expect(error.message).toContain("report.sarif is a hard link (2 names) to a file owned by uid 0");
    linkSync(secret, join(ws, "package-lock.json"));
    expect(await hashFiles(ws, ["package-lock.json"])).toEqual({ hash: "", files: 0 });
    // A file the owner wrote, with one name, is read as ever.
    writeFile(join(ws, "own.sarif"), "{}");
    const own = await openContained(ws, join(ws, "own.sarif"));
    expect(own?.size).toBe(2);
    await own?.handle.close();
  });
});

describe("workspace paths", () => {
  it("never climb out with ..", () => {
    const ws = tempDir("gantry-ws-");
    writeFile(join(ws, "sub/x.txt"), "x");
    const dirs = new WorkspaceDirs(ws);
    try {
      for (const path of ["..", "../etc", "sub/../../etc/passwd", "sub/.."]) {
        expect(() => dirs.locate(path)).toThrow(WorkspacePathError);
        expect(() => dirs.locate(path)).toThrow("has a .. part");
      }
      const found = dirs.locate("sub/x.txt");
      expect(found.stats?.isFile()).toBe(true);
      dirs.release(found.parent);
    } finally {
      dirs.close();
    }
  });
});

describe("size limits", () => {
  it("stops packing at maxBytes, a big file before reading it, many small ones as they pass it, leaving nothing", async () => {
    const ws = tempDir("gantry-ws-");
    writeFile(join(ws, "big/huge.bin"), "");
    // Sparse: 256 MiB on paper, no disk. Refused before a byte of it is read or written.
    truncateSync(join(ws, "big/huge.bin"), 256 * 1024 ** 2);
    for (let i = 0; i < 40; i++) writeFile(join(ws, `many/f${String(i).padStart(2, "0")}.txt`), "x".repeat(100 * 1024));
    const folder = tempDir("gantry-tar-");
    const file = join(folder, "out.tar");
    const started = Date.now();
    const big = await failure(packWorkspacePaths(ws, ["big"], file, { missing: "error", maxBytes: 1024 * 1024 }));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(big).toBeInstanceOf(PackTooLargeError);
    expect((big as PackTooLargeError).path).toBe("big/huge.bin");
    expect(readdirSync(folder)).toEqual([]);
    const many = await failure(packWorkspacePaths(ws, ["many"], file, { missing: "error", maxBytes: 1024 * 1024 }));
    expect(many).toBeInstanceOf(PackTooLargeError);
    expect(many.message).toBe("the archive would be over its limit of 1048576 bytes (at many/f10.txt)");
    expect(readdirSync(folder)).toEqual([]);
    // Under the limit, as ever; the limit counts the whole tar.
    const fits = await packWorkspacePaths(ws, ["many/f00.txt"], file, { missing: "error", maxBytes: 1024 * 1024 });
    expect(fits.size).toBe(statSync(file).size);
    expect(fits.size).toBeLessThanOrEqual(1024 * 1024);
  });

  it("fails an artifact over GANTRY_ARTIFACT_MAX_BYTES naming it, with no temp file left", async () => {
    const ws = tempDir("gantry-ws-");
    writeFile(join(ws, "dist/app.bin"), "x".repeat(3 * 1024 * 1024));
    const dataDir = tempDir("gantry-data-");
    const store = createDataDirArtifactStore(dataDir);
    const artifacts = createArtifacts({ db: {} as never, store, maxBytes: 1024 * 1024 });
    const result = await artifacts.storeOut(context(ws, { artifacts: { in: [], out: [{ name: "dist", path: "dist" }] } as unknown as TaskSpec["artifacts"] }));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toStartWith('artifact "dist" is over GANTRY_ARTIFACT_MAX_BYTES (1 MiB)');
    expect(readdirSync(join(dataDir, "artifacts", ".tmp"))).toEqual([]);
  });

  it("does not save a cache past GANTRY_CACHE_MAX_BYTES, stopping the pack there", async () => {
    const { db, client, close } = await openDatabase(":memory:");
    try {
      await migrate(client);
      const ws = tempDir("gantry-ws-");
      writeFile(join(ws, "deps/blob.bin"), "x".repeat(300 * 1024));
      const dataDir = tempDir("gantry-data-");
      const caches = createCaches({ db, store: createDataDirArtifactStore(dataDir), maxBytes: 100 * 1024 });
      const lines: string[] = [];
      await caches.save(context(ws, { cache: { key: "deps-v1", paths: ["deps"], restoreKeys: [] } as TaskSpec["cache"] }, lines));
      expect(lines.join("\n")).toContain("cache: deps-v1 is over GANTRY_CACHE_MAX_BYTES (100 KiB), more than a pipeline's caches may hold");
      expect(readdirSync(join(dataDir, "artifacts", ".tmp"))).toEqual([]);
      expect(existsSync(join(dataDir, "artifacts", "caches"))).toBe(false);
    } finally {
      close();
    }
  });

  it("reads GANTRY_ARTIFACT_MAX_BYTES (artifact_max_bytes), 10 GiB when unset", () => {
    const cwd = tempDir("gantry-config-");
    expect(loadConfig({ env: {}, cwd }).artifactMaxBytes).toBe(10 * 1024 ** 3);
    expect(loadConfig({ env: { GANTRY_ARTIFACT_MAX_BYTES: "512m" }, cwd }).artifactMaxBytes).toBe(512 * 1024 ** 2);
    writeFileSync(join(cwd, "gantry.toml"), 'artifact_max_bytes = "2g"\n');
    expect(loadConfig({ env: {}, cwd }).artifactMaxBytes).toBe(2 * 1024 ** 3);
    expect(() => loadConfig({ env: { GANTRY_ARTIFACT_MAX_BYTES: "lots" }, cwd })).toThrow("GANTRY_ARTIFACT_MAX_BYTES");
  });
});

describe("non-ASCII paths in a tar", () => {
  const longPath = `${"é".repeat(60)}/file.txt`;

  it("reads back a long non-ASCII path and link target exactly as written", async () => {
    const content = new TextEncoder().encode("hello");
    const linkTarget = `${"ü".repeat(70)}/target.txt`;
    const archive = Buffer.concat([
      tarHeader({ path: longPath, type: "file", size: content.length, mode: 0o644, mtime: new Date(0) }),
      content,
      tarPadding(content.length),
      tarHeader({ path: `${"ß".repeat(55)}/link`, type: "symlink", size: 0, mode: 0o777, mtime: new Date(0), linkTarget }),
      TAR_END,
    ]);
    const entries: { path: string; linkTarget?: string; body: string }[] = [];
    for await (const entry of readTar([archive], { symlinks: true })) {
      let body = "";
      for await (const chunk of entry.read()) body += new TextDecoder().decode(chunk);
      entries.push({ path: entry.path, ...(entry.linkTarget !== undefined && { linkTarget: entry.linkTarget }), body });
    }
    expect(entries).toEqual([
      { path: longPath, body: "hello" },
      { path: `${"ß".repeat(55)}/link`, linkTarget, body: "" },
    ]);
  });

  it("puts a packed file with such a path back where it was", async () => {
    const ws = tempDir("gantry-ws-");
    writeFile(join(ws, "out", longPath), "café");
    const file = join(tempDir("gantry-tar-"), "out.tar");
    const packed = await packWorkspacePaths(ws, ["out"], file, { missing: "error" });
    const other = tempDir("gantry-ws-");
    await unpackArchive(file, other, { sha256: packed.sha256, within: ["out"] });
    expect(readFileSync(join(other, "out", longPath), "utf8")).toBe("café");
    expect((await hashFile(file)).sha256).toBe(packed.sha256);
  });
});
