// The runner image (`gantry runner-image`): the compiled gantry binary and the shared libraries
// it loads, at their own absolute paths, FROM a local base image (never pulled), built on the
// Docker engine from a tar context streamed off the host's files. A swarm service runs a run()
// task's runner in it (runner-service.ts), which fetches its bundle from the API.
//
// Built with the classic builder: the build is one COPY, and BuildKit would keep the ~140 MB
// context and layer in its cache on every build (~400 MB each time), where the classic
// builder keeps nothing but the image.
//
// FROM local/busybox:latest rather than FROM scratch: the binary needs glibc, which ldd lists
// and we copy in, but a task's `ctx.$` also wants a shell's tools (sh, cat, env...), and a
// writable /tmp (the binary unpacks its native addon there); the static busybox test image has
// both, and "FROM scratch with busybox copied" would need a busybox on every host that builds.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import type Docker from "dockerode";
import { RUNNER_IMAGE_REPOSITORY } from "../../domain/image-tasks.ts";
import { TAR_END, tarHeader, tarPadding } from "../../stores/tar.ts";
import { GANTRY_VERSION } from "../../version.ts";
import { TASK_RUNNER_COMMAND } from "../task-runner/command.ts";
import { createBuildProgress, buildFailureReason, type BuildMessage, type LogLine } from "./build-progress.ts";
import { describeDockerFailure, GANTRY_LABELS } from "./docker-client.ts";
import { dialBuild } from "./image-build.ts";
import { readJsonLines } from "./json-lines.ts";

export { RUNNER_IMAGE_REPOSITORY };
export const DEFAULT_RUNNER_BASE = "local/busybox:latest";
/** Where the binary is in the image (its ENTRYPOINT). */
export const RUNNER_BINARY = "/usr/local/bin/gantry";

/** Labels of a runner image: the gantry version inside, and the base it was built on. */
export const RUNNER_IMAGE_LABELS = {
  runner: "gantry.runner",
  base: "gantry.runner-base",
} as const;

/** The runner image of a gantry version: local/gantry-runner:<version>. */
export const runnerImageTag = (version = GANTRY_VERSION) => `${RUNNER_IMAGE_REPOSITORY}:${version}`;

/**
 * Libraries loaded later with dlopen, so ldd of the binary does not list them: glibc loads
 * libgcc_s for thread cancellation and unwinding, and the libSQL addon inside the binary
 * needs libgcc_s and librt. Taken from the folder ldd found libc in, when they are there.
 */
export const DLOPENED_LIBRARIES = ["libgcc_s.so.1", "librt.so.1"];

/** Why the image cannot be built; the message is for people (the CLI prints it). */
export class RunnerImageError extends Error {
  override name = "RunnerImageError";
}

export interface LddResult {
  /** Absolute paths ldd resolved (the dynamic loader included). */
  libraries: string[];
  /** Names ldd could not find. */
  missing: string[];
}

/** Reads `ldd <binary>`'s listing; the vDSO (no file) is left out, a static binary lists nothing. */
export function parseLdd(output: string): LddResult {
  const libraries: string[] = [];
  const missing: string[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const arrow = /^(\S+)\s+=>\s+(.*?)\s*(?:\(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      const target = arrow[2]!;
      if (target === "not found") missing.push(arrow[1]!);
      else if (target.startsWith("/")) libraries.push(target);
      continue;
    }
    // The loader: "/lib64/ld-linux-x86-64.so.2 (0x...)".
    const direct = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (direct) libraries.push(direct[1]!);
  }
  return { libraries: [...new Set(libraries)], missing };
}

/** Runs a program and collects its output; undefined when it cannot be started at all (not there). */
async function runProgram(argv: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string } | undefined> {
  let child;
  try {
    child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: timeoutMs });
  } catch {
    return undefined;
  }
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code: child.signalCode ? null : code, out, err };
}

/** The host files the binary loads: what ldd lists, and DLOPENED_LIBRARIES beside libc. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const ldd = await runProgram(["ldd", binary], 30_000);
  if (!ldd) throw new RunnerImageError("ldd was not found: the image needs the binary's shared libraries, which ldd lists (Debian: apt-get install libc-bin)");
  const text = `${ldd.out}${ldd.err}`;
  // A static binary needs nothing.
  if (/not a dynamic executable|statically linked/.test(text)) return [];
  if (ldd.code !== 0) throw new RunnerImageError(`ldd ${binary} failed (${ldd.code ?? "killed"}): ${text.trim()}`);
  const { libraries, missing } = parseLdd(text);
  if (missing.length > 0) throw new RunnerImageError(`${binary} needs libraries this host does not have: ${missing.join(", ")}`);
  const libc = libraries.find((path) => /\/libc\.so\.\d+$/.test(path));
  const extra = libc ? DLOPENED_LIBRARIES.map((name) => `${dirname(libc)}/${name}`).filter((path) => statSync(path, { throwIfNoEntry: false })?.isFile()) : [];
  return [...new Set([...libraries, ...extra])];
}

/**
 * The gantry version of `binary`, checked to be a compiled gantry whose runner has fetch
 * mode (an older binary in the image would not fetch its bundle).
 */
