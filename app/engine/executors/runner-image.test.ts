// The runner image's parts that need no Docker engine: reading ldd, the files and the tar
// context (binary and libraries at their absolute paths under rootfs/), the Dockerfile, the
// checks of the binary, and which images may serve as the runner image.
import { describe, expect, it } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTar } from "../../stores/tar.ts";
import { tagProblem } from "../../domain/image-tasks.ts";
import {
  compiledGantryVersion,
  parseLdd,
  RUNNER_BINARY,
  runnerContext,
  runnerDockerfile,
  runnerImageFiles,
  runnerImageProblem,
  runnerImageTag,
  RunnerImageError,
  sharedLibraries,
} from "./runner-image.ts";
import { GANTRY_VERSION } from "../../version.ts";

const LDD = `	linux-vdso.so.1 (0x00007ffd4b5f2000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1bd57b1000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f1bd59a7000)
	libpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f1bd57ac000)
	libgone.so.3 => not found
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f1bd56c7000)
`;

describe("parseLdd", () => {
  it("lists the resolved libraries and the loader, leaves out the vDSO, and names what is missing", () => {
    expect(parseLdd(LDD)).toEqual({
      libraries: ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libpthread.so.0", "/lib/x86_64-linux-gnu/libm.so.6"],
      missing: ["libgone.so.3"],
    });
    expect(parseLdd("\tstatically linked\n")).toEqual({ libraries: [], missing: [] });
  });
});

describe("sharedLibraries", () => {
  it("reads ldd of a real binary and adds the libraries glibc and the libSQL addon open later", async () => {
    const libraries = await sharedLibraries("/bin/ls");
    expect(libraries).toContain("/lib64/ld-linux-x86-64.so.2");
    expect(libraries.some((path) => path.endsWith("/libc.so.6"))).toBe(true);
    expect(libraries.some((path) => path.endsWith("/libgcc_s.so.1"))).toBe(true);
  });
});

describe("the build context", () => {
  it("holds the Dockerfile, then the binary at its place and each library at its own path, as plain files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-runner-context-"));
    try {
      const binary = join(dir, "gantry");
      writeFileSync(binary, "#!binary\n");
      chmodSync(binary, 0o755);
      const files = runnerImageFiles(binary, ["/lib64/ld-linux-x86-64.so.2"]);
      expect(files.map((file) => file.target)).toEqual([RUNNER_BINARY, "/lib64/ld-linux-x86-64.so.2"]);
      const dockerfile = runnerDockerfile("local/busybox:latest");
      expect(dockerfile).toBe(`FROM local/busybox:latest\nCOPY rootfs/ /\nENTRYPOINT ["${RUNNER_BINARY}"]\nCMD ["version"]\n`);
      const context = runnerContext(files, dockerfile);
      const entries: { path: string; type: string; mode: number; size: number }[] = [];
      let binaryText = "";
      for await (const entry of readTar(context.stream() as AsyncIterable<Uint8Array>)) {
        entries.push({ path: entry.path, type: entry.type, mode: entry.mode, size: entry.size });
        if (entry.path === `rootfs${RUNNER_BINARY}`) for await (const chunk of entry.read()) binaryText += new TextDecoder().decode(chunk);
      }
      expect(entries.map((entry) => `${entry.type} ${entry.path}`)).toEqual([
        "file Dockerfile",
        "directory rootfs",
        "directory rootfs/lib64",
        "directory rootfs/usr",
        "directory rootfs/usr/local",
        "directory rootfs/usr/local/bin",
        "file rootfs/usr/local/bin/gantry",
        "file rootfs/lib64/ld-linux-x86-64.so.2",
      ]);
      expect(binaryText).toBe("#!binary\n");
      expect(entries.find((entry) => entry.path === "rootfs/usr/local/bin/gantry")?.mode).toBe(0o755);
      // The loader is a symlink on Debian: the image gets the file it points at.
      expect(entries.at(-1)!.size).toBeGreaterThan(100_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("compiledGantryVersion", () => {
  it("refuses what is not a compiled gantry, saying how to get one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-runner-binary-"));
    try {
      const script = join(dir, "script");
      writeFileSync(script, "#!/bin/sh\necho 1.2.3\n");
      chmodSync(script, 0o755);
      for (const [binary, why] of [
        [join(dir, "missing"), /does not exist: build the binary first \(bun run build\) or pass --binary/],
        [script, /is not a compiled gantry \(not an ELF executable\): build one with bun run build/],
        ["/bin/ls", /is not a compiled gantry \(`\/bin\/ls version` answered/],
      ] as const) {
        const error = await compiledGantryVersion(binary).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(RunnerImageError);
        expect((error as Error).message).toMatch(why);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("which image is the runner image", () => {
  it("is named for the version, and only an image gantry runner-image made of that version serves", () => {
    expect(runnerImageTag("1.2.3")).toBe("local/gantry-runner:1.2.3");
    const tag = runnerImageTag();
    expect(runnerImageProblem(tag, { "gantry.runner": GANTRY_VERSION })).toBeUndefined();
    expect(runnerImageProblem(tag, null)).toContain("was not made by gantry runner-image");
    expect(runnerImageProblem(tag, { "gantry.runner": "0.0.1" })).toContain(`holds gantry 0.0.1, not ${GANTRY_VERSION}`);
    expect(runnerImageProblem(tag, { "gantry.runner": GANTRY_VERSION, "gantry.pipeline": "evil" })).toContain("built by a pipeline");
  });

  it("is a name no pipeline's dockerBuild may take, even when it is free", () => {
    const owner = { namespace: "default", pipeline: "evil", run: 1 };
    for (const name of ["local/gantry-runner:0.1.0", "docker.io/local/gantry-runner:latest", "local/gantry-runner"]) {
      expect(tagProblem(name, undefined, owner)).toContain("is reserved");
    }
    expect(tagProblem("local/gantry-runner-extra:1", undefined, owner)).toBeUndefined();
  });
});
