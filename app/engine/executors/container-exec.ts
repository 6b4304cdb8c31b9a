// Runs a command in a task's running container (Docker's exec), addressed by the attempt's
// stored reference: its output as it comes, input, terminal size and exit code. A TTY session
// is one stream of terminal bytes; without a TTY stdout and stderr come apart and the input can end.
import type Docker from "dockerode";
import type { Duplex } from "node:stream";
import { describeDockerFailure, type DockerConnection } from "./docker-client.ts";
import { envFromLines } from "./container-plan.ts";

/** Docker's stream ids, which the exec protocol keeps: 1 stdout (everything, with a TTY), 2 stderr. */
export type OutputStream = 1 | 2;

export interface ContainerExecOptions {
  command: string[];
  tty: boolean;
  cols?: number;
  rows?: number;
}

export interface ContainerExecSession {
  /** Passes input on; false when the command has left too much unread (the session should end). */
  write(bytes: Uint8Array): boolean;
  /** Stops reading output until resume(): the client reads slower than the command writes. */
  pause(): void;
  resume(): void;
  /** No more input (closes the command's stdin; without a TTY, `cat` then ends). */
  endInput(): void;
  resize(cols: number, rows: number): Promise<void>;
  /** The command's exit code once its output has ended; null when the engine cannot say. */
  exited: Promise<number | null>;
  /** Lets go of the session. Docker cannot stop an exec'd command: it runs on until it ends, or its container does. */
  close(): void;
}

export interface RunningContainer {
  /** The container's environment as it was created (the task's, secrets resolved). */
  env: Record<string, string>;
}

export interface ContainerExec {
  /** The container if it runs; a sentence saying why not otherwise. */
  inspect(ref: string): Promise<RunningContainer | string>;
  /** `output` gets the output as it comes (from the first byte: a shell's prompt comes at once), until `exited` settles. */
  start(ref: string, options: ContainerExecOptions, output: (stream: OutputStream, bytes: Uint8Array) => void): Promise<ContainerExecSession>;
}

/** Input the command has not read yet, past which a session is ended rather than buffered without end. */
const MAX_UNREAD_INPUT = 4 * 1024 * 1024;

/** How long after its output ends a command's exit code is asked for (the engine records it a moment later). */
const EXIT_LOOKS = 20;
const EXIT_LOOK_MS = 50;

export function createContainerExec(connection: DockerConnection): ContainerExec {
  const { docker, host } = connection;
  return {
    async inspect(ref) {
      let info: Docker.ContainerInspectInfo;
      try {
        info = await docker.getContainer(ref).inspect();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return `its container ${ref} is gone`;
        return describeDockerFailure(error, host, `inspecting container ${ref}`);
      }
      if (!info.State.Running) return `its container ${ref} is not running (${info.State.Status})`;
      return { env: envFromLines(info.Config.Env ?? []) };
    },
    async start(ref, options, output) {
      const exec = await docker.getContainer(ref).exec({
        Cmd: options.command,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: options.tty,
      });
      const stream = (await exec.start({ hijack: true, stdin: true, Tty: options.tty })) as Duplex;
      const demux = options.tty ? undefined : createDemuxer(output);
      stream.on("data", (chunk: Buffer) => (demux ? demux(chunk) : output(1, chunk)));
      const ended = new Promise<void>((resolve) => {
        stream.once("end", resolve);
        stream.once("close", resolve);
        stream.once("error", () => resolve());
      });
      const resize = async (cols: number, rows: number) => {
        if (!options.tty) return;
        await exec.resize({ h: rows, w: cols }).catch(() => undefined);
      };
      if (options.cols && options.rows) await resize(options.cols, options.rows);
      const exited = ended.then(async () => {
        for (let look = 0; look < EXIT_LOOKS; look++) {
          const info = await exec.inspect().catch(() => undefined);
          if (!info) return null;
          if (!info.Running) return info.ExitCode ?? null;
          await Bun.sleep(EXIT_LOOK_MS);
        }
        return null;
      });
      return {
        write(bytes) {
          stream.write(bytes);
          return stream.writableLength <= MAX_UNREAD_INPUT;
        },
        pause: () => void stream.pause(),
        resume: () => void stream.resume(),
        endInput: () => void stream.end(),
        resize,
        exited,
        close() {
          // Docker cannot stop an exec'd command; an end-of-input at the terminal at least ends
          // an idle shell, which would otherwise stay in the container.
          if (options.tty && stream.writable) stream.end("\u0004");
          setTimeout(() => stream.destroy(), 100).unref?.();
        },
      };
    },
  };
}

/** Docker's multiplexed output without a TTY: frames of [stream, 0, 0, 0, size (4 bytes, big-endian)] then the bytes. */
function createDemuxer(emit: (stream: OutputStream, bytes: Uint8Array) => void): (chunk: Buffer) => void {
  let buffer: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    while (buffer.length >= 8) {
      const size = buffer.readUInt32BE(4);
      if (buffer.length < 8 + size) break;
      // stdin (0) never comes back; anything but stderr is shown as stdout.
      emit(buffer[0] === 2 ? 2 : 1, buffer.subarray(8, 8 + size));
      buffer = buffer.subarray(8 + size);
    }
  };
}