export async function compiledGantryVersion(binary: string): Promise<string> {
  const stats = statSync(binary, { throwIfNoEntry: false });
  if (!stats) throw new RunnerImageError(`${binary} does not exist: build the binary first (bun run build) or pass --binary <path>`);
  if (!stats.isFile()) throw new RunnerImageError(`${binary} is not a file`);
  const notGantry = (why: string) => new RunnerImageError(`${binary} is not a compiled gantry (${why}): build one with bun run build and pass --binary dist/gantry`);
  const head = new Uint8Array(4);
  const fd = openSync(binary, "r");
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) throw notGantry("not an ELF executable");
  const version = await runProgram([binary, "version"], 15_000);
  const text = version?.out.trim() ?? "";
  if (!version || version.code !== 0 || !/^\d+\.\d+\.\d+\S*$/.test(text)) {
    throw notGantry(version ? `\`${binary} version\` answered ${JSON.stringify((text || version.err.trim()).slice(0, 200))}` : "it cannot be run");
  }
  // The usage of a runner with fetch mode names it; one without prints the old usage.
  const usage = await runProgram([binary, TASK_RUNNER_COMMAND, "--fetch"], 15_000);
  if (!usage?.err.includes("--fetch")) throw new RunnerImageError(`${binary} (gantry ${text}) has no task runner fetch mode: rebuild it from this source (bun run build)`);
  return text;
}

/** One file of the context: where it is on the host, and where it goes in the image. */
export interface RunnerImageFile {
  source: string;
  target: string;
  size: number;
  mode: number;
  mtime: Date;
}

/** The binary at RUNNER_BINARY and each library at its own absolute path (read through links: the image gets plain files). */
export function runnerImageFiles(binary: string, libraries: string[]): RunnerImageFile[] {
  const file = (source: string, target: string): RunnerImageFile => {
    const stats = statSync(source);
    return { source, target, size: stats.size, mode: stats.mode & 0o755, mtime: stats.mtime };
  };
  return [file(binary, RUNNER_BINARY), ...libraries.map((library) => file(library, library))];
}

/** The Dockerfile: the files over the base, the binary as ENTRYPOINT (labels come with the build request). */
export function runnerDockerfile(base: string): string {
  return [`FROM ${base}`, "COPY rootfs/ /", `ENTRYPOINT ["${RUNNER_BINARY}"]`, `CMD ["version"]`, ""].join("\n");
}

/** Every folder above the files, parents first, as context paths under rootfs/. */
function foldersOf(files: RunnerImageFile[]): string[] {
  const folders = new Set<string>();
  for (const file of files) {
    for (let dir = dirname(file.target); dir !== "/"; dir = dirname(dir)) folders.add(dir);
  }
  return [...folders].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
}

/** The build context as a tar stream: Dockerfile, then rootfs/ with the files at their paths. */
export function runnerContext(files: RunnerImageFile[], dockerfile: string): { bytes: number; stream(): Readable } {
  const now = new Date();
  const text = new TextEncoder().encode(dockerfile);
  const bytes = text.length + files.reduce((sum, file) => sum + file.size, 0);
  async function* entries(): AsyncGenerator<Uint8Array> {
    yield tarHeader({ path: "Dockerfile", type: "file", size: text.length, mode: 0o644, mtime: now });
    yield text;
    yield tarPadding(text.length);
    yield tarHeader({ path: "rootfs", type: "directory", size: 0, mode: 0o755, mtime: now });
    for (const folder of foldersOf(files)) yield tarHeader({ path: `rootfs${folder}`, type: "directory", size: 0, mode: 0o755, mtime: now });
    for (const file of files) {
      yield tarHeader({ path: `rootfs${file.target}`, type: "file", size: file.size, mode: file.mode, mtime: file.mtime });
      let sent = 0;
      for await (const chunk of Bun.file(file.source).stream()) {
        sent += chunk.byteLength;
        if (sent > file.size) break;
        yield chunk;
      }
      // A file that changed size meanwhile would shift every entry after it: stop instead.
      if (sent !== file.size) throw new RunnerImageError(`${file.source} changed while it was sent (${sent} bytes, not ${file.size})`);
      yield tarPadding(file.size);
    }
    yield TAR_END;
  }
  return { bytes, stream: () => Readable.from(entries()) };
}

