// Packing and unpacking workspace paths as a root server must: links inside a folder kept only
// when they stay in the workspace, a link leading out (the path, a folder above it, an entry)
// refused by name, a damaged archive refused before anything is written, and an existing link
// replaced, never written through.
import { describe, expect, it } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashFiles, fillCacheKey } from "../../app/engine/task-files/cache-key.ts";
import { TAR_END, tarHeader, tarPadding } from "../../app/stores/tar.ts";
import { CorruptArchiveError, hashFile, packWorkspacePaths, unpackArchive, WorkspacePathError } from "../../app/stores/workspace-archive.ts";
import { tempDir, writeFile } from "../helpers/temp.ts";

/** A workspace with a build folder holding files, a nested folder and node_modules/.bin links. */
function sampleWorkspace(): string {
  const ws = tempDir("gantry-ws-");
  writeFile(join(ws, "build/dist/app.js"), "console.log('app')\n");
  writeFile(join(ws, "build/dist/nested/data.bin"), "\u0000\u0001binary");
  chmodSync(join(ws, "build/dist/app.js"), 0o755);
  writeFile(join(ws, "node_modules/tool/bin/tool.js"), "#!/usr/bin/env node\n");
  mkdirSync(join(ws, "node_modules/.bin"), { recursive: true });
  symlinkSync("../tool/bin/tool.js", join(ws, "node_modules/.bin/tool"));
  writeFile(join(ws, "report.txt"), "a report");
  return ws;
}

const packTo = async (ws: string, paths: string[], missing: "error" | "skip" = "error") => {
  const file = join(tempDir("gantry-tar-"), "out.tar");
  const result = await packWorkspacePaths(ws, paths, file, { missing });
  return { file, ...result };
};

const failure = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
};

describe("packWorkspacePaths", () => {
  it("packs a folder and a file with their size and sha256, and puts them back elsewhere", async () => {
    const ws = sampleWorkspace();
    const folder = await packTo(ws, ["build/dist/"]);
    expect(folder.packed).toEqual([{ path: "build/dist", kind: "folder" }]);
    expect(folder.size).toBe(statSync(folder.file).size);
    expect(folder.sha256).toBe((await hashFile(folder.file)).sha256);
    const file = await packTo(ws, ["./report.txt"]);
    expect(file.packed).toEqual([{ path: "report.txt", kind: "file" }]);

    const other = tempDir("gantry-ws-");
    chmodSync(other, 0o2770);
    chownSync(other, 65534, 65534);
    await unpackArchive(folder.file, other, { sha256: folder.sha256, within: ["build/dist"] });
    await unpackArchive(file.file, other, { sha256: file.sha256, within: ["report.txt"] });
    expect(readFileSync(join(other, "build/dist/app.js"), "utf8")).toBe("console.log('app')\n");
    expect(readFileSync(join(other, "build/dist/nested/data.bin"), "utf8")).toBe("\u0000\u0001binary");
    expect(readFileSync(join(other, "report.txt"), "utf8")).toBe("a report");
    // Owned by the workspace's owner and shared with its group, as the sandbox user needs.
    const stats = statSync(join(other, "build/dist/app.js"));
    expect([stats.uid, stats.gid]).toEqual([65534, 65534]);
    expect(stats.mode & 0o777).toBe(0o775);
    expect(statSync(join(other, "build/dist/nested")).uid).toBe(65534);
  });

  it("keeps links that stay inside the workspace as links", async () => {
    const ws = sampleWorkspace();
    const packed = await packTo(ws, ["node_modules"]);
    const other = tempDir("gantry-ws-");
    await unpackArchive(packed.file, other, { sha256: packed.sha256 });
    expect(readlinkSync(join(other, "node_modules/.bin/tool"))).toBe("../tool/bin/tool.js");
    expect(readFileSync(join(other, "node_modules/.bin/tool"), "utf8")).toBe("#!/usr/bin/env node\n");
  });

  it("follows a link on the way only while it stays inside, and refuses one leading out by name", async () => {
    const ws = sampleWorkspace();
    symlinkSync("build/dist", join(ws, "dist"));
    const inside = await packTo(ws, ["dist"]);
    expect(inside.packed).toEqual([{ path: "dist", kind: "folder" }]);

    symlinkSync("/etc", join(ws, "etc-link"));
    const parent = await failure(packTo(ws, ["etc-link/passwd"]));
    expect(parent).toBeInstanceOf(WorkspacePathError);
    expect(parent.message).toBe("etc-link is a symlink leading outside the workspace (to /etc)");
    symlinkSync("/etc/hostname", join(ws, "host"));
    expect((await failure(packTo(ws, ["host"]))).message).toBe("host is a symlink leading outside the workspace (to /etc/hostname)");
    symlinkSync("../../..", join(ws, "build/up"));
    expect((await failure(packTo(ws, ["build/up/etc"]))).message).toContain("build/up is a symlink leading outside the workspace");

    // Inside a folder: a link out is refused, naming it; nothing is left behind.
    symlinkSync("/etc/passwd", join(ws, "build/dist/passwd"));
    const entry = await failure(packTo(ws, ["build"]));
    expect(entry.message).toBe("build/dist/passwd is a symlink leading outside the workspace (to /etc/passwd)");
    // A link inside leading to another link that leads out is refused too.
    const ws2 = sampleWorkspace();
    symlinkSync("/etc", join(ws2, "out"));
    symlinkSync("../out/passwd", join(ws2, "build/sneaky"));
    expect((await failure(packTo(ws2, ["build"]))).message).toContain("out is a symlink leading outside the workspace");
  });

  it("names a missing path, and skips missing ones when asked", async () => {
    const ws = sampleWorkspace();
    const missing = await failure(packTo(ws, ["build/none"]));
    expect((missing as WorkspacePathError).code).toBe("missing");
    expect(missing.message).toBe("build/none does not exist in the workspace");
    const skipped = await packTo(ws, ["report.txt", "nothing/here"], "skip");
    expect(skipped.skipped).toEqual(["nothing/here"]);
    expect(skipped.packed).toEqual([{ path: "report.txt", kind: "file" }]);
    expect((await failure(packTo(ws, ["../x"]))).message).toContain("no .. segments");
    expect((await failure(packTo(ws, ["/etc/passwd"]))).message).toContain("relative");
  });
});

