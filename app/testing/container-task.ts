// A container task of a test run on the local Docker engine (testRun's `containers: "docker"`),
// through the docker CLI: the image and command, the task's environment (values passed through
// the CLI's own environment, never its arguments), the run's workspace at /workspace, every
// capability dropped but those the task keeps, and its timeout.
import { formatDuration } from "../domain/duration.ts";
import { createLineSplitter } from "../domain/line-splitter.ts";
import type { TaskSpec } from "../domain/pipeline-spec.ts";
import { timedOutReason } from "../domain/states.ts";

const CONTAINER_WORKSPACE = "/workspace";
/** What `docker run` exits with when it could not run the container at all. */
const DOCKER_RUN_FAILED = 125;

interface ContainerOutcome {
  state: "successful" | "failed";
  exitCode: number | null;
  reason: string | null;
}

/** Runs the task's container to its end, its output lines to `write`. */
export async function runContainerTask(task: TaskSpec, env: Record<string, string>, workspace: string, write: (stream: "out" | "err" | "gantry", text: string) => void): Promise<ContainerOutcome> {
  const container = task.container;
  if (!container || container.build || container.push || container.deploy) {
    const what = container?.build ? "an image build" : container?.push ? "an image push" : "a deploy";
    write("gantry", `${what} does not run in a test run: mock it`);
    return { state: "failed", exitCode: null, reason: `${what} does not run in a test run: mock task "${task.id}"` };
  }
  const name = `gantry-test-${task.id}-${crypto.randomUUID().slice(0, 8)}`;
  const workdir = task.workdir ? (task.workdir.startsWith("/") ? task.workdir : `${CONTAINER_WORKSPACE}/${task.workdir}`) : CONTAINER_WORKSPACE;
  const inside = { ...env, GANTRY_WORKSPACE: CONTAINER_WORKSPACE };
  const [entrypoint, ...entryArgs] = container.entrypoint ?? [];
  const args = [
    "docker",
    "run",
    "--rm",
    "--name",
    name,
    "--label",
    "gantry.test=true",
    `--pull=${container.pull === "if-missing" ? "missing" : container.pull}`,
    "--cap-drop=ALL",
    ...container.capabilities.map((capability) => `--cap-add=${capability}`),
    ...(container.network ? [`--network=${container.network}`] : []),
    ...(container.user ? [`--user=${container.user}`] : []),
    "-v",
    `${workspace}:${CONTAINER_WORKSPACE}`,
    "-w",
    workdir,
    ...Object.keys(inside).flatMap((key) => ["-e", key]),
    ...(entrypoint !== undefined ? [`--entrypoint=${entrypoint}`] : []),
    container.image,
    ...entryArgs,
    ...(container.command ?? []),
  ];
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    // The engine Gantry would use (GANTRY_DOCKER_HOST), else the docker CLI's own.
    const dockerHost = process.env.GANTRY_DOCKER_HOST ?? process.env.DOCKER_HOST;
    proc = Bun.spawn(args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(dockerHost && { DOCKER_HOST: dockerHost }), ...inside }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  } catch (error) {
    return { state: "failed", exitCode: null, reason: `docker could not be started: ${(error as Error).message}` };
  }
  const lines = async (stream: ReadableStream<Uint8Array>, to: "out" | "err", seen?: string[]) => {
    const splitter = createLineSplitter((line) => {
      write(to, line);
      seen?.push(line);
    });
    for await (const bytes of stream) splitter.push(bytes);
    splitter.end();
  };
  const stderr: string[] = [];
  let timedOut = false;
  const timer =
    task.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          write("gantry", `timed out after ${formatDuration(task.timeoutMs!)}; stopping`);
          Bun.spawn(["docker", "kill", name], { stdout: "ignore", stderr: "ignore" });
        }, task.timeoutMs);
  const [code] = await Promise.all([proc.exited, lines(proc.stdout as ReadableStream<Uint8Array>, "out"), lines(proc.stderr as ReadableStream<Uint8Array>, "err", stderr)]);
  clearTimeout(timer);
  if (timedOut) return { state: "failed", exitCode: null, reason: timedOutReason(task.timeoutMs!) };
  if (code === 0) return { state: "successful", exitCode: 0, reason: null };
  if (code === DOCKER_RUN_FAILED && stderr.some((line) => line.startsWith("docker:") || line.includes("Error response from daemon"))) {
    return { state: "failed", exitCode: null, reason: `the container could not start: ${stderr.find((line) => line.includes("Error")) ?? stderr.join(" ")}` };
  }
  return { state: "failed", exitCode: code, reason: `exited with code ${code}` };
}