export interface BuildRunnerImageOptions {
  docker: Docker;
  /** Where the engine is, for messages. */
  host: string;
  binary: string;
  /** Defaults to runnerImageTag(version of the binary). */
  tag?: string;
  /** A local image; DEFAULT_RUNNER_BASE when absent. Never pulled. */
  base?: string;
  /** Progress, line by line ("gantry" lines are ours, the rest the engine's). */
  log: LogLine;
}

/** Checks the binary, gathers its libraries, builds and tags the image; its id and tag. Throws RunnerImageError. */
export async function buildRunnerImage(options: BuildRunnerImageOptions): Promise<{ id: string; tag: string; version: string }> {
  const { docker, host, log } = options;
  const base = options.base ?? DEFAULT_RUNNER_BASE;
  const version = await compiledGantryVersion(options.binary);
  const tag = options.tag ?? runnerImageTag(version);
  try {
    await docker.getImage(base).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) {
      throw new RunnerImageError(`the base image ${base} is not on the Docker engine at ${host}, and gantry runner-image never pulls: make it (scripts/make-test-image.sh makes ${DEFAULT_RUNNER_BASE}) or pass --base <a local image>`);
    }
    throw new RunnerImageError(describeDockerFailure(error, host, `looking up the base image ${base}`));
  }
  const libraries = await sharedLibraries(options.binary);
  const files = runnerImageFiles(options.binary, libraries);
  const context = runnerContext(files, runnerDockerfile(base));
  log("gantry", `building ${tag} FROM ${base}: gantry ${version} (${options.binary}) and ${libraries.length} shared libraries, ${(context.bytes / 1024 / 1024).toFixed(1)} MB`);
  for (const library of libraries) log("gantry", `  ${library}`);
  const labels = { [RUNNER_IMAGE_LABELS.runner]: version, [RUNNER_IMAGE_LABELS.base]: base };
  let stream: Readable;
  try {
    // version=1: the classic builder (see the top of this file); pull never asked for.
    stream = await dialBuild(docker, context.stream(), { t: tag, dockerfile: "Dockerfile", version: "1", rm: true, forcerm: true, labels });
  } catch (error) {
    throw new RunnerImageError(describeDockerFailure(error, host, "the image build was refused"));
  }
  const progress = createBuildProgress(log);
  try {
    await readJsonLines<BuildMessage>(stream as AsyncIterable<Uint8Array>, (message) => progress.message(message), (line) => log("out", line));
  } catch (error) {
    throw new RunnerImageError(describeDockerFailure(error, host, "the image build broke off"));
  } finally {
    progress.end();
  }
  const failure = progress.failure();
  if (failure) throw new RunnerImageError(buildFailureReason(failure));
  const id = progress.imageId() ?? (await docker.getImage(tag).inspect().then((info) => info.Id, () => undefined));
  if (!id) throw new RunnerImageError("the image build ended without an image (the engine sent no image id)");
  return { id, tag, version };
}

/**
 * Why an image may not serve as the runner image of `version`, or undefined: it must carry
 * the runner label of that version and no pipeline's labels (a pipeline's dockerBuild cannot
 * take the name, but an image built elsewhere could have it).
 */
export function runnerImageProblem(image: string, labels: Record<string, string> | null | undefined, version = GANTRY_VERSION): string | undefined {
  const built = labels?.[RUNNER_IMAGE_LABELS.runner];
  if (built === undefined) return `image ${image} was not made by gantry runner-image (no ${RUNNER_IMAGE_LABELS.runner} label): make it with gantry runner-image`;
  if (labels?.[GANTRY_LABELS.pipeline] !== undefined) return `image ${image} was built by a pipeline, not by gantry runner-image`;
  if (built !== version) return `image ${image} holds gantry ${built}, not ${version}: make this version's with gantry runner-image`;
  return undefined;
}

/**
 * Why run() tasks cannot run in `image` on the server's engine, or undefined when they can: the
 * image is there (nothing pulls it: `gantry runner-image` makes it on the engine) and is this
 * version's runner.
 */
export async function runnerImageOnEngine(docker: Docker, host: string, image: string): Promise<string | undefined> {
  let labels: Record<string, string> | null | undefined;
  try {
    labels = ((await docker.getImage(image).inspect()) as { Config?: { Labels?: Record<string, string> | null } }).Config?.Labels;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) {
      const tag = image === runnerImageTag() ? "" : ` --tag ${image}`;
      return `the runner image ${image} is not on this engine: run \`gantry runner-image${tag}\` (with GANTRY_EXECUTOR=swarm, run() tasks run in it)`;
    }
    return describeDockerFailure(error, host, `inspecting the runner image ${image}`);
  }
  return runnerImageProblem(image, labels);
}