describe("open folders", () => {
  it("holds only one path's folders open, and none once done, however many folders there are", async () => {
    const ws = tempDir("gantry-ws-");
    for (let i = 0; i < 400; i++) writeFile(join(ws, `node_modules/pkg-${i}/lib/index.js`), `module.exports = ${i};`);
    for (let i = 0; i < 50; i++) symlinkSync(`../pkg-${i}/lib/index.js`, join(ws, `node_modules/pkg-${i}/bin`));
    const before = readdirSync("/proc/self/fd").length;
    const packed = await packTo(ws, ["node_modules"]);
    const other = tempDir("gantry-ws-");
    const counts = await unpackArchive(packed.file, other, { sha256: packed.sha256 });
    expect(counts).toEqual({ files: 400, folders: 801, symlinks: 50 });
    expect(readFileSync(join(other, "node_modules/pkg-7/bin"), "utf8")).toBe("module.exports = 7;");
    // Other tests in this process may close theirs meanwhile: none more than before is the check.
    expect(readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(before);
  });
});

describe("unpackArchive", () => {
  it("refuses a damaged archive before writing anything", async () => {
    const ws = sampleWorkspace();
    const packed = await packTo(ws, ["build"]);
    const bytes = readFileSync(packed.file);
    bytes[600] = bytes[600]! ^ 0xff;
    writeFileSync(packed.file, bytes);
    const other = tempDir("gantry-ws-");
    const error = await failure(unpackArchive(packed.file, other, { sha256: packed.sha256 }));
    expect(error).toBeInstanceOf(CorruptArchiveError);
    expect(error.message).toContain(`not the ${packed.sha256} recorded`);
    expect(existsSync(join(other, "build"))).toBe(false);
  });

  it("replaces a link in its way instead of writing through it", async () => {
    const ws = sampleWorkspace();
    const packed = await packTo(ws, ["build", "report.txt"]);
    const other = tempDir("gantry-ws-");
    const outside = tempDir("gantry-outside-");
    writeFile(join(outside, "victim.txt"), "untouched");
    // A folder of the archive is a link out here, and a file of it is a link to a file out there.
    symlinkSync(outside, join(other, "build"));
    symlinkSync(join(outside, "victim.txt"), join(other, "report.txt"));
    await unpackArchive(packed.file, other, { sha256: packed.sha256 });
    expect(readFileSync(join(outside, "victim.txt"), "utf8")).toBe("untouched");
    expect(existsSync(join(outside, "dist"))).toBe(false);
    expect(lstatSync(join(other, "build")).isDirectory()).toBe(true);
    expect(lstatSync(join(other, "report.txt")).isFile()).toBe(true);
    expect(readFileSync(join(other, "report.txt"), "utf8")).toBe("a report");
  });

  it("refuses entries that leave the root or the artifact's path, and links out", async () => {
    const make = (entries: Uint8Array[]) => {
      const file = join(tempDir("gantry-tar-"), "bad.tar");
      const all = Buffer.concat([...entries, TAR_END]);
      writeFileSync(file, all);
      return file;
    };
    const content = new TextEncoder().encode("evil");
    const fileEntry = (path: string) => Buffer.concat([tarHeader({ path, type: "file", size: content.length, mode: 0o644, mtime: new Date() }), content, tarPadding(content.length)]);
    const other = tempDir("gantry-ws-");
    for (const [file, message] of [
      [make([fileEntry("../escape.txt")]), "leaving the workspace"],
      [make([fileEntry("/etc/evil")]), "outside the workspace"],
      [make([fileEntry("elsewhere/x.txt")]), "outside build"],
      [make([tarHeader({ path: "build/link", type: "symlink", size: 0, mode: 0o777, mtime: new Date(), linkTarget: "../../etc" })]), "leading outside the workspace"],
      [make([tarHeader({ path: "build/abs", type: "symlink", size: 0, mode: 0o777, mtime: new Date(), linkTarget: "/etc" })]), "leading outside the workspace"],
    ] as const) {
      const error = await failure(unpackArchive(file, other, { sha256: (await hashFile(file)).sha256, within: ["build"] }));
      expect(error.message).toContain(message);
    }
    expect(existsSync(join(other, "..", "escape.txt"))).toBe(false);
  });
});

describe("cache keys", () => {
  it("fills ${VAR} and ${hashFiles(...)} from sorted paths and contents, without following links", async () => {
    const ws = tempDir("gantry-ws-");
    writeFile(join(ws, "package-lock.json"), '{"a":1}');
    writeFile(join(ws, "sub/package-lock.json"), '{"b":2}');
    const first = await hashFiles(ws, ["**/package-lock.json"]);
    expect(first.files).toBe(2);
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    // A link leading out changes nothing.
    symlinkSync("/etc/passwd", join(ws, "linked-lock.json"));
    expect((await hashFiles(ws, ["**/*lock.json"])).hash).toBe(first.hash);
    writeFile(join(ws, "sub/package-lock.json"), '{"b":3}');
    expect((await hashFiles(ws, ["**/package-lock.json"])).hash).not.toBe(first.hash);
    const filled = await fillCacheKey("deps-${OS}-${hashFiles('package-lock.json')}-${MISSING}", { env: { OS: "linux" }, workspace: ws });
    expect(filled.key).toMatch(/^deps-linux-[0-9a-f]{64}-$/);
    expect(filled.notes).toEqual(["${MISSING} is not set in the task's environment"]);
    const none = await fillCacheKey("k-${hashFiles('nothing.txt')}", { env: {}, workspace: ws });
    expect(none.key).toBe("k-");
    expect(none.notes[0]).toContain("matched no files");
    await expect(fillCacheKey("${hashFiles('../x')}", { env: {}, workspace: ws })).rejects.toThrow("inside the workspace");
  });
});
